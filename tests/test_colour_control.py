"""``color_control``: luminance-only optimization and colour matching of the styles
(Gatys et al. 2017), on tiny images with random weights; the real-weights check of the
luminance's stylization is in test_quality.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from siayn_core import SiaynError
from siayn_core.engine.colour_control import luminance, luminance_image, match_colours
from siayn_core.engine.oklab import oklab_to_srgb, oklab_to_srgb_in_gamut, srgb_to_oklab
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.io.images import read_image, to_pil
from siayn_core.io.resources import examples_dir

RANDOM = {"backbone_options": {"weights": "none"}, "min_size": None}


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return read_image(examples_dir() / "tubingen.jpg").resize((48, 36), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return read_image(examples_dir() / "starry_night.jpg").resize((50, 40), Image.Resampling.LANCZOS)


def chroma(image: Image.Image) -> np.ndarray:
    """Cr and Cb in 8-bit levels (OpenCV's YCrCb)."""
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.int16)


def colour_statistics(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    return pixels.mean(axis=0), np.cov(pixels, rowvar=False)


def test_matched_styles_take_the_photos_colour_mean_and_covariance(photo, painting) -> None:
    matched = match_colours(painting, photo)
    assert matched.size == painting.size
    mean, covariance = colour_statistics(matched)
    photo_mean, photo_covariance = colour_statistics(photo)
    painting_mean, painting_covariance = colour_statistics(painting)
    assert np.abs(mean - photo_mean).max() < 0.01 < np.abs(painting_mean - photo_mean).max()
    assert np.abs(covariance - photo_covariance).max() < 0.1 * np.abs(photo_covariance).max()
    assert np.abs(painting_covariance - photo_covariance).max() > 0.3 * np.abs(photo_covariance).max()


def test_style_luminance_gets_the_photos_mean_and_spread(photo, painting) -> None:
    grey = luminance_image(painting, like=luminance(photo))
    pixels = np.asarray(grey, dtype=np.float64)
    assert np.array_equal(pixels[..., 0], pixels[..., 2])  # grey: three equal channels
    y = pixels[..., 0] / 255.0
    assert abs(y.mean() - luminance(photo).mean()) < 0.01 and abs(y.std() - luminance(photo).std()) < 0.01


def test_luminance_control_keeps_the_photos_chroma_and_shows_it_in_previews(registry, photo, painting) -> None:
    seen: list[torch.Tensor] = []
    options = build_options({"color_control": "luminance", "num_steps": 6, **RANDOM}, where="test")
    result = stylize(photo, [painting], options, registry=registry, device="cpu", seed=1,
                     callback=lambda iterate: seen.append(iterate.image))
    output = to_pil(result.image)
    difference = np.abs(chroma(output) - chroma(photo))
    # Clamping a recombined colour into [0, 1] moves the chroma of the few out-of-gamut pixels.
    assert np.percentile(difference, 99) <= 2 and difference.mean() < 0.5
    plain = stylize(photo, [painting], build_options({"num_steps": 6, **RANDOM}, where="test"),
                    registry=registry, device="cpu", seed=1)
    assert np.abs(chroma(to_pil(plain.image)) - chroma(photo)).mean() > 2 * difference.mean() + 1
    assert torch.allclose(seen[-1], result.image)  # the preview is the image that is saved


def test_the_run_sees_the_matched_styles(registry, photo, painting) -> None:
    def start_from_the_style(control: str) -> Image.Image:
        # One Adam step with lr 0 from the style: the result is the style the run was given.
        options = build_options({"color_control": control, "init_method": "style", "num_steps": 1, "opt": "adam",
                                 "lr": 0.0, "style_resize": "stretch", **RANDOM}, where="test")
        return to_pil(stylize(photo, [painting], options, registry=registry, device="cpu", seed=2).image)

    photo_mean = colour_statistics(photo)[0]
    assert np.abs(colour_statistics(start_from_the_style("match"))[0] - photo_mean).max() < 0.02
    assert np.abs(colour_statistics(start_from_the_style("none"))[0] - photo_mean).max() > 0.05


def test_an_unknown_control_names_the_choices() -> None:
    with pytest.raises(SiaynError, match="color_control.*must be one of none, luminance, match"):
        build_options({"color_control": "sepia"}, where="test")


@pytest.mark.parametrize("control", ["luminance", "match"])
def test_both_controls_take_several_styles(registry, photo, painting, control) -> None:
    wave = read_image(examples_dir() / "great_wave.jpg").resize((40, 40), Image.Resampling.LANCZOS)
    options = build_options({"color_control": control, "num_steps": 2, "style": ["a", "b"],
                             "style_weight": [6e5, 6e5], **RANDOM}, where="test")
    result = stylize(photo, [painting, wave], options, registry=registry, device="cpu", seed=4)
    assert result.image.shape == (1, 3, 36, 48) and len(result.losses) == 2


# -- OkLab ---------------------------------------------------------------------------------


def test_oklab_round_trips_and_has_the_published_values() -> None:
    rgb = np.random.default_rng(0).random((2000, 3))
    rgb[:8] = [[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)]  # the corners of the cube
    np.testing.assert_allclose(oklab_to_srgb(srgb_to_oklab(rgb)), rgb, rtol=0, atol=1e-5)
    np.testing.assert_allclose(srgb_to_oklab([1.0, 1.0, 1.0]), [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(srgb_to_oklab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0], atol=1e-12)
    # sRGB red, as Ottosson's post gives it; a mid grey's lightness is the cube root of its linear light.
    np.testing.assert_allclose(srgb_to_oklab([1.0, 0.0, 0.0]), [0.627955, 0.224863, 0.125846], atol=1e-6)
    grey = srgb_to_oklab([0.5, 0.5, 0.5])
    np.testing.assert_allclose(grey, [(((0.5 + 0.055) / 1.055) ** 2.4) ** (1 / 3), 0.0, 0.0], atol=1e-6)


def test_gamut_mapping_keeps_lightness_and_hue() -> None:
    inside = srgb_to_oklab(np.random.default_rng(1).random((50, 3)))
    np.testing.assert_allclose(oklab_to_srgb_in_gamut(inside), oklab_to_srgb(inside), atol=1e-9)
    vivid = np.array([[0.5, 0.35, 0.1], [0.9, -0.3, 0.2], [0.1, 0.0, -0.3], [0.98, 0.1, 0.1]])
    rgb = oklab_to_srgb_in_gamut(vivid)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    back = srgb_to_oklab(rgb)
    np.testing.assert_allclose(back[:, 0], vivid[:, 0], atol=1e-6)
    np.testing.assert_allclose(np.arctan2(back[:, 2], back[:, 1]), np.arctan2(vivid[:, 2], vivid[:, 1]), atol=1e-4)
    assert (np.hypot(back[:, 1], back[:, 2]) < np.hypot(vivid[:, 1], vivid[:, 2])).all()
