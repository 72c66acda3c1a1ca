"""The third-party plugin example in docs/examples, installed for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from .conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "siayn-plugin-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip-install the example into a fresh target folder; return an environment that sees it."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source)  # the build writes into its source folder: keep the repo clean
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    assert list(target.glob("siayn_plugin_example-*.dist-info"))
    return {**os.environ, "PYTHONPATH": str(target)}


def siayn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siayn_core", *args], env=env, capture_output=True, text=True)


def test_installed_example_is_listed(installed_example: dict[str, str]) -> None:
    result = siayn(installed_example, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    sepia = next(entry for entry in json.loads(result.stdout) if entry["name"] == "sepia")
    assert sepia["package"] == "siayn-plugin-example"
    assert sepia["version"] == "1.0.0"
    assert sepia["hooks"] == ["register_postprocessors", "register_postprocess_formats"]
    assert sepia["components"] == {"postprocessor": ["sepia"], "postprocess-format": ["sepia-keys"]}
    assert sepia["error"] is None


def test_installed_example_component_is_usable(installed_example: dict[str, str]) -> None:
    script = (
        "from PIL import Image\n"
        "from siayn_core import PostprocessContext, load_plugins\n"
        "registry = load_plugins().registry\n"
        "sepia = registry.create('postprocessor', 'old-photo', {'strength': '1'})\n"
        "out = sepia(Image.new('RGB', (8, 8), (0, 0, 255)), PostprocessContext())\n"
        "r, g, b = out.getpixel((0, 0))\n"
        "print(out.size, r > b)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=installed_example, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(8, 8) True"


def test_installed_example_adds_config_keys(installed_example: dict[str, str], tmp_path) -> None:
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "blue.png")
    (tmp_path / "cfg.yaml").write_text("tone:\n  use_sepia: true\n  sepia_image: blue.png\n")
    result = siayn(installed_example, "postprocess", "--config", str(tmp_path / "cfg.yaml"))
    assert result.returncode == 0, result.stderr
    r, g, b = Image.open(tmp_path / "blue.sepia.png").getpixel((0, 0))
    assert r > b
    (tmp_path / "cfg.yaml").write_text("tone:\n  use_sepia: true\n")
    result = siayn(installed_example, "postprocess", "--config", str(tmp_path / "cfg.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("'sepia_image' is required (image to tone)")


def test_example_without_install_is_not_listed() -> None:
    result = siayn(dict(os.environ), "plugins", "list", "--json")
    assert "sepia" not in {entry["name"] for entry in json.loads(result.stdout)}
