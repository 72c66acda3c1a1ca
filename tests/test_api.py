"""The library call: ``from siayn_core import stylize`` as a notebook uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from siayn_core import SiaynError, stylize
from siayn_core.io.resources import examples_dir
from siayn_core.engine.loop import Iterate

RANDOM = {"backbone_options": {"weights": "none"}, "device": "cpu", "seed": 0}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.open(examples_dir() / "tubingen.jpg").convert("RGB").resize((96, 72)).save(path)
    return path


def test_one_call_returns_a_pil_image_of_the_requested_size(photo: Path) -> None:
    steps: list[Iterate] = []
    image = stylize(photo, examples_dir() / "starry_night.jpg", size=64, num_steps=3, callback=steps.append, **RANDOM)
    assert isinstance(image, Image.Image) and image.size == (64, 48)
    assert [iterate.step for iterate in steps] == [1, 2, 3]


def test_pil_images_and_several_styles(photo: Path) -> None:
    styles = [Image.open(examples_dir() / name) for name in ("starry_night.jpg", "great_wave.jpg")]
    image = stylize(Image.open(photo), styles, size=48, num_steps=1, style_weight=[1e5, 1e4], **RANDOM)
    assert image.size == (48, 36)


def test_a_bad_keyword_is_a_clear_error(photo: Path) -> None:
    with pytest.raises(SiaynError, match="unknown key 'num_step' .*did you mean 'num_steps'"):
        stylize(photo, examples_dir() / "starry_night.jpg", num_step=3, **RANDOM)
