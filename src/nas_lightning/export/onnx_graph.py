"""Float ONNX in TI's layout: input (N, C, L, 1), (k, 1) Conv/Pool kernels, BN folded by the exporter.

Exported with the TorchScript exporter (``dynamo=False``, explicit opset) from the 2-D twin of the
trained network in eval mode; the batch axis is the only dynamic one. ``variables_as_width`` (NPU
devices) exports the input as (N, 1, L, C) instead, see ``network.py``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from torch import nn

from ..atomic_files import write_atomically

INPUT, OUTPUT = "input", "logits"


def export_float(net: nn.Module, path: Path, opset: int, metadata: dict[str, str], variables_as_width: bool = False) -> nn.Module:
    """Writes ``path`` from a trained 1-D network (``FixedNet`` or ``ChainNet``); returns the 2-D twin
    that was exported (eval mode)."""
    twin = net.twin(variables_as_width)
    example = torch.from_numpy(to_onnx_layout(torch.zeros(1, net.shape.channels, net.shape.length), variables_as_width))
    exported = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            twin, (example,), exported, dynamo=False, opset_version=opset,
            input_names=[INPUT], output_names=[OUTPUT], dynamic_axes={INPUT: {0: "N"}, OUTPUT: {0: "N"}},
            do_constant_folding=True,
        )
    model = onnx.load_from_string(exported.getvalue())
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    write_atomically(path, model.SerializeToString())
    return twin


def to_onnx_layout(x: torch.Tensor | np.ndarray, variables_as_width: bool = False) -> np.ndarray:
    """(N, C, L) training tensors → (N, C, L, 1), or (N, 1, L, C), float32 arrays for the ONNX graph."""
    x = x.numpy() if isinstance(x, torch.Tensor) else x
    x = x.transpose(0, 2, 1)[:, None] if variables_as_width else x[..., None]
    return np.ascontiguousarray(x, dtype=np.float32)
