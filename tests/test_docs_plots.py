"""docs/performance.md's figures: ``python docs/plots.py`` draws every one of them from the
benchmark JSON, as real images, the same bytes every time, and the page embeds each one it
draws, with its machine and its JSON, and no image that is missing."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from .conftest import REPO

pytest.importorskip("matplotlib", reason='the figures need pip install ".[docs]"')

PAGE = REPO / "docs" / "performance.md"


def expected_figures() -> list[str]:
    """The file names docs/plots.py's list of figures gives."""
    return [plot.name for plot in runpy.run_path(str(REPO / "docs" / "plots.py"))["FIGURES"]]


def draw(output: Path) -> list[Path]:
    """Run the page's one command into ``output``; the files it says it wrote."""
    ran = subprocess.run([sys.executable, "docs/plots.py", "--output", str(output)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return [Path(line) for line in ran.stdout.split()]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return draw(tmp_path_factory.mktemp("figures"))


def embedded_images() -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", PAGE.read_text(encoding="utf-8"))


def test_the_command_writes_every_figure_as_a_real_image(drawn: list[Path]) -> None:
    assert sorted(path.name for path in drawn) == sorted(expected_figures())
    assert len(drawn) >= 8
    for path in drawn:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 300, path.name
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is None or len(colours) > 50, f"{path.name} is nearly blank"


def test_the_figures_are_the_same_bytes_every_time_and_carry_no_timestamp(drawn: list[Path],
                                                                           tmp_path: Path) -> None:
    again = {path.name: path.read_bytes() for path in draw(tmp_path)}
    for path in drawn:
        assert path.read_bytes() == again[path.name], f"{path.name} differs between two runs"
        with Image.open(path) as image:
            assert not {"Creation Time", "Software", "date:create"} & set(image.info), (path.name, image.info)


def test_the_page_embeds_every_figure_and_only_images_that_exist(drawn: list[Path]) -> None:
    images = embedded_images()
    missing = [image for image in images if not (PAGE.parent / image).is_file()]
    assert not missing, f"performance.md embeds images that do not exist: {missing}"
    shown = {Path(image).name for image in images if image.startswith("images/performance/")}
    assert shown == {path.name for path in drawn}, "performance.md embeds not exactly the figures docs/plots.py draws"


def test_every_figure_on_the_page_names_its_machine_and_links_its_json() -> None:
    text = PAGE.read_text(encoding="utf-8")
    figures = re.findall(r"!\[[^\]]*\]\((images/performance/[^)]+)\)\n((?:.+\n)+)", text)
    assert len(figures) == len([image for image in embedded_images() if image.startswith("images/performance/")])
    for image, caption in figures:
        assert re.search(r"\]\((?:\.\./)+benchmarks/results/[^)]+\.json\)", caption), f"{image}: no JSON link"
        assert re.search(r"\d-core (AMD EPYC|Intel Xeon)", caption), f"{image}: no machine"
