"""The conf/ directory: the options of its groups, and configs composed from it."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, PresetConfig


def group_options(group: str) -> list[str]:
    """The options of a config group (``preset`` -> s, m, l, ...)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def compose_config(overrides: list[str]) -> DictConfig:
    """The config Hydra composes for ``overrides``: inside the running app, or on its own."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def preset_option(name: str) -> DictConfig:
    """The packaged preset ``name`` on its schema, as Hydra merges a group option. Not through the running
    app: an app started from a saved run's config (``--config-name``) has no preset group to compose."""
    return OmegaConf.merge(OmegaConf.structured(PresetConfig), OmegaConf.load(CONF_DIR / "preset" / f"{name}.yaml"))
