"""Export stage: the trained network as ``model.onnx`` (float, checked equal to torch) and
``model_int8.onnx`` (post-training int8, calibrated on training batches; ``quant.method=auto`` keeps the
most accurate power-of-two method on held-out or train+val data), with report.json's per-tensor account
of where int8 accuracy goes. With ``quant.qat`` a short quantization-aware fine-tune on the train stage's
fit data follows, after which both are written again (the post-training files are kept in memory, so the
evaluate stage reports both under ``ptq``). Nothing here reads the test split, which the evaluate stage
reads once, at the end.

On NPU devices the input is (N, 1, L, C), scales are powers of two (read back from the int8 file)
and the int8 graph goes through the NPU rule checker.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import quant_pre_process

from ..config import QuantConfig, RunConfig
from ..data.augment import augment, batch_seed
from ..data.datamodule import TimeSeriesDataModule
from ..export.graph_stats import conv_gemm_macs, run_onnx, stored_parameters
from ..export.npu_rules import check_npu_rules
from ..export.onnx_graph import export_float, to_onnx_layout
from ..export.pow2 import read_scales
from ..export.pow2_calibration import METHODS
from ..export.qat import qat_finetune
from ..export.quantize import check_node_names, choose_variant, quantize_variants, save_int8
from ..export.sensitivity import layer_sensitivity, tensor_values
from ..search_space.architecture import Architecture, build_net
from ..search_space.layout import NetShape
from ..summary import layer_table
from .train import Trained

JUDGE_MAX = 1000  # series the int8 method is judged on (every k-th beyond): bounds the per-tensor table's cost
TB_ROWS = 12
TB_HISTOGRAMS = 4  # lowest-SQNR tensors whose float and int8 values go to TensorBoard as histograms


@dataclass
class Exported:
    float_path: Path
    int8_path: Path
    npu: bool  # input layout (N, 1, L, C) and power-of-two scales
    info: dict  # report.json's "export" block, before the test figures join it
    quant: dict  # report.json's "quant" block: the int8 method chosen, those tried, the per-tensor table
    ptq: dict[str, bytes] | None = None  # with QAT: the post-training float and int8 files it replaced


def judge_data(data: TimeSeriesDataModule, npu: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """What the int8 method is chosen on, and the per-tensor table measured on: the validation split when
    the retrain held it out, else train+val (never the test split); every k-th series beyond JUDGE_MAX."""
    held_out = data.phase == "train"
    x, y = data.tensors["val"] if held_out else data.fit_tensors()
    step = -(-len(y) // JUDGE_MAX)
    x, y = x[::step], y[::step]
    return to_onnx_layout(x, npu), y.numpy(), f"{'val' if held_out else 'train+val'}, {len(y)} series"


def int8_variants(float_path: Path, calibration: list[np.ndarray], q: QuantConfig, npu: bool, grid: dict | None = None):
    """(Each ``quant.method`` tried -> its int8 graph, the prepared float graph); the input keeps the scale of
    the grid the data were snapped to (``grid``: splits.info["input_grid"], ``data.input_grid``), if any."""
    percentile = q.percentile if q.calibration == "percentile" else None
    return quantize_variants(float_path, calibration, npu, percentile, METHODS if q.method == "auto" else (q.method,),
                             (grid or {}).get("scale"), tuple(q.float_layers))


def check_float_layers(cfg: RunConfig, arch: Architecture, shape: NetShape) -> None:
    """A misspelt ``quant.float_layers`` refused before the retrain rather than after it: the names are
    looked up in the untrained network's graph, which names its nodes as the trained one's will."""
    with tempfile.TemporaryDirectory() as tmp:
        path, prepared = Path(tmp) / "untrained.onnx", Path(tmp) / "prepared.onnx"
        export_float(build_net(arch, shape).eval(), path, cfg.export.opset, {}, variables_as_width=cfg.device.has_npu)
        quant_pre_process(str(path), str(prepared))
        check_node_names(onnx.load(str(prepared)), tuple(cfg.quant.float_layers))


def float_layers_cost(float_path: Path, calibration: list[np.ndarray], q: QuantConfig, kept: onnx.ModelProto,
                      acc: float, x: np.ndarray, y: np.ndarray) -> dict:
    """What keeping ``quant.float_layers`` in float costs and buys: the extra bytes of their weights as float32
    rather than int8 (3 per weight; the layers also run on the CPU, which the latency estimate does not know),
    and the accuracy of this graph and of the all-int8 one on the data the int8 method is judged on."""
    everything = next(iter(int8_variants(float_path, calibration, replace(q, float_layers=[]), False)[0].values()))
    all_int8_acc = float((run_onnx(everything.SerializeToString(), x).argmax(1) == y).mean())
    sizes = {i.name: int(np.prod(i.dims)) for i in kept.graph.initializer}
    weights = sum(sizes.get(n.input[1], 0) for n in kept.graph.node if n.name in q.float_layers and len(n.input) > 1)
    return {"nodes": list(q.float_layers), "extra_bytes": 3 * weights, "acc_judged": acc,
            "acc_judged_all_int8": all_int8_acc}


def _write_both(net, cfg: RunConfig, trained: Trained, out_dir: Path, metadata: dict,
                account: bool = True) -> tuple[dict, dict, dict]:
    """Float ONNX (equal to torch on the calibration batches) and its int8 quantization: report.json's
    export figures, its "quant" block and the lowest-SQNR tensors' float and int8 values (the per-tensor
    table and values unless ``account`` is off: files a QAT fine-tune will replace)."""
    npu, e = cfg.device.has_npu, cfg.export
    float_path, int8_path = out_dir / "model.onnx", out_dir / "model_int8.onnx"
    twin = export_float(net, float_path, e.opset, metadata, variables_as_width=npu)
    calibration = [to_onnx_layout(b, npu) for b in trained.data.calibration_batches(e.calibration_batches)]
    x = np.concatenate(calibration)
    with torch.no_grad():
        torch_logits = twin(torch.from_numpy(x)).numpy()
    max_diff = float(np.abs(run_onnx(float_path, x) - torch_logits).max())
    # relative to the logits' size (at least 1): folding BN reorders float sums, so deep nets with
    # large logits differ by ~1e-4 of their magnitude without being wrong
    rel_diff = max_diff / max(1.0, float(np.abs(torch_logits).max()))
    if rel_diff > e.tolerance:
        raise RuntimeError(f"float ONNX differs from torch by {rel_diff:.2e} (relative) > export.tolerance={e.tolerance}")
    grid = trained.data.splits.info.get("input_grid")
    variants, float_model = int8_variants(float_path, calibration, cfg.quant, npu, grid)
    x_judge, y_judge, judged_on = judge_data(trained.data, npu)
    chosen, tried = choose_variant(variants, float_model, x_judge, y_judge)
    save_int8(variants[chosen], int8_path, metadata)
    quant = {"method": chosen, "judged_on": judged_on, "methods": tried}
    if cfg.quant.float_layers:
        quant["float_layers"] = float_layers_cost(float_path, calibration, cfg.quant, variants[chosen],
                                                  tried[chosen]["acc"], x_judge, y_judge)
    values = {}
    if account:
        quant["layers"] = layer_sensitivity(variants[chosen], float_model, x_judge, y_judge)
        worst = sorted((r for r in quant["layers"] if r["sqnr_db"] is not None), key=lambda r: r["sqnr_db"])
        values = tensor_values(variants[chosen], float_model, x_judge, [r["tensor"] for r in worst[:TB_HISTOGRAMS]])
    return {"float_onnx_max_abs_diff": max_diff, "float_onnx_max_rel_diff": rel_diff}, quant, values


def _log_layers(trained: Trained, quant: dict, values: dict) -> None:
    """The per-tensor table as TensorBoard text, and the worst tensors' float and int8 values as
    histograms (``quant/float/<tensor>``, ``quant/int8/<tensor>``), beside the retrain's curves."""
    for logger in trained.trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_text"):
            experiment.add_text("quant/layers", "\n".join(layer_table(quant["layers"], TB_ROWS)), 0)
        if hasattr(experiment, "add_histogram"):
            for tensor, (real, rounded) in values.items():
                experiment.add_histogram(f"quant/float/{tensor}", real.ravel(), 0)
                experiment.add_histogram(f"quant/int8/{tensor}", rounded.ravel(), 0)


def _qat(cfg: RunConfig, trained: Trained):
    module, q = trained.module, cfg.quant
    return qat_finetune(module.net, trained.data.fit_tensors(), q.qat_steps, q.qat_lr, pow2=cfg.device.has_npu,
                        batch_size=cfg.data.batch_size, seed=cfg.seed,
                        augment_batch=lambda x, step: augment(x, module.augment, batch_seed(cfg.seed, step)),
                        label_smoothing=module.cfg.label_smoothing)


def export_stage(cfg: RunConfig, trained: Trained, arch: Architecture, out_dir: Path) -> Exported:
    npu = cfg.device.has_npu
    metadata = {"class_names": trained.data.splits.class_names, "preprocessing": trained.data.splits.info,
                "genotype": arch.to_json(), "device": cfg.device.name,
                "input_layout": "N,1,L,C" if npu else "N,C,L,1", "quantization": "pow2" if npu else "qdq-int8"}
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    info, quant, values = _write_both(trained.module.net, cfg, trained, out_dir, metadata, account=not cfg.quant.qat)
    exported = Exported(out_dir / "model.onnx", out_dir / "model_int8.onnx", npu, info, quant)
    if cfg.quant.qat:
        exported.ptq = {"float": exported.float_path.read_bytes(), "int8": exported.int8_path.read_bytes()}
        net, qat = _qat(cfg, trained)
        info, exported.quant, values = _write_both(net, cfg, trained, out_dir, metadata)
        exported.info = {**info, "ptq": exported.info, "qat": qat}
    _log_layers(trained, exported.quant, values)
    info = exported.info
    graph, int8 = onnx.load(str(exported.float_path)), onnx.load(str(exported.int8_path))
    scales = read_scales(int8)
    scheme = ("power-of-two scales: per-channel symmetric int8 weights, per-tensor symmetric int8 activations, "
              "int32 biases" if npu else "onnxruntime QDQ: per-channel symmetric int8 weights, "
              "per-tensor asymmetric int8 activations, int32 biases")
    info.update({
        "quant": {"scheme": scheme, **{k: len(v) if isinstance(v, list) else v for k, v in scales.items()}},
        "onnx_params": stored_parameters(graph), "onnx_macs": conv_gemm_macs(graph),
        "model_onnx_bytes": os.path.getsize(exported.float_path),
        "model_int8_onnx_bytes": os.path.getsize(exported.int8_path),
    })
    if npu:
        rules = check_npu_rules(int8)
        off_scheme = scales["non_pow2"] + scales["nonzero_zero_points"] + scales["bias_over_24_bit"]
        rules["violations"] += [{"node": name, "op": "QuantizeLinear/DequantizeLinear", "rule": "NPU quantization",
                                 "detail": "not a power-of-two scale, zero point 0 or 24-bit bias"}
                                for name in off_scheme]
        info["npu_rules"] = rules
    return exported
