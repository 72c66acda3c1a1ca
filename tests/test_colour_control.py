"""``color_control``: luminance-only optimization and colour matching of the styles
(Gatys et al. 2017), and NNST's OkLab chroma step after the run, on tiny images with random
weights; the real-weights check of the luminance's stylization is in test_quality.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from siayn_core import SiaynError
from siayn_core.engine.colour_control import (
    chroma_statistics,
    luminance,
    luminance_image,
    match_colours,
    matched_chroma,
    smooth_chroma,
    with_lightness_of,
)
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
    with pytest.raises(SiaynError, match="color_control.*must be one of none, luminance, match, oklab-chroma"):
        build_options({"color_control": "sepia"}, where="test")


@pytest.mark.parametrize("control", ["luminance", "match", "oklab-chroma"])
def test_every_control_takes_several_styles(registry, photo, painting, control) -> None:
    wave = read_image(examples_dir() / "great_wave.jpg").resize((40, 40), Image.Resampling.LANCZOS)
    options = build_options({"color_control": control, "num_steps": 2, "style": ["a", "b"],
                             "style_weight": [6e5, 6e5], **RANDOM}, where="test")
    result = stylize(photo, [painting, wave], options, registry=registry, device="cpu", seed=4)
    assert result.image.shape == (1, 3, 36, 48) and len(result.losses) == 2


# -- OkLab and oklab-chroma ----------------------------------------------------------------


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


def oklab_chroma(image: Image.Image | np.ndarray) -> np.ndarray:
    rgb = np.asarray(image, dtype=np.float64) / (255.0 if isinstance(image, Image.Image) else 1.0)
    return srgb_to_oklab(rgb)[..., 1:].reshape(-1, 2)


def test_the_photos_chroma_takes_the_paintings_statistics(photo, painting) -> None:
    statistics = chroma_statistics([painting])
    painting_chroma = oklab_chroma(painting)
    np.testing.assert_allclose(statistics.mean, painting_chroma.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(statistics.covariance, np.cov(painting_chroma, rowvar=False, bias=True), atol=1e-12)
    matched = matched_chroma(np.asarray(photo) / 255.0, statistics).reshape(-1, 2)
    np.testing.assert_allclose(matched.mean(axis=0), statistics.mean, atol=1e-9)
    covariance = np.cov(matched, rowvar=False, bias=True)
    assert np.abs(covariance - statistics.covariance).max() < 0.01 * np.abs(statistics.covariance).max()
    photo_covariance = np.cov(oklab_chroma(photo), rowvar=False, bias=True)
    assert np.abs(photo_covariance - statistics.covariance).max() > 0.15 * np.abs(statistics.covariance).max()
    # Unsmoothed, the recoloured result has those statistics too, but for the few colours out of gamut.
    result = np.random.default_rng(2).random((36, 48, 3)) * 0.4 + 0.3
    recoloured = oklab_chroma(with_lightness_of(result, matched.reshape(36, 48, 2), smooth=False))
    np.testing.assert_allclose(recoloured.mean(axis=0), statistics.mean, atol=2e-3)
    assert np.abs(np.cov(recoloured, rowvar=False, bias=True) - statistics.covariance).max() < (
        0.05 * np.abs(statistics.covariance).max())


def test_the_recoloured_result_keeps_its_lightness(photo, painting) -> None:
    result = np.random.default_rng(3).random((36, 48, 3))
    chroma = matched_chroma(np.asarray(photo) / 255.0, chroma_statistics([painting])).reshape(36, 48, 2)
    for smooth in (True, False):
        recoloured = with_lightness_of(result, chroma, smooth=smooth)
        assert recoloured.shape == result.shape and recoloured.min() >= 0.0 and recoloured.max() <= 1.0
        np.testing.assert_allclose(srgb_to_oklab(recoloured)[..., 0], srgb_to_oklab(result)[..., 0], atol=1e-6)


def test_the_chroma_is_smoothed_within_the_results_edges() -> None:
    noise = np.random.default_rng(4).normal(0.0, 0.02, (40, 40, 2))
    lightness = np.full((40, 40), 0.3)
    lightness[:, 20:] = 0.7
    chroma = noise + np.where(np.arange(40)[None, :, None] < 20, 0.1, -0.1)
    smoothed = smooth_chroma(lightness, chroma)
    # Smoother on each side, and no colour crosses the lightness edge.
    assert smoothed[:, :19].std() < 0.7 * chroma[:, :19].std() and smoothed[:, 21:].std() < 0.7 * chroma[:, 21:].std()
    assert abs(smoothed[:, 19].mean() - 0.1) < 0.01 and abs(smoothed[:, 20].mean() + 0.1) < 0.01
    # A flat lightness leaves a plain spatial average: the edge in the chroma is blurred.
    flat = smooth_chroma(np.full((40, 40), 0.5), chroma)
    assert abs(flat[:, 19].mean() - 0.1) > 0.02


def test_oklab_chroma_keeps_the_results_lightness_and_leaves_the_previews(registry, photo, painting) -> None:
    seen: list[torch.Tensor] = []
    options = build_options({"color_control": "oklab-chroma", "num_steps": 4, **RANDOM}, where="test")
    result = stylize(photo, [painting], options, registry=registry, device="cpu", seed=6,
                     callback=lambda iterate: seen.append(iterate.image))
    # The run optimizes as without colour control: only the finished image differs.
    plain = stylize(photo, [painting], build_options({"num_steps": 4, **RANDOM}, where="test"),
                    registry=registry, device="cpu", seed=6)

    def lab(image: torch.Tensor) -> np.ndarray:
        return srgb_to_oklab(image[0].permute(1, 2, 0).double().numpy())

    np.testing.assert_allclose(lab(result.image)[..., 0], lab(plain.image)[..., 0], atol=1e-5)
    matched = matched_chroma(np.asarray(photo) / 255.0, chroma_statistics([painting]))
    assert np.abs(lab(result.image)[..., 1:] - matched).mean() < 0.5 * np.abs(lab(plain.image)[..., 1:] - matched).mean()
    assert torch.equal(seen[-1], plain.image)  # the previews show the run's own colours


def test_the_cli_takes_oklab_chroma_and_records_it(tmp_path, photo, painting) -> None:
    import json

    from click.testing import CliRunner

    from siayn_core.cli import main

    photo.save(tmp_path / "photo.png")
    painting.save(tmp_path / "painting.png")
    done = CliRunner().invoke(main, [
        "stylize", str(tmp_path / "photo.png"), str(tmp_path / "painting.png"), "-o", str(tmp_path / "out"),
        "--set", "color_control=oklab-chroma", "--set", "num_steps=2", "--set", "backbone_options.weights=none",
        "--quiet",
    ])
    assert done.exit_code == 0, done.output
    record = json.loads(next((tmp_path / "out").rglob("run.json")).read_text())
    assert record["config"]["color_control"] == "oklab-chroma"
