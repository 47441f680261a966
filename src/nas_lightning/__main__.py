"""Entry point: ``python -m nas_lightning`` / ``nas-lightning`` with Hydra overrides."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from .config import CONF_DIR, check_group_choices, register, validate
from .errors import UserInputError


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")  # absolute: works as console script too
def _hydra_main(cfg: DictConfig) -> dict | None:
    try:
        checked = validate(cfg)  # before the heavy imports, so a typo fails in a blink
        from .pipeline import run

        report = run(checked, cfg)
        if not report["device"]["ok"]:  # over the device's memory or against its NPU rules; artifacts kept
            sys.exit(3)
        return report
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    try:
        check_group_choices([a for a in sys.argv[1:] if not a.startswith("-")])
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    register()
    _hydra_main()


if __name__ == "__main__":
    main()
