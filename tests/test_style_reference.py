"""``style_reference``: an output larger than the reference is the run of an output of the
reference size, carried up to its size with the photo's own detail, so its strokes keep their
size relative to the picture. Tiny images with random weights, and one check of stroke size
with the real VGG16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.io.images import read_image, resize, to_tensor
from benchmarks.measures import painted_stroke_width
from siayn_core.host.registry import Registry
from siayn_core.io.resources import examples_dir
from siayn_core.engine.schedule import plan_stages, reference_size, stage_images, upsample_detail

STYLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "style"
RANDOM = {"backbone_options": {"weights": "none"}, "min_size": None, "num_steps": 3}


def test_the_reference_size_keeps_the_aspect_ratio_and_only_shrinks() -> None:
    assert reference_size((4096, 3072), 512) == (512, 384)
    assert reference_size((3000, 4000), 512) == (384, 512)
    assert reference_size((512, 384), 512) is None and reference_size((4096, 3072), None) is None


@pytest.mark.parametrize("stage_steps", [None, [100, 50, 25]])
def test_a_large_output_has_the_stages_of_the_reference_output_then_a_carry(stage_steps: list[int] | None) -> None:
    large = plan_stages((4096, 3072), 500, stage_steps=stage_steps, style_reference=512)
    reference = plan_stages((512, 384), 500, stage_steps=stage_steps)
    assert large[:-1] == reference
    carry = large[-1]
    assert carry.size == (4096, 3072) and carry.steps == 0 and carry.first_step == reference[-1].last_step + 1
    assert sum(stage.steps for stage in large) == (sum(stage_steps) if stage_steps else 500)
    assert plan_stages((512, 384), 500, stage_steps=stage_steps, style_reference=512) == reference


def test_a_style_at_its_own_size_is_sized_for_the_reference_output() -> None:
    content, style = Image.new("RGB", (1024, 768)), Image.new("RGB", (300, 200))
    _, [large] = stage_images(content, [style], (256, 192), (4096, 3072), "none", 1.0, 512)
    _, [at_reference] = stage_images(content, [style], (256, 192), (512, 384), "none", 1.0)
    assert large.size == at_reference.size == (150, 100)


def images(size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    content = resize(read_image(examples_dir() / "tubingen.jpg"), size)
    return content, resize(read_image(examples_dir() / "starry_night.jpg"), (64, 48))


def test_the_large_output_is_the_reference_run_carried_up_with_the_photos_detail(registry: Registry) -> None:
    content, style = images((128, 96))
    small = stylize(content, [style], build_options({**RANDOM, "size": 64}, where="test"),
                    registry=registry, device="cpu", seed=3)
    large = stylize(content, [style], build_options({**RANDOM, "size": 128, "style_reference": 64}, where="test"),
                    registry=registry, device="cpu", seed=3)
    assert large.image.shape == (1, 3, 96, 128) and large.losses == small.losses
    photo_small, photo_large = (to_tensor(resize(content, size)) for size in ((64, 48), (128, 96)))
    expected = upsample_detail(small.image, photo_small, photo_large)
    assert float((large.image - expected).abs().max()) < 1.5 / 255  # the change upsampled, on the photo
    assert float((large.image - photo_large).abs().mean()) > 0.02  # and the change is there


def test_a_reference_at_least_the_output_size_changes_nothing(registry: Registry) -> None:
    content, style = images((64, 48))
    results = [
        stylize(content, [style], build_options({**RANDOM, "style_reference": reference}, where="test"),
                registry=registry, device="cpu", seed=3).image
        for reference in (None, 64, 512)
    ]
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


def test_masks_and_multi_scale_work_below_the_reference(registry: Registry) -> None:
    content, style = images((128, 96))
    left = Image.fromarray(np.tile(np.where(np.arange(128) < 64, 255, 0), (96, 1)).astype(np.uint8), "L")
    options = build_options({**RANDOM, "style": ["a", "b"], "style_masks": ["l.png", "r.png"],
                             "style_reference": 64, "min_size": 24, "num_steps": 4}, where="test")
    result = stylize(content, [style, style.rotate(180)], options, registry=registry, device="cpu", seed=0,
                     masks=[left, Image.eval(left, lambda value: 255 - value)])
    assert result.image.shape == (1, 3, 96, 128) and result.steps == 4
    assert all(np.isfinite(record["style"]) for record in result.losses)


def test_a_large_output_keeps_the_painted_strokes_of_one_at_the_reference_size(
    vgg16_torch_home: Path, registry: Registry
) -> None:
    """The Starry Night on the bundled photo: 128 px against 512 px with a reference of 128 px,
    and against 512 px without a reference (whose fine stages repaint the strokes smaller)."""
    if not STYLES.is_dir():
        pytest.skip(f"the bundled paintings are not at {STYLES}")
    photo = read_image(examples_dir() / "tubingen.jpg")
    style = read_image(STYLES / "starry_night.jpg")
    widths = {}
    for label, settings in (("small", {"size": 128}),
                            ("referenced", {"size": 512, "style_reference": 128}),
                            ("unreferenced", {"size": 512, "style_reference": None, "stage_steps": [40, 12, 6]})):
        options = build_options({"num_steps": 40, "min_size": 64, **settings}, where="test")
        result = stylize(photo, [style], options, registry=registry, device="cpu", seed=0)
        at_size = to_tensor(resize(photo, tuple(result.image.shape[-1:-3:-1])))
        widths[label] = painted_stroke_width(result.image, at_size)
    print(f"painted stroke width / width: 128 px {widths['small']:.5f}, 512 px with reference 128 "
          f"{widths['referenced']:.5f}, without {widths['unreferenced']:.5f}")
    assert 0.8 < widths["referenced"] / widths["small"] < 1.25
    assert widths["unreferenced"] < 0.8 * widths["small"]
