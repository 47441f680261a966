"""The run as its stages: search → train → export → evaluate. The test split is read once, by the
evaluate stage, after every fit and the quantization-aware fine-tune have finished."""

import lightning as L

from nas_lightning.config import validate
from nas_lightning.config_files import compose_config
from nas_lightning.data.datamodule import TimeSeriesDataModule
from nas_lightning.pipeline import run
from nas_lightning.stages import export as export_stage_module

from conftest import TINY


class ReadLog(dict):
    """The datamodule's split tensors, logging every read of the test split."""

    def __init__(self, tensors: dict, events: list[str]):
        super().__init__(tensors)
        self.events = events

    def __getitem__(self, split):
        if split == "test":
            self.events.append("test read")
        return super().__getitem__(split)


def test_test_split_is_read_only_after_every_decision(tmp_path, monkeypatch):
    events: list[str] = []
    make_datamodule, fit, qat = TimeSeriesDataModule.__init__, L.Trainer.fit, export_stage_module.qat_finetune

    def logged_datamodule(self, *args, **kwargs):
        make_datamodule(self, *args, **kwargs)
        self.tensors = ReadLog(self.tensors, events)

    def logged_fit(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        events.append("fit")

    def logged_qat(*args, **kwargs):
        result = qat(*args, **kwargs)
        events.append("qat")
        return result

    monkeypatch.setattr(TimeSeriesDataModule, "__init__", logged_datamodule)
    monkeypatch.setattr(L.Trainer, "fit", logged_fit)
    monkeypatch.setattr(export_stage_module, "qat_finetune", logged_qat)
    raw = compose_config([*TINY, "device=host", "train.fit_on=train", "quant.qat=true", "quant.qat_steps=5"])
    report = run(validate(raw), raw, tmp_path)

    assert events.count("fit") == 2 and events.count("qat") == 1  # the search, the retrain; one fine-tune
    first_read = events.index("test read")
    assert first_read > max(i for i, e in enumerate(events) if e in ("fit", "qat"))
    assert set(events[first_read:]) == {"test read"}
    assert report["export"]["qat"]["steps"] == 5
    assert {"test_acc_onnx_int8", "ptq"} <= set(report["export"]) and "test_acc_onnx_int8" in report["export"]["ptq"]
    assert (tmp_path / "report.json").is_file() and (tmp_path / "model_int8.onnx").is_file()
