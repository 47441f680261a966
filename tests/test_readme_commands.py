"""Every `python -m nas_lightning` command the README shows composes and validates as written (the same
pre-check the CLI makes before any work; sweeps expanded to each combination). Commands naming a
product of an earlier run (outputs/..., multirun/..., placeholders) cannot run on a fresh clone and are
skipped; the count checked is asserted so the test cannot pass empty."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser

from nas_lightning.preflight import prepare_command_line

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDERS = ("outputs/", "multirun/", "…", "<")
OWN_CONFIG = ("--config-dir", "--config-name", "-cd", "-cn")  # a user's config file: test_cli runs that one


def readme_commands() -> list[list[str]]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("python -m nas_lightning ") or line.startswith("nas-lightning "):
                commands.append(shlex.split(line)[3 if line.startswith("python") else 1:])
    return commands


def combinations(args: list[str]) -> list[list[str]]:
    """A sweep command as the single runs it launches (hydra/launcher and flags dropped)."""
    args = [a for a in args if not a.startswith("-") and not a.startswith("hydra/")]
    choices = []
    for override in OverridesParser.create().parse_overrides(args):
        key = override.get_key_element()
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.get_value_element_as_str()]
        choices.append([f"{key}={v}" for v in values])
    return [list(c) for c in itertools.product(*choices)]


def test_readme_commands_compose_and_validate(monkeypatch):
    monkeypatch.chdir(README.parent)  # the README's relative paths (docs/config_nas.yaml) are from the root
    checked = 0
    for args in readme_commands():
        if any(p in a for a in args for p in PLACEHOLDERS) or any(a in OWN_CONFIG for a in args):
            continue
        for run in combinations(args):
            prepare_command_line(run)  # raises UserInputError with the README's mistake
            checked += 1
    assert checked >= 15
