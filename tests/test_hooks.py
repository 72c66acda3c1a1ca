"""One test per hook: each component of ``tests/plugin_for_hooks.py`` used where a user meets it,
through the CLI with ``--plugin``. ``test_docs.py`` checks that every hook has its test here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from siayn_core.cli import main

from . import plugin_for_hooks
from .plugin_for_hooks import CALLS

PLUGIN = ["--plugin", "tests.plugin_for_hooks"]
TINY = ["--set", "backbone=hooktest-net", "--set", "content_layers=[relu2]",
        "--set", "style_layers=[relu1, relu2]", "--set", "num_steps=2", "--set", "min_size=null", "--quiet"]


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    CALLS.clear()


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {}
    for name in ("photo", "warm", "cold"):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(paths[name])
    return paths


def siayn(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stderr


def stylize(images: dict[str, Path], tmp_path: Path, *settings: str, styles: tuple[str, ...] = ("warm",)) -> dict[str, Any]:
    """Run ``siayn stylize`` on the tiny network with ``settings``; return its run.json."""
    code, stderr = siayn("stylize", images["photo"], *(images[name] for name in styles), "-o", tmp_path / "out",
                         *PLUGIN, *TINY, *settings)
    assert code == 0, stderr
    [record] = (tmp_path / "out").glob("*/run.json")
    return json.loads(record.read_text())


def used(record: dict[str, Any], role: str) -> str:
    component = record["components"][role]
    assert component["plugin"] == plugin_for_hooks.__name__
    return component["component"]


def test_hook_register_backbones(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path)
    assert used(record, "backbone") == "hooktest-net" and CALLS["hooktest-net"] >= 1
    assert record["size"] == [32, 24]
    code, stderr = siayn("stylize", images["photo"], images["warm"], "-o", tmp_path / "bad", *PLUGIN,
                         "--set", "backbone=hooktest-net", "--quiet")  # the default layers are VGG's
    assert code == 2 and "backbone 'hooktest-net' has no layer" in stderr and not (tmp_path / "bad").exists()


def test_hook_register_losses(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path, "--set", "content_loss=hooktest-abs")
    assert used(record, "content_loss") == "hooktest-abs" and CALLS["hooktest-abs"] >= 2


NAMED_TERMS = """
class EdgeAware:
    \"\"\"Content loss: the squared difference, plus the difference of horizontal gradients as 'edges'.\"\"\"

    def target(self, features):
        return features.detach()

    def __call__(self, features, target):
        edges = (features.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
        return {"content": (features - target).pow(2).mean(), "edges": edges}


class Clash:
    \"\"\"Style loss whose only term takes the content term's name.\"\"\"

    def target(self, features):
        return features.mean((-2, -1)).detach()

    def __call__(self, features, target):
        return {"content": (features.mean((-2, -1)) - target).abs().sum()}


@hookimpl
def register_losses(register):
    register("edge-aware", EdgeAware, description="Squared difference and edge difference of features.")
    register("clash", Clash, description="A term named like the content term.")
"""


def test_a_plugin_loss_adds_terms_of_its_own_name(
    images: dict[str, Path], tmp_path: Path, make_plugin: Any
) -> None:
    terms_plugin = ["--plugin", make_plugin(NAMED_TERMS)]
    loud = [setting for setting in TINY if setting != "--quiet"]
    code, stderr = siayn("stylize", images["photo"], images["warm"], "-o", tmp_path / "out", *PLUGIN, *terms_plugin,
                         *loud, "--set", "content_loss=edge-aware", "--set", "content_weight=10",
                         "--set", "tv_weight=1", "--set", "init_method=random")
    assert code == 0, stderr
    [record] = (tmp_path / "out").glob("*/run.json")
    losses = json.loads(record.read_text())["losses"]
    assert [list(step) for step in losses] == [["step", "total", "content", "style", "tv", "edges"]] * 2
    for step in losses:
        assert step["edges"] > 0 and step["content"] > 0 and step["tv"] > 0
        assert step["total"] == pytest.approx(step["content"] + step["style"] + step["tv"] + step["edges"], rel=1e-5)
    assert re.search(r"total \S+ content \S+ style \S+ tv \S+ edges \d", stderr), stderr  # the progress bar

    code, stderr = siayn("stylize", images["photo"], images["warm"], "-o", tmp_path / "clash", *PLUGIN,
                         *terms_plugin, *TINY, "--set", "style_loss=clash")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "the style loss returned a term named 'content'" in stderr

def test_hook_register_initialisers(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path, "--set", "init_method=hooktest-grey", "--set", "init_options={level: 0.25}")
    assert used(record, "init_method") == "hooktest-grey" and CALLS["hooktest-grey"] == 1
    assert record["components"]["init_method"]["options"] == {"level": 0.25}


def test_hook_register_optimizers(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path, "--set", "opt=hooktest-sgd")
    assert used(record, "opt") == "hooktest-sgd" and CALLS["hooktest-sgd"] == 1 and record["steps"] == 2


def test_hook_register_parametrizations(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path, "--set", "parametrization=hooktest-sigmoid", "--set", "opt=adam")
    assert used(record, "parametrization") == "hooktest-sigmoid" and CALLS["hooktest-sigmoid"] == 1
    # keep_in_range: once before the first step, then after each of the two steps.
    assert CALLS["hooktest-sigmoid projections"] == 3 and record["steps"] == 2
    assert all(step["total"] > 0 for step in record["losses"])


def test_hook_register_maskers(images: dict[str, Path], tmp_path: Path) -> None:
    record = stylize(images, tmp_path, "--set", "style_masks=auto", "--set", "auto_mask=hooktest-left",
                     styles=("warm", "cold"))
    assert CALLS["hooktest-left"] == 1 and record["config"]["auto_mask"] == "hooktest-left"


def test_hook_register_postprocessors(images: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "post.yaml"
    config.write_text(f"negative:\n  image: '{images['photo']}'\n  postprocess: [hooktest-negative]\n"
                      f"  output: '{tmp_path / 'out'}'\n")
    code, stderr = siayn("postprocess", "--config", config, *PLUGIN)
    assert code == 0, stderr
    [result] = (tmp_path / "out").glob("*.png")
    photo = np.asarray(Image.open(images["photo"]), dtype=np.int16)
    assert CALLS["hooktest-invert"] == 1 and np.array_equal(np.asarray(Image.open(result)), 255 - photo)


def test_hook_register_postprocess_formats(images: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "keys.yaml"
    config.write_text(f"negative:\n  negative_of: '{images['photo']}'\n")
    code, stderr = siayn("postprocess", "--config", config, *PLUGIN)
    assert code == 0, stderr
    [result] = (tmp_path).glob("photo.*.png")
    photo = np.asarray(Image.open(images["photo"]), dtype=np.int16)
    assert np.array_equal(np.asarray(Image.open(result)), 255 - photo)
    config.write_text("negative:\n  negative_of: nowhere.png\n")
    code, stderr = siayn("postprocess", "--config", config, *PLUGIN)
    assert code == 2 and "image to invert" in stderr and "not found" in stderr


def test_hook_register_executors(images: dict[str, Path], tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(f"contents: ['{images['photo']}']\nstyles: ['{images['warm']}', '{images['cold']}']\n"
                        "backbone: hooktest-net\ncontent_layers: [relu2]\nstyle_layers: [relu1, relu2]\n"
                        "num_steps: 2\nmin_size: null\n")
    code, stderr = siayn("batch", manifest, "-e", "hooktest-inline", "-o", tmp_path / "batch", "--quiet", *PLUGIN)
    assert code == 0, stderr
    runs = json.loads((tmp_path / "batch" / "batch.json").read_text())["runs"]
    assert CALLS["hooktest-inline"] == 2 and [run["status"] for run in runs] == ["done", "done"]
