"""Entry point: ``python -m nas_lightning`` / ``nas-lightning`` with Hydra overrides."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from .config import register
from .errors import UserInputError


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> dict | None:
    from .pipeline import run  # heavy imports only once the config composed

    try:
        return run(cfg)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    register()
    _hydra_main()


if __name__ == "__main__":
    main()
