"""Checks made before Hydra creates a run directory, so a refused run leaves nothing behind.

Hydra makes the run directory and writes ``.hydra/`` before the task starts, and reports a mistyped
key or a bad value in a dozen lines. Here the same overrides are composed with Hydra's compose API
first: a group, key or value it cannot take, or one ``validate`` refuses, becomes one line; an
explicit ``hydra.run.dir`` that is a file, not writable, or already holds a run is refused too.
``resume=<run>`` composes that run's saved overrides, refusing any override that would change them.
Command lines this cannot judge alone (Hydra's own flags, sweeps) go straight to Hydra, and the
task validates again inside.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import validate
from .config_files import compose_config, group_options
from .errors import UserInputError, first_line
from .run_dir import check_run_dir, is_secondary_rank
from .ti_import import expand

GROUPS = ("preset", "space", "mode", "device", "data", "trainer", "model", "augment", "select", "logger")


def check_group_choices(parsed: list) -> None:
    """Unknown ``preset=…``/``mode=…``/``device=…`` etc. among parsed overrides as one line listing what
    is allowed (Hydra's own message spans a dozen lines of search paths)."""
    for o in parsed:
        if o.key_or_group not in GROUPS:
            continue
        value = o.value()
        values = (list(o.sweep_string_iterator()) if o.is_sweep_override()
                  else [str(v) for v in value] if isinstance(value, list) else [str(value)])  # logger=[csv,mlflow]
        allowed = group_options(o.key_or_group)
        for value in values:
            if value not in allowed:
                raise UserInputError(f"{o.key_or_group}={value}: unknown; allowed: {', '.join(allowed)}")


def _one_line(err: Exception) -> str:
    """Hydra's and OmegaConf's messages, first lines of the error and its cause joined."""
    parts = [first_line(e) for e in (err, err.__cause__) if e is not None]
    return "; ".join(dict.fromkeys(parts))


def _compose(overrides: list[str]):
    try:
        cfg = compose_config(overrides)
        validate(cfg)
    except (HydraException, OmegaConfBaseException) as err:
        raise UserInputError(_one_line(err)) from None
    return cfg


def check_trainer_options(options: dict) -> None:
    """Lightning judges its own options (precision, strategy, devices, ...): a throwaway Trainer is built
    from them before any work, so a bad one is one line instead of a traceback after the data loaded."""
    try:
        import lightning as L  # only here: a blink for every other check

        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no "GPU available: ..." banner
        L.Trainer(**options, logger=False, enable_checkpointing=False)
    except Exception as err:  # noqa: BLE001 - Lightning raises ValueError, TypeError, MisconfigurationException...
        raise UserInputError(f"trainer: {first_line(err)[:200]}") from None


def _first_difference(a, b, prefix: str = "") -> str | None:
    """Dotted key of the first leaf where two plain config trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if a == b else prefix[:-1]


def with_saved_config(args: list[str]) -> list[str]:
    """``resume=<run>`` continues that run as it was configured: its saved overrides come first, and an
    override here that changes any value of that run's config is refused (what can differ: hydra.*)."""
    parsed = OverridesParser.create().parse_overrides(args)
    run = next((str(o.value()) for o in parsed if o.key_or_group == "resume"), None)
    if run is None:
        return args
    saved_file = Path(run).expanduser() / ".hydra" / "overrides.yaml"
    if not saved_file.is_file():
        raise UserInputError(f"resume={run}: no .hydra/overrides.yaml there; give the directory of an earlier run")
    try:
        saved = yaml.safe_load(saved_file.read_text())
    except yaml.YAMLError:
        saved = None
    if not isinstance(saved, list) or not all(isinstance(o, str) for o in saved):
        raise UserInputError(f"{saved_file}: not a list of overrides as Hydra writes it")
    saved = [o for o in saved if not o.lstrip("+~").startswith(("hydra", "resume="))]
    own = [a for a in args if not a.lstrip("+~").startswith("hydra")]
    as_run = OmegaConf.to_container(_compose(saved), resolve=True)
    asked = OmegaConf.to_container(_compose([*saved, *own]), resolve=True)
    as_run["resume"] = asked["resume"]
    changed = _first_difference(as_run, asked)
    if changed:
        raise UserInputError(f"resume={run}: that run had {changed}={OmegaConf.select(OmegaConf.create(as_run), changed)}"
                             f"; a resumed run keeps its config (drop the override of {changed})")
    given = {o.key_or_group for o in parsed}
    kept = [o for o, p in zip(saved, OverridesParser.create().parse_overrides(saved)) if p.key_or_group not in given]
    return [*kept, *args]


def prepare_command_line(args: list[str]) -> list[str]:
    """The overrides Hydra should run (a resumed run's saved ones added); raises ``UserInputError`` for a
    command line that would be refused only after Hydra made its directory. ``ti_config=<file>`` (a TI
    modelmaker YAML) becomes the overrides it stands for."""
    args = expand(args)
    if any(a.startswith("-") for a in args) or is_secondary_rank():
        return args  # --multirun, --config-name, --help, ...: Hydra's own business; DDP ranks > 0 join rank 0
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except HydraException as err:
        raise UserInputError(f"command line: {_one_line(err)}") from None
    check_group_choices(parsed)
    if any(o.is_sweep_override() for o in parsed):
        return args
    for o in parsed:
        if o.key_or_group == "hydra.run.dir":
            check_run_dir(str(o.value()))
    args = with_saved_config(args)
    cfg = _compose([a for a in args if not a.lstrip("+~").startswith("hydra")])
    check_trainer_options(OmegaConf.to_container(cfg.trainer, resolve=True))
    return args
