"""The docs site builds with ``mkdocs build --strict`` and has what its pages promise: the
gallery's images, the generated CLI and options references (every key, documented) and a
search index."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from siayn_core import StylizeOptions, load_plugins
from siayn_core.plugin.options import describe
from siayn_core.video.options import VideoOptions

from .conftest import REPO

pytest.importorskip("mkdocs", reason='the docs site needs pip install ".[docs]"')


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
                           cwd=REPO, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    return target


def text_of(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_the_gallery_has_its_images(site: Path) -> None:
    page = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    images = re.findall(r'src="\.\./(images/gallery/[^"]+\.jpg)"', page)
    assert len(images) >= 12
    assert all((site / image).is_file() for image in images)
    # Each picture is shown at 512 px and opens full size in the lightbox on a click.
    enlarged = re.findall(r'<a class="glightbox"[^>]*href="\.\./(images/gallery/[^"]+\.jpg)"', page)
    assert sorted(enlarged) == sorted(images)
    assert {max(Image.open(site / image).size) for image in images} == {512}


@pytest.mark.parametrize("budget", ["20s", "60s"])
def test_the_methods_grid_shows_every_pair_by_every_method(site: Path, budget: str) -> None:
    """stylize.md's side-by-side grid: each bundled painting, then its result by each method of
    benchmarks.methods' JSON, every picture in the site and opening in the lightbox."""
    result = json.loads((REPO / "benchmarks" / "results" / f"methods_{budget}_xeon.json").read_text())
    page = (site / "stylize" / "index.html").read_text(encoding="utf-8")
    shown = re.findall(rf'src="\.\./(images/methods/{budget}/[^"]+\.jpg)"', page)
    expected = [f"images/methods/{budget}/{pair['style'].rsplit('.', 1)[0]}-{column}.jpg"
                for pair in result["pairs"] for column in ("painting", *result["methods"])]
    assert len(result["pairs"]) == 7 and shown == expected
    assert all((site / image).is_file() for image in shown)
    enlarged = re.findall(rf'<a class="glightbox"[^>]*href="\.\./(images/methods/{budget}/[^"]+\.jpg)"', page)
    assert enlarged == shown


def test_the_cli_reference_has_every_command(site: Path) -> None:
    from siayn_core.cli import main

    text = text_of(site / "cli" / "index.html")
    for name, command in main.commands.items():
        assert f"siayn {name}" in text
        for parameter in command.params:
            assert all(flag in text for flag in parameter.opts if flag.startswith("--")), (name, parameter.name)
    assert "siayn plugins new" in text and "Sentinel" not in text


def test_every_option_is_documented_in_the_reference(site: Path) -> None:
    text = text_of(site / "options" / "index.html")
    specs = [*describe(StylizeOptions), *describe(VideoOptions)]
    components = list(load_plugins().registry.components())
    specs += [spec for component in components for spec in component.options()]
    undocumented = [spec.name for spec in specs if not spec.help.strip()]
    assert not undocumented, f"options without help: {undocumented}"
    missing = [spec.name for spec in specs if f"{spec.name}" not in text or spec.help.rstrip(".") not in text]
    assert not missing, f"options not in the reference as they are in the code: {missing}"
    assert all(component.name in text for component in components)


def test_the_site_has_a_search_index_and_the_api(site: Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {entry["location"].split("#")[0] for entry in index["docs"]}
    assert {"video/", "options/", "cli/", "api/", "plugins/"} <= locations
    api = text_of(site / "api" / "index.html")
    assert "stylize_clip" in api and "register_backbones" in api and "Postprocessor" in api
    assert not re.search(r":(class|func|meth|mod):", api)  # Sphinx roles shown as code, not as text


def test_the_benchmark_results_the_pages_cite_are_in_the_site(site: Path) -> None:
    page = (site / "performance" / "index.html").read_text(encoding="utf-8")
    cited = re.findall(r'href="\.\./(benchmarks/results/[^"#]+\.json)"', page)
    assert cited and all((site / path).is_file() for path in cited)
