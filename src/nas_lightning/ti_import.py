"""``ti_config=<file>``: a TI modelmaker-style YAML (``common``, ``dataset``,
``data_processing_feature_extraction``, ``training`` with ``nas_*``, ``compilation``) turned into this
tool's overrides, so a modelmaker user's config runs unchanged. A key that cannot be honoured here is
refused in one line naming it, rather than silently dropped; overrides after ``ti_config=`` win.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserInputError, first_line

# section -> key -> override template ({} = the value); None = read but mapped by hand below
KEYS: dict[str, dict[str, str | None]] = {
    "common": {"task_type": None, "target_device": "device={}"},
    "dataset": {"enable": None, "dataset_name": None, "input_data_path": "data.path={}"},
    "data_processing_feature_extraction": {"feature_extraction_name": "data.features={}", "variables": "data.variables={}"},
    "training": {"enable": None, "nas_enabled": None, "training_epochs": "train.epochs={}", "batch_size": "data.batch_size={}",
                 "learning_rate": "train.lr={}", "nas_epochs": "search.epochs={}", "nas_optimization_mode": "mode={}",
                 "nas_model_size": "preset={}", "nas_nodes_per_layer": "preset.nodes_per_layer={}",
                 "nas_layers": "preset.layers={}", "nas_init_channels": "preset.init_channels={}",
                 "nas_init_channel_multiplier": "preset.init_channel_multiplier={}",
                 "nas_fanout_concat": "preset.fanout_concat={}"},
    "compilation": {"enable": None},
}
CUSTOM = ("nas_nodes_per_layer", "nas_layers", "nas_init_channels", "nas_init_channel_multiplier", "nas_fanout_concat")


def _read(path: str) -> dict:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserInputError(f"ti_config={path}: file not found")
    try:
        data = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserInputError(f"ti_config={path}: not YAML ({first_line(err)})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UserInputError(f"ti_config={path}: expected sections (common:, dataset:, training:, ...) of keys")
    return data


def overrides_from_ti(path: str) -> list[str]:
    """This tool's overrides for a TI modelmaker NAS config; refuses what it cannot honour."""
    data = _read(path)
    for section, keys in data.items():
        if section not in KEYS:
            raise UserInputError(f"ti_config={path}: section {section!r} is not supported; supported: {', '.join(KEYS)}")
        for key in keys:
            if key not in KEYS[section]:
                raise UserInputError(f"ti_config={path}: {section}.{key} cannot be honoured here; supported in "
                                     f"{section}: {', '.join(KEYS[section])}")
    common, dataset, training = data.get("common", {}), data.get("dataset", {}), data.get("training", {})
    task = str(common.get("task_type", "generic_timeseries_classification"))
    if not task.endswith("classification"):
        raise UserInputError(f"ti_config={path}: common.task_type={task}: only classification tasks are searched here")
    if training.get("nas_enabled") is not True:
        raise UserInputError(f"ti_config={path}: training.nas_enabled must be True (this tool always searches)")
    if dataset.get("enable") is False or "input_data_path" not in dataset:
        name = dataset.get("dataset_name", "?")
        raise UserInputError(f"ti_config={path}: dataset.input_data_path is required (TI downloads its example "
                             f"dataset {name}; nothing is downloaded here): a folder or .zip in TI's layout")
    out = ["data=folder"]
    if any(k in training for k in CUSTOM):
        out.append("preset=custom")
    for section, keys in data.items():
        for key, value in keys.items():
            template = KEYS[section][key]
            if template and not (key == "nas_model_size" and any(k in training for k in CUSTOM)):
                out.append(template.format(value))
    stages = ["search", "train"] + (["export"] if data.get("compilation", {}).get("enable", True) else [])
    if training.get("enable") is False:
        stages = ["search"]
    return [*out, f"stages=[{','.join(stages)}]"]


def expand(args: list[str]) -> list[str]:
    """``ti_config=<file>`` in ``args`` replaced by the overrides it stands for (placed first)."""
    given = [a for a in args if a.startswith("ti_config=")]
    if not given:
        return args
    if len(given) > 1:
        raise UserInputError("ti_config: given more than once")
    rest = [a for a in args if a not in given]
    return [*overrides_from_ti(given[0].split("=", 1)[1]), *rest]
