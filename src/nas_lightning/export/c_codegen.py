"""``model_c/``: the lowered int8 program (``c_lower.py``) as standalone C99.

``model.h``/``model.c`` use only ``<stdint.h>`` and ``<string.h>``, no heap: weights, biases, shifts and
layer geometry are ``const`` arrays, every activation lives in one static arena whose offsets come from a
liveness plan over the program's steps (a buffer lives from the step that writes it to the last step that
reads it, the input buffer from the start, the logits to the end; first fit, in execution order).
``nl_predict`` standardises the raw input with the run's mean and std (double, as the pipeline does),
quantizes it like the graph's first QuantizeLinear, runs the steps and returns the arg-max class (the
first on ties, as numpy's argmax). ``main.c`` and ``Makefile`` build a host harness around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .c_lower import NotLowerable, Program, lower, normalisation

KERNEL_SECTION = {"Conv": "Conv", "Gemm": "Gemm", "MaxPool": "pool", "AveragePool": "pool",
                  "GlobalAveragePool": "GlobalAveragePool", "Rescale": "Rescale", "Add": "Add", "Concat": "Concat"}
UINT16_MAX = 65535


@dataclass
class ArenaPlan:
    offsets: list[int]  # per buffer
    arena_bytes: int  # first-fit arena size
    peak_live_bytes: int  # the most bytes alive at once (the arena can be no smaller)


INPLACE = ("Rescale", "Add")  # element-wise: may write over an input that no later step reads


def _first_fit(order: list[int], sizes: list[int], birth: dict, death: dict) -> list[int]:
    """Each buffer of ``order`` in turn at the lowest offset free over its lifetime."""
    offsets = [0] * len(sizes)
    placed: list[int] = []
    for b in order:
        live = sorted((offsets[o], offsets[o] + sizes[o]) for o in placed
                      if birth[o] <= death[b] and birth[b] <= death[o])
        offset = 0
        for start, end in live:
            if offset + sizes[b] <= start:
                break
            offset = max(offset, end)
        offsets[b] = offset
        placed.append(b)
    return offsets


def plan_arena(program: Program) -> ArenaPlan:
    steps, sizes = program.steps, program.sizes
    home = list(range(len(sizes)))  # an in-place step's output shares its input's buffer
    last_read = {b: i for i, s in enumerate(steps) for b in s.inputs}
    for i, s in enumerate(steps):
        if s.op in INPLACE and last_read.get(s.inputs[0]) == i and s.inputs[0] != program.input_buffer:
            home[s.output] = home[s.inputs[0]]
    birth = {home[program.input_buffer]: -1}
    for i, s in enumerate(steps):
        birth.setdefault(home[s.output], i)
    death = dict(birth)
    for i, s in enumerate(steps):
        for b in s.inputs + [s.output]:
            death[home[b]] = max(death[home[b]], i)
    death[home[program.output_buffer]] = len(steps)
    # two orders, the smaller arena kept: largest first (TFLite Micro's greedy planner), execution order
    plans = [_first_fit(sorted(birth, key=key), sizes, birth, death)
             for key in (lambda b: (-sizes[b], birth[b]), lambda b: birth[b])]
    ends = [max(o[b] + sizes[b] for b in birth) for o in plans]
    best = plans[ends.index(min(ends))]
    peak = max(sum(sizes[b] for b in birth if birth[b] <= t <= death[b]) for t in range(-1, len(steps) + 1))
    return ArenaPlan([best[home[b]] for b in range(len(sizes))], min(ends), peak)


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("c_templates", name).read_text()


def kernel_source(ops: set[str]) -> str:
    """The common helpers and the sections of ``kernels.c`` that ``ops`` need (unused static functions
    would fail ``-Wall -Werror``)."""
    sections: dict[str, str] = {}
    for chunk in _template("kernels.c").split("/*@ ")[1:]:
        name, body = chunk.split(" */", 1)
        sections[name] = body.strip("\n")
    wanted = ["common"] + [s for s in sections if s in {KERNEL_SECTION[o] for o in ops}]
    return "\n\n".join(sections[s] for s in wanted)


def _array(ctype: str, name: str, values) -> str:
    flat = [int(v) for v in np.asarray(values).ravel()]
    rows = [", ".join(map(str, flat[i:i + 24])) for i in range(0, len(flat), 24)]
    return f"static const {ctype} {name}[{len(flat)}] = {{\n    " + ",\n    ".join(rows) + "\n};"


def _geometry(name: str, values: list[int], what: str) -> str:
    if max(values) > UINT16_MAX:
        raise NotLowerable(f"{what}: a dimension over {UINT16_MAX} does not fit the kernels' uint16 geometry")
    return _array("uint16_t", name, values)


def _step_code(i: int, step, size: int, buf: dict[int, str]) -> tuple[list[str], str]:
    """(const arrays, the call) of one step writing ``size`` values."""
    p, ins, out = step.params, [buf[b] for b in step.inputs], buf[step.output]
    x = ins[0]
    if step.op in ("Conv", "Gemm"):
        arrays = [_array("int8_t", f"nl_w{i}", p["weights"]), _array("int32_t", f"nl_b{i}", p["bias"]),
                  _array("int8_t", f"nl_s{i}", p["shifts"])]
        if step.op == "Conv":
            arrays.append(_geometry(f"nl_g{i}", p["geometry"], f"step {i}"))
            return arrays, f"nl_conv({x}, {out}, nl_w{i}, nl_b{i}, nl_s{i}, nl_g{i}, {p['relu']});"
        return arrays, f"nl_gemm({x}, {out}, nl_w{i}, nl_b{i}, nl_s{i}, {p['k']}u, {p['n']}u, {p['relu']});"
    if step.op in ("MaxPool", "AveragePool"):
        average = int(step.op == "AveragePool")
        return ([_geometry(f"nl_g{i}", p["geometry"], f"step {i}")],
                f"nl_pool({x}, {out}, nl_g{i}, {p['shift']}, {average});")
    if step.op == "GlobalAveragePool":
        return [], f"nl_global_pool({x}, {out}, {p['channels']}u, {p['size']}u, {p['mantissa']}, {p['exp']});"
    if step.op == "Rescale":
        return [], f"nl_rescale({x}, {out}, {size}u, {p['shift']}, {p['relu']});"
    if step.op == "Add":
        return [], f"nl_add({x}, {ins[1]}, {out}, {size}u, {p['shift_a']}, {p['shift_b']});"
    total, offset, calls = sum(p["inner"]), 0, []
    for src, inner, shift in zip(ins, p["inner"], p["shifts"]):
        calls.append(f"nl_concat_part({src}, {out}, {p['outer']}u, {inner}u, {total}u, {offset}u, {shift});")
        offset += inner
    return [], "\n    ".join(calls)


def _input_loop(program: Program, channels: int) -> str:
    c_in, h, w = (program.input_shape + [1, 1])[:3]
    length = c_in * h * w // channels
    npu = program.metadata.get("input_layout") == "N,1,L,C" and channels > 1
    index = "l * NL_CHANNELS + c" if npu else "c * NL_LENGTH + l"
    if length * channels != program.sizes[program.input_buffer]:
        raise NotLowerable(f"the normalisation has {channels} channels, the ONNX input {program.input_shape}")
    return (f"    for (c = 0; c < NL_CHANNELS; c++) {{\n        for (l = 0; l < NL_LENGTH; l++) {{\n"
            f"            const double z = ((double)raw[c * NL_LENGTH + l] - nl_mean[c]) / nl_std[c];\n"
            f"            in[{index}] = nl_quantize((float)z, nl_inv_input_scale);\n        }}\n    }}"), length


def generate(program: Program, plan: ArenaPlan) -> dict[str, str]:
    """File name -> text of model.h, model.c, main.c and Makefile."""
    mean, std = normalisation(program)
    channels = len(mean)
    loop, length = _input_loop(program, channels)
    arrays, calls = [], []
    buf = {b: f"(nl_arena + {plan.offsets[b]})" for b in range(len(program.sizes))}
    for i, step in enumerate(program.steps):
        step_arrays, call = _step_code(i, step, program.sizes[step.output], buf)
        arrays += step_arrays
        calls.append(f"    {call}")
    header = (f"/* Generated by nas-lightning from model_int8.onnx: int8 inference, no heap. */\n"
              f"#ifndef NL_MODEL_H\n#define NL_MODEL_H\n#include <stdint.h>\n\n"
              f"#define NL_CHANNELS {channels}\n#define NL_LENGTH {length}\n#define NL_CLASSES {program.classes}\n"
              f"#define NL_ARENA_BYTES {plan.arena_bytes}\n"
              f"/* logit k is logits[k] * 2^({program.output_exp}) */\n#define NL_LOGIT_EXP ({program.output_exp})\n\n"
              f"/* raw: NL_CHANNELS x NL_LENGTH floats, channel-major, before standardisation; writes the\n"
              f"   NL_CLASSES int8 logits and returns the class index (the first largest logit) */\n"
              f"int nl_predict(const float *raw, int8_t *logits);\n\n#endif\n")
    doubles = lambda xs: ", ".join(float(x).hex() for x in xs)  # noqa: E731 - exact, unlike decimal
    source = "\n".join([
        "/* Generated by nas-lightning from model_int8.onnx (power-of-two int8 QDQ): see model.h. */",
        '#include <stdint.h>\n#include <string.h>\n#include "model.h"\n',
        kernel_source({s.op for s in program.steps}), "",
        f"static const double nl_mean[NL_CHANNELS] = {{{doubles(mean)}}};",
        f"static const double nl_std[NL_CHANNELS] = {{{doubles(std)}}};",
        f"static const float nl_inv_input_scale = {float(2.0 ** -program.input_exp).hex()}f;",
        *arrays, "", "static int8_t nl_arena[NL_ARENA_BYTES];", "",
        "int nl_predict(const float *raw, int8_t *logits)\n{",
        f"    int8_t *const in = nl_arena + {plan.offsets[program.input_buffer]};",
        "    unsigned c, l;\n    int k, best = 0;", loop, *calls,
        f"    memcpy(logits, nl_arena + {plan.offsets[program.output_buffer]}, NL_CLASSES);",
        "    for (k = 1; k < NL_CLASSES; k++) {\n        if (logits[k] > logits[best]) {\n            best = k;\n"
        "        }\n    }\n    return best;\n}\n"])
    return {"model.h": header, "model.c": source, "main.c": _template("main.c"), "Makefile": _template("Makefile")}


def write_model_c(int8_path: Path, out_dir: Path):
    """Writes ``out_dir`` (model_c/) from the int8 ONNX file; returns (program, arena plan).
    ``NotLowerable`` when the graph is outside the power-of-two scheme."""
    import onnx

    program = lower(onnx.load(str(int8_path)))
    plan = plan_arena(program)
    files = generate(program, plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text)
    return program, plan
