"""Spatial control: masks per style, a kept region, guided losses, tiles and stages with masks
(Gatys et al. 2017), on tiny images with random weights; the real-weights checks that each
region takes its own style are in test_quality.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siayn_core import SiaynError
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.engine.guides import Regions, colour_key_masks, regions_for
from siayn_core.io.images import read_image
from siayn_core.engine.objective import Objective, build_components
from siayn_core.host.registry import Component, Registry
from siayn_core.io.resources import examples_dir
from siayn_core.engine.terms import total_loss
from siayn_core.engine.tiling import TiledObjective

from .test_tiling import evaluated

RANDOM = {"backbone_options": {"weights": "none"}, "min_size": None, "num_steps": 4}
SHALLOW = {"style_layers": ["relu1_1", "relu2_1", "relu2_2"], "content_layers": ["relu2_2"]}


def half(size: tuple[int, int], *, left: bool) -> Image.Image:
    width, height = size
    columns = np.arange(width) < width // 2
    return Image.fromarray(np.tile(np.where(columns == left, 255, 0), (height, 1)).astype(np.uint8), "L")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return read_image(examples_dir() / "tubingen.jpg").resize((48, 36), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def paintings() -> list[Image.Image]:
    return [read_image(examples_dir() / name).resize((40, 40)) for name in ("starry_night.jpg", "great_wave.jpg")]


@pytest.mark.parametrize("style_loss", ["gram", "w2", "mean-std"])
def test_a_guided_representation_is_the_representation_of_the_guided_positions(registry, style_loss) -> None:
    loss = registry.create("loss", style_loss)
    features = torch.rand(1, 8, 6, 10)
    guide = torch.zeros(1, 1, 6, 10)
    guide[..., :4] = 1.0
    torch.testing.assert_close(loss.target(features, guide=guide), loss.target(features[..., :4].contiguous()))
    torch.testing.assert_close(loss.target(features, guide=torch.ones(1, 1, 6, 10)), loss.target(features))
    # a soft guide weighs positions: doubling every weight changes nothing, halving one column does
    soft = torch.rand(1, 1, 6, 10)
    torch.testing.assert_close(loss.target(features, guide=soft / 2), loss.target(features, guide=soft))
    assert loss.guided is True


def test_an_all_white_mask_gives_exactly_the_unmasked_run(registry, photo, paintings) -> None:
    white = Image.new("L", photo.size, 255)
    masked = build_options({**RANDOM, "style": ["a"], "style_masks": ["white.png"]}, where="test")
    plain = build_options({**RANDOM, "style": ["a"]}, where="test")
    results = [
        stylize(photo, paintings[:1], options, registry=registry, device="cpu", seed=3, masks=masks).image
        for options, masks in ((masked, [white]), (plain, []))
    ]
    assert torch.equal(results[0], results[1])


def test_masked_runs_leave_the_unmasked_style_term_and_confine_each_style(registry, photo, paintings) -> None:
    """Two half masks: the run's style term is finite and falls, and each half's gradient
    comes from its own style only (a style's term does not reach the other half)."""
    options = build_options({**RANDOM, **SHALLOW, "style": ["a", "b"], "style_masks": ["l", "r"]}, where="test")
    components, _ = build_components(options, registry, torch.device("cpu"))
    objective = Objective(options, components, 2)
    content = torch.rand(1, 3, 64, 64)
    styles = [torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)]
    guides = Regions((half((64, 64), left=True), half((64, 64), left=False))).guides((64, 64), 2)
    objective.set_targets(content, styles, guides)
    assert [round(share, 3) for shares in objective.style_shares for share in shares.values()] == [0.5] * 6
    image = torch.rand(1, 3, 64, 64, requires_grad=True)
    objective.content_weight = 0.0
    objective.style_targets[1] = {}  # only the left style: the right half's pixels only see it through context
    total_loss(objective(image)).backward()
    gradient = image.grad.abs().sum(dim=(0, 1))
    assert float(gradient[:, 48:].sum()) < 1e-6 * float(gradient[:, :16].sum())


@pytest.mark.parametrize("style_loss", ["gram", "w2", "mean-std"])
def test_tiled_and_untiled_runs_with_masks_agree(registry, style_loss) -> None:
    torch.manual_seed(0)
    weights = [1e5, 3e4] if style_loss == "gram" else [1e3, 3e2]
    options = build_options(
        # float32: in bfloat16 a convolution's rounding depends on the size of its input (a tile's)
        {"backbone_options": {"weights": "none"}, "precision": "float32", **SHALLOW, "style": ["a", "b"],
         "style_weight": weights, "style_loss": style_loss, "style_masks": ["l", "r"], "content_mask": "k"},
        where="test",
    )
    components, _ = build_components(options, registry, torch.device("cpu"))
    objective = Objective(options, components, 2)
    height, width = 150, 230
    soft = Image.fromarray((np.linspace(0, 255, width)[None].repeat(height, 0)).astype(np.uint8), "L")
    keep = Image.new("L", (width, height), 0)
    keep.paste(255, (150, 20, 200, 60))
    regions = Regions((soft, Image.eval(soft, lambda value: 255 - value)), keep)
    guides = regions.guides((width, height), 2)
    content = torch.rand(1, 3, height, width)
    styles = [torch.rand(1, 3, height, width), torch.rand(1, 3, 90, 140)]
    objective.set_targets(content, styles, guides)
    image = torch.rand(1, 3, height, width, requires_grad=True)
    terms = evaluated(objective, image)
    expected = image.grad.clone()

    tiled = TiledObjective(objective, tile_size=128, margin=32, generator=torch.Generator().manual_seed(1))
    tiled.set_targets(content, styles, guides)
    for _ in range(2):  # two different random grids
        image.grad = None
        tiled_terms = evaluated(tiled, image)
        assert tiled.tiles_per_step > 4
        torch.testing.assert_close(tiled_terms, terms, rtol=1e-4, atol=1e-5)
        assert float((image.grad - expected).abs().max()) < 1e-4 * float(expected.abs().max())


def test_masks_work_across_stages_and_in_tiles(registry, photo, paintings) -> None:
    big = photo.resize((192, 144))
    masks = [half(big.size, left=True), half(big.size, left=False)]
    options = build_options({**RANDOM, "style": ["a", "b"], "style_masks": ["l", "r"], "min_size": 64,
                             "tile_size": 128, "num_steps": 6}, where="test")
    result = stylize(big, paintings, options, registry=registry, device="cpu", seed=2, masks=masks)
    assert result.image.shape == (1, 3, 144, 192) and result.steps == 6
    assert all(np.isfinite(record["style"]) for record in result.losses)


def test_a_style_loss_without_guides_is_refused_for_a_masked_run(registry, photo, paintings) -> None:
    class Plain:
        def target(self, features):
            return features.mean()

        def __call__(self, features, target):
            return (features.mean() - target).square()

    def make_plain(options=None):
        return Plain()

    registry = Registry()
    for component in load_registry().components():
        registry.add(component)
    registry.add(Component("loss", "plain", make_plain, "test"))
    options = build_options({**RANDOM, "style_loss": "plain", "style": ["a"], "content_mask": "k"}, where="test")
    with pytest.raises(SiaynError, match="style loss 'plain' does not support masks"):
        stylize(photo, paintings[:1], options, registry=registry, device="cpu", content_mask=half(photo.size, left=True))
    plain = build_options({**RANDOM, "style_loss": "plain", "style": ["a"]}, where="test")
    assert stylize(photo, paintings[:1], plain, registry=registry, device="cpu").steps == 4


def load_registry() -> Registry:
    from siayn_core import load_plugins

    return load_plugins().registry


@pytest.mark.parametrize(("settings", "message"), [
    ({"style": ["a", "b", "c"], "style_masks": ["x", "y"]}, "has 2 masks for 3 styles"),
    ({"style": ["a", "b", "c"], "style_masks": "auto"}, "auto, which needs two styles"),
    ({"style": ["a", "b"], "style_mask_colors": ["#ff0000", "#0000ff"]}, "needs a colour-key image"),
    ({"style": ["a", "b"], "style_masks": ["x", "y"], "style_mask_colors": ["#ff0000", "#00f"]}, "one colour-key"),
    ({"style": ["a"], "fine_style": "f", "fine_layers": ["relu3_3"]}, "names relu3_3, not among style_layers"),
])
def test_inconsistent_mask_settings_are_one_clear_error(settings, message) -> None:
    with pytest.raises(SiaynError, match=message):
        build_options(settings, where="test")


def test_mask_images_are_checked(registry, photo) -> None:
    options = build_options({"style": ["a", "b"], "style_masks": ["x", "y"]}, where="test")
    square = Image.new("L", (40, 40), 255)
    with pytest.raises(SiaynError, match="a mask needs the photo's aspect ratio"):
        regions_for(options, photo, 2, [square, square], None, registry=registry)
    black = Image.new("L", photo.size, 0)
    with pytest.raises(SiaynError, match="mask of style 2 is black everywhere"):
        regions_for(options, photo, 2, [half(photo.size, left=True), black], None, registry=registry)
    larger = half((96, 72), left=True)  # same aspect ratio, any size
    regions = regions_for(options, photo, 2, [larger, Image.eval(larger, lambda v: 255 - v)], None, registry=registry)
    assert regions.masks is not None and regions.masks[0].size == photo.size


def test_a_colour_key_image_gives_one_mask_per_colour(registry, photo) -> None:
    key = Image.new("RGB", photo.size, (250, 5, 0))  # red, slightly off (as a JPEG would have it)
    key.paste((0, 0, 255), (0, 0, 12, photo.size[1]))  # a blue strip: a quarter
    by_colour = colour_key_masks(key, 2, ["#0000ff", "#ff0000"])
    assert np.asarray(by_colour[0])[:, :12].min() == 255 and np.asarray(by_colour[0])[:, 12:].max() == 0
    assert np.array_equal(np.asarray(by_colour[1]), 255 - np.asarray(by_colour[0]))
    by_frequency = colour_key_masks(key, 2, None)  # red covers more: the first style's
    assert np.array_equal(np.asarray(by_frequency[0]), np.asarray(by_colour[1]))
    options = build_options({"style": ["a", "b"], "style_masks": ["key.png"]}, where="test")
    regions = regions_for(options, photo, 2, [key], None, registry=registry)
    assert regions.masks is not None and len(regions.masks) == 2
    with pytest.raises(SiaynError, match="not a colour like"):
        colour_key_masks(key, 2, ["red", "#0000ff"])


def test_the_kept_region_is_taken_from_every_style(photo) -> None:
    keep = half(photo.size, left=True)
    guides = Regions(None, keep).guides(photo.size, 2)
    for guide in guides:
        assert guide is not None and float(guide[..., :, :24].max()) == 0.0 and float(guide[..., :, 24:].min()) == 1.0
    assert Regions().guides(photo.size, 2) == [None, None] and not Regions().active


def test_auto_masks_split_the_photo_into_foreground_and_background(registry, photo) -> None:
    options = build_options({"style": ["a", "b"], "style_masks": "auto"}, where="test")
    regions = regions_for(options, photo.resize((192, 144)), 2, [], None, registry=registry)
    foreground, background = (np.asarray(mask, dtype=np.int32) for mask in regions.masks)
    assert np.array_equal(foreground + background, np.full_like(foreground, 255))
    assert 0 < foreground.mean() < 255
    bad = build_options({"style": ["a", "b"], "style_masks": "auto", "auto_mask": "grabcutt"}, where="test")
    with pytest.raises(SiaynError, match="did you mean 'grabcut'"):
        regions_for(bad, photo, 2, [], None, registry=registry)
    flat = Image.new("RGB", (96, 72), (128, 128, 128))  # nothing to find
    with pytest.raises(SiaynError, match=r"style 1 is black everywhere \(grabcut found no foreground\)"):
        regions_for(options, flat, 2, [], None, registry=registry)


def siayn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siayn_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_the_cli_runs_with_masks_and_records_them(tmp_path: Path, photo) -> None:
    photo.save(tmp_path / "photo.png")
    half(photo.size, left=True).save(tmp_path / "left.png")
    half(photo.size, left=False).save(tmp_path / "right.png")
    common = ["--set", "backbone_options.weights=none", "--set", "num_steps=2", "--seed", "1"]
    paintings = [str(examples_dir() / name) for name in ("starry_night.jpg", "great_wave.jpg")]
    done = siayn("stylize", "photo.png", *paintings, "-o", "out", *common, "--set", "style_masks=[left.png,right.png]",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "out").rglob("run.json")).read_text())
    assert record["config"]["style_masks"] == [str(tmp_path / "left.png"), str(tmp_path / "right.png")]
    bad = siayn("stylize", "photo.png", *paintings, "-o", "bad", *common, "--set", "style_masks=[left.png,missing.png]",
                cwd=tmp_path)
    assert bad.returncode == 2 and "style mask of" in bad.stderr and "missing.png" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
