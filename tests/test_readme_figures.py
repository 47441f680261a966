"""README figures are generated: each block equals the file a command wrote, names that command, and no
result figure is typed outside the blocks."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "experiments" / "readme_figures.py")
readme_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_figures)

README = (ROOT / "README.md").read_text()
# what a measurement looks like: a percentage, a count with a thousands comma, seconds, sizes, throughput
MEASURED = re.compile(r"\d(\.\d+)? ?%|\d,\d{3}|\b\d+(\.\d+)? ?(s|ms|KB|MB|GB|samples/s)\b")


def test_every_block_is_its_file_and_names_its_command():
    files = [m.group("file") for m in readme_figures.BLOCK.finditer(README)]
    assert len(files) >= 5
    for name in files:
        assert (ROOT / name).read_text().startswith("*Made by `"), f"{name} does not name the command that made it"
    assert readme_figures.stale_blocks(README) == [], "run make readme (or re-run the figure's command)"


def test_every_generated_figure_is_shown():
    shown = {m.group("file") for m in readme_figures.BLOCK.finditer(README)}
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "figures").glob("*.md")} == shown


def test_a_hand_edit_inside_a_block_is_caught():
    start = README.index("<!-- figure docs/figures/quality.md -->")
    edited = README[:start] + README[start:].replace("| GunPoint | searched only | ", "| GunPoint | searched only | 1.000 (was ", 1)
    assert edited != README and readme_figures.stale_blocks(edited) == ["docs/figures/quality.md"]
    assert readme_figures.render(edited) == README


def test_no_result_figure_outside_the_blocks():
    outside = readme_figures.BLOCK.sub("", README)
    typed = [line for line in outside.splitlines() if MEASURED.search(line)]
    assert typed == [], "figures typed by hand (generate them under docs/figures/):\n" + "\n".join(typed)
