"""Copy the measured figure files into the README's marked blocks.

A block is ``<!-- figure docs/figures/X.md -->`` ... ``<!-- /figure -->``; its content is replaced by
the file, whose first line names the command that produced it (see figures.py).

    python experiments/readme_figures.py            # refresh README.md (make readme)
    python experiments/readme_figures.py --check    # exit 1 naming every block that differs from its file
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- figure (?P<file>\S+) -->\n)(?P<body>.*?)(<!-- /figure -->)", re.S)


def _text(root: Path, name: str) -> str | None:
    path = root / name
    return path.read_text() if path.is_file() else None


def render(readme: str, root: Path = ROOT) -> str:
    """The README with every figure block holding its file's current text (a block whose file was not
    generated yet keeps what it has)."""
    return BLOCK.sub(lambda m: m.group(1) + (_text(root, m.group("file")) or m.group("body")) + m.group(4), readme)


def stale_blocks(readme: str, root: Path = ROOT) -> list[str]:
    """Files whose README block differs from them (hand-edited block, a file re-measured but not copied,
    or a file not generated yet)."""
    return [m.group("file") for m in BLOCK.finditer(readme) if m.group("body") != _text(root, m.group("file"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report blocks that differ from their files")
    args = parser.parse_args()
    path = ROOT / "README.md"
    text = path.read_text()
    if args.check:
        stale = stale_blocks(text)
        for file in stale:
            print(f"README.md: the block of {file} differs from the file: run make readme")
        sys.exit(1 if stale else 0)
    path.write_text(render(text))
    for m in BLOCK.finditer(text):
        if _text(ROOT, m.group("file")) is None:
            print(f"README.md: {m.group('file')} is not generated yet (see the Figures table for its command)")
    print(f"README.md: {len(BLOCK.findall(text))} figure blocks refreshed")


if __name__ == "__main__":
    main()
