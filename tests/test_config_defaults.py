"""Each default lives in one place: the schema (config.py) holds every key's default, and a YAML file
under conf/ only sets what differs from it (a preset's layers, a device's memory). A YAML value equal
to the schema's default is a second copy that could drift, so it fails here."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nas_lightning.config import CONF_DIR, RunConfig
from nas_lightning.config_files import compose_config, group_options

SCHEMA = OmegaConf.structured(RunConfig)
# trainer options go to lightning.Trainer as they are (no schema); hydra/ configures Hydra itself
FILES = [p for p in sorted(CONF_DIR.rglob("*.yaml")) if p.relative_to(CONF_DIR).parts[0] not in ("trainer", "hydra")]


def leaves(node: dict, prefix: str):
    for key, value in node.items():
        if key == "defaults":
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from leaves(value, path)
        else:
            yield path, value


def repeated_defaults(path: Path, root: Path = CONF_DIR) -> list[str]:
    rel = path.relative_to(root)
    group = rel.parts[0] if len(rel.parts) > 1 else ""
    found = []
    for key, value in leaves(OmegaConf.to_container(OmegaConf.load(path)), group):
        if key.startswith("hydra") or OmegaConf.is_missing(SCHEMA, key):
            continue
        default = OmegaConf.select(SCHEMA, key, default=object())
        default = OmegaConf.to_container(default) if OmegaConf.is_config(default) else default
        if default == value:
            found.append(f"{key}={value!r}")
    return found


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CONF_DIR)) for p in FILES])
def test_no_yaml_file_repeats_a_schema_default(path):
    assert repeated_defaults(path) == []


def test_the_check_catches_a_repeated_default(tmp_path):
    (tmp_path / "preset").mkdir()
    (tmp_path / "preset" / "m.yaml").write_text("name: m\nlayers: 10\nfanout_concat: 4\n")
    assert repeated_defaults(tmp_path / "preset" / "m.yaml", tmp_path) == ["preset.fanout_concat=4"]


@pytest.mark.parametrize("preset", group_options("preset"))
def test_every_preset_composes_to_a_complete_layout(preset):
    composed = compose_config([f"preset={preset}"]).preset
    assert composed.name == preset and all(composed[k] >= 1 for k in ("layers", "nodes_per_layer", "init_channels"))
