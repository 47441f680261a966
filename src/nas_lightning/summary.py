"""The few lines a user reads at the end of a run."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from .atomic_files import write_atomically
from .data.splits import grid_name


log = logging.getLogger(__name__)
STILL_ALPHAS = 0.05  # an entropy drop below this share means the search did not decide anything
CHANCE_MARGIN = 0.05  # a test accuracy within this of 1 / classes is a failure to learn (exit 4)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def fit_line(device: dict, memory: dict) -> str:
    """``fits F28P55: flash 23.1/512 KB, SRAM 9.8/128 KB, NPU rules OK``."""
    def part(label: str, used: float, limit) -> str:
        return f"{label} {used:.1f}/{limit:g} KB" if limit is not None else f"{label} {used:.1f} KB (no limit)"

    head = "fits" if device["ok"] else "does NOT fit"
    used = device.get("measured") or {"flash_bytes": memory["flash_kb"] * 1024, "sram_bytes": memory["sram_kb"] * 1024}
    parts = [part("flash", used["flash_bytes"] / 1024, device["flash_kb"]),
             part("SRAM", used["sram_bytes"] / 1024, device["sram_kb"])]
    if "measured" in device:
        parts[-1] += " (measured: the C build)"
    if "npu" in device:
        n = device["npu"]
        rules = "NPU rules OK" if not n["violations"] else f"NPU rules BROKEN ({len(n['violations'])} violations)"
        if n["warnings"]:  # named and grouped: "10 warnings" alone tells a user nothing
            groups = Counter(f"{w['op']} {w['rule']}" for w in n["warnings"])
            rules += ", warnings: " + "; ".join(f"{text} (x{count})" for text, count in groups.items())
        parts.append(rules)
    return f"{head} {device['name']}: " + ", ".join(parts)


def c_line(c: dict) -> str:
    """``C: model_c/ bit-exact on 150 test series (int8 acc 100.0%), arena 2.5 KB``, or why not."""
    if not c["written"]:
        return f"C: not written ({c['skipped']})"
    if "bit_exact" not in c:
        return f"C: model_c/ written, arena {c['arena_bytes'] / 1024:.1f} KB; check {c['check']}"
    verdict = "bit-exact on" if c["bit_exact"] else f"DIFFERS from onnxruntime on {c['samples_differing']} of"
    return (f"C: model_c/ {verdict} {c['samples_compared']} test series (int8 acc {_pct(c['test_acc_c'])}), "
            f"arena {c['arena_bytes'] / 1024:.1f} KB")


def input_grid_line(grid: dict) -> str:
    """The int8 grid the input was snapped to, and how (data.input_grid=auto: stages/input_grid.py)."""
    scored = [r for r in grid["candidates"] if r["cv_mean"] is not None]
    how = ("chosen by CV: " + ", ".join(f"{grid_name(r['scale'])} {_pct(r['cv_mean'])}" for r in scored)) if scored \
        else grid["chosen_by"]
    return f"input grid: {grid_name(grid['scale'])} (clip ±{grid['clip']:.2f}), {how}"


def select_lines(select: dict) -> list[str]:
    """The select stage's table: every candidate, its size and CV accuracy, the chosen one marked."""
    if "skipped" in select:
        return [f"  select: skipped ({select['skipped']})"]
    tolerance = _pct(select["tolerance"])
    rule = {"tolerance": f"within {tolerance} of the best", "one_se": "within one standard error of the best",
            "paired_se": f"within {tolerance} + the standard error of its fold-by-fold gap to the best"}[select["rule"]]
    lines = [f"  select: {select['folds']}-fold CV x {select['repeats']} on train+val, the smallest {rule} "
             f"({select['best']}, decided at rung {select['decided_at_rung']}); {select['seconds']:.0f} s"
             + (" (stopped by select.max_minutes)" if select["stopped_by_time_cap"] else "")]
    for c in select["candidates"]:
        cv = "not scored" if c["cv_mean"] is None else f"CV {_pct(c['cv_mean'])} ± {_pct(c['cv_sd'])} (rung {c['rung']})"
        cv += "" if c["bar"] is None else f", bar {_pct(c['bar'])}"
        mark = "  <- chosen" if c["chosen"] else ""
        lines.append(f"    {c['name']:<14} {c['origin']:<9} {c['params_deployed']:>7,} params {c['macs']:>11,} MACs "
                     f"{c['flash_kb']:6.1f} KB  {cv}{mark}")
    return lines


def _retrain_length(t: dict) -> str:
    if t.get("schedule") != "plateau":
        return f"{t['steps']} steps ({t['epochs']} epochs)"
    why = (f"training loss flat from step {t['plateau_step']}, then decay" if t["plateau_step"] is not None
           else "no plateau before the cap")
    return f"{t['steps_done']} of at most {t['steps']} steps ({t['epochs_done']} of {t['epochs']} epochs; {why})"


def print_summary(report: dict, out_dir: Path) -> None:
    """Log the summary (console and run log) and keep it as ``summary.txt`` in the run directory."""
    model, lines = report["model"], []
    lines.append(f"nas-lightning: preset={report['preset']} mode={report['mode']} device={report['device']['name']} seed={report['seed']}")
    if "search" in report:
        s = report["search"]
        lines.append(f"  search: {s['steps']} steps ({s['alpha_steps']} architecture steps, {s['epochs']} epochs), "
                     f"kept epoch {s['best_epoch']}, supernet val acc {_pct(s['val_acc'])}")
        drops = {t: e["drop"] for t, e in s["alpha_entropy"].items()}
        lines.append("  alphas: entropy fell " + ", ".join(f"{_pct(d)} ({t})" for t, d in drops.items()))
        if min(drops.values()) < STILL_ALPHAS:
            lines.append(f"  WARNING: the alphas barely moved (entropy fell < {_pct(STILL_ALPHAS)}): the genotype is "
                         "close to a random pick; raise search.steps or search.alpha_lr")
        if report["search"].get("budget_repairs"):
            lines.append(f"  over the device's flash, stepped down: {'; '.join(report['search']['budget_repairs'])}")
    if "select" in report:
        lines += select_lines(report["select"])
    lines.append(
        f"  model: {model['params_deployed']:,} params deployed (BN folded; {model['params_trained']:,} trained), "
        f"{model['macs']:,} MACs"
    )
    if "train" in report:
        t = report["train"]
        val = f"val acc {_pct(t['val_acc'])}" if t["val_acc"] is not None else "no held-out val"
        lines.append(f"  retrain: {_retrain_length(t)} on {t['fit_on']}, {val}, test acc {_pct(t['test_acc'])}")
        if not t["learned"]:
            chance = 1 / len(report["data"]["classes"])
            lines.append(f"  FAILED TO LEARN: test accuracy within {100 * CHANCE_MARGIN:.0f} pt of chance ({_pct(chance)}); the model is not "
                         "worth deploying (exit 4): check the data and labels, or raise train.steps")
    if "export" in report:
        e = report["export"]
        lines.append(
            f"  onnx: test acc float {_pct(e['test_acc_onnx_float'])}, int8 {_pct(e['test_acc_onnx_int8'])}; "
            f"model_int8.onnx {e['model_int8_onnx_bytes'] / 1024:.1f} KB"
        )
        if report.get("input_grid", {}).get("scale"):
            lines.append(f"  {input_grid_line(report['input_grid'])}")
        after_qat = "" if "qat" not in e else "; after a quantization-aware fine-tune"
        lines.append(f"  int8: {e['quant']['scheme']}{after_qat}")
        if "quant" in report:
            lines += quant_lines(report["quant"])
        if "ptq" in e:
            lines.append(f"  int8 before fine-tune: float {_pct(e['ptq']['test_acc_onnx_float'])}, int8 {_pct(e['ptq']['test_acc_onnx_int8'])}")
        if "c" in e:
            lines.append(f"  {c_line(e['c'])}")
        if e["int8_drop"] > report["config"]["quant"]["max_drop"]:
            advice = "" if "qat" in e else ": quant.qat=true runs a quantization-aware fine-tune"
            lines.append(f"  WARNING: int8 loses {100 * e['int8_drop']:.1f} pt of test accuracy{advice}")
    lines.append(f"  {fit_line(report['device'], report['memory'])}")
    if report["device"].get("latency_us") is not None:
        lines.append(f"  latency: {report['device']['latency_us']:,.0f} us per inference, estimated: "
                     f"{report['device']['latency_basis']}")
    for item in report["device"].get("npu", {}).get("violations", []):
        lines.append(f"    NPU rule broken: {item['node']} ({item['op']}): {item['rule']}, {item['detail']}")
    seconds = report["seconds"]
    lines.append(f"  time: {seconds['total']:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in seconds.items() if k != 'total')})")
    write_atomically(out_dir / "summary.txt", "\n".join(lines) + "\n")
    lines.append(f"  run directory: {out_dir}")
    log.info("\n".join(lines))


SUMMARY_LAYERS = 6


def layer_table(rows: list[dict], limit: int) -> list[str]:
    """The ``limit`` quantized tensors with the lowest SQNR (exact ones last), as a markdown table."""
    def db(r: dict) -> float:
        return float("inf") if r["sqnr_db"] is None else r["sqnr_db"]

    return ["| tensor | kind | SQNR dB | acc alone | agreement alone |", "| --- | --- | --- | --- | --- |"] + [
        f"| {r['tensor']} | {r['kind']} | {db(r):.1f} | {_pct(r['acc_alone'])} | {_pct(r['agreement_alone'])} |"
        for r in sorted(rows, key=db)[:limit]]


def quant_lines(quant: dict) -> list[str]:
    """The int8 method chosen and why, and where the int8 error comes from."""
    tried = ", ".join(f"{m} {_pct(f['acc'])}" for m, f in quant["methods"].items())
    how = "chosen on" if len(quant["methods"]) > 1 else "measured on"
    return [f"  int8 method: {quant['method']}, {how} {quant['judged_on']} (int8 accuracy there: {tried})",
            f"  int8 per tensor, lowest SQNR of {len(quant['layers'])} first (alone: only that tensor quantized, "
            f"on {quant['judged_on'].split(',')[0]}):",
            *(f"    {line}" for line in layer_table(quant["layers"], SUMMARY_LAYERS)),
            *([float_layers_line(quant)] if "float_layers" in quant else [])]


def float_layers_line(quant: dict) -> str:
    f = quant["float_layers"]
    return (f"  kept in float: {', '.join(f['nodes'])} (+{f['extra_bytes']:,} bytes); int8 accuracy on "
            f"{quant['judged_on'].split(',')[0]} {_pct(f['acc_judged'])}, all int8 {_pct(f['acc_judged_all_int8'])}")
