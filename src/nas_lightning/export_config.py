"""Schema of the ``export`` and ``quant`` config sections: how the retrained network becomes float and int8
ONNX (and C), checked in each dataclass's ``__post_init__``. Kept beside config.py, which composes them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config_checks import at_least
from .errors import UserInputError

OPSETS = range(13, 21)  # 13: onnxruntime's per-channel QDQ needs it; 20: torch's TorchScript exporter's highest


POW2_METHODS = ("ceil", "mse", "mse_bias", "output")  # export/pow2_calibration.py
QUANT_METHODS = ("auto", *POW2_METHODS)


@dataclass
class ExportConfig:
    opset: int = 17
    calibration_batches: int = 8
    tolerance: float = 1e-4  # max |float ONNX - torch| on logits / max(1, largest |logit|)
    c: bool = True  # model_c/: C99 int8 inference from model_int8.onnx, checked against onnxruntime (export/c_*.py)

    def __post_init__(self) -> None:
        if not isinstance(self.c, bool):
            raise UserInputError(f"export.c={self.c}: allowed values are true, false")
        at_least("export.calibration_batches", self.calibration_batches, 1)
        if self.opset not in OPSETS:
            raise UserInputError(f"export.opset={self.opset}: allowed values are {OPSETS.start} to {OPSETS.stop - 1}")
        if self.tolerance <= 0:
            raise UserInputError(f"export.tolerance={self.tolerance}: must be > 0")


@dataclass
class QuantConfig:
    """int8 export. ``method`` (NPU devices: how each power-of-two scale is picked, export/
    pow2_calibration.py): ``ceil`` rounds the calibrated range up, ``mse`` takes the power of two with the
    least squared error, ``mse_bias`` adds bias correction, ``output`` picks each activation's power of
    two by the whole network's output error, ``auto`` writes all four and keeps the most accurate on
    held-out or train+val data (never the test split); devices without an NPU keep
    onnxruntime's own scales. ``calibration``: activation ranges from the ``percentile`` of |x| or the maximum
    (``minmax``), see export/quantize.py. ``qat``: after post-training quantization, fine-tune the
    retrained network with fake quantization for ``qat_steps`` batches at ``qat_lr`` (export/qat.py) and
    export again; the post-training figures stay in the report under ``ptq``. ``max_drop``: an int8
    test-accuracy loss above it is flagged in the summary."""

    method: str = "ceil"  # auto did not beat it across 5 measured runs (docs/design_log.md, int8 methods)
    calibration: str = "percentile"
    percentile: float = 99.9
    qat: bool = False
    qat_steps: int = 300
    qat_lr: float = 1e-4
    max_drop: float = 0.01
    float_layers: list[str] = field(default_factory=list)  # nodes left in float (devices without NPU only)

    def __post_init__(self) -> None:
        at_least("quant.qat_steps", self.qat_steps, 1)
        if self.method not in QUANT_METHODS:
            raise UserInputError(f"quant.method={self.method}: allowed values are {', '.join(QUANT_METHODS)}")
        if self.calibration not in ("percentile", "minmax"):
            raise UserInputError(f"quant.calibration={self.calibration}: allowed values are percentile, minmax")
        if not 50 < self.percentile <= 100:
            raise UserInputError(f"quant.percentile={self.percentile}: must be in (50, 100]")
        at_least("quant.max_drop", self.max_drop, 0.0)
        if self.qat_lr <= 0:
            raise UserInputError(f"quant.qat_lr={self.qat_lr}: must be > 0")
