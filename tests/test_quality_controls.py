"""With the real VGG16 weights, the controls inside the loss do what they say: each masked
region takes its own style, and a kept region keeps the photo (Gatys et al. 2017).

Like test_quality.py, these need ``../shared/weights/vgg16-397923af.pth`` (the
``vgg16_torch_home`` fixture skips them without it); each 128-px run takes about 15 s on two
CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from siayn_core import load_plugins
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.io.images import read_image, resize, to_tensor
from benchmarks.measures import stroke_width
from siayn_core.io.resources import examples_dir

STYLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "style"
LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return read_image(examples_dir() / "tubingen.jpg").resize((128, 96), Image.Resampling.LANCZOS)


def left_half(size: tuple[int, int]) -> Image.Image:
    width, height = size
    return Image.fromarray(np.tile(np.where(np.arange(width) < width // 2, 255, 0), (height, 1)).astype(np.uint8), "L")


def chroma(image: torch.Tensor) -> np.ndarray:
    """The mean Cr and Cb of an image tensor, in 8-bit levels (OpenCV's YCrCb)."""
    pixels = (image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2YCrCb)[..., 1:].reshape(-1, 2).mean(axis=0)


class Judge:
    """Gram distances with the real VGG16, independent of the engine's bookkeeping."""

    def __init__(self, registry) -> None:
        self.extractor = registry.create("backbone", "vgg16").extractor([*LAYERS, "relu4_2"])
        self.gram = registry.create("loss", "gram")

    @torch.no_grad()
    def grams(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.extractor(image)
        return {layer: self.gram.target(features[layer]) for layer in LAYERS}

    def distance(self, image: torch.Tensor, style: torch.Tensor) -> float:
        mine, theirs = self.grams(image), self.grams(style)
        return sum(float(self.gram.compare(mine[layer], theirs[layer])) for layer in LAYERS)

    @torch.no_grad()
    def content_distance(self, image: torch.Tensor, photo: torch.Tensor) -> float:
        return float((self.extractor(image)["relu4_2"] - self.extractor(photo)["relu4_2"]).square().mean())


def test_two_half_masks_give_each_half_its_own_style(vgg16_torch_home: Path, photo: Image.Image) -> None:
    if not STYLES.is_dir():
        pytest.skip(f"the paintings are not at {STYLES}")
    registry = load_plugins().registry
    blue, orange = (read_image(STYLES / name) for name in ("starry_night.jpg", "the_scream.jpg"))
    left = left_half(photo.size)
    options = build_options({"num_steps": 100, "style": ["starry_night.jpg", "the_scream.jpg"],
                             "style_masks": ["left.png", "right.png"]}, where="the controls test")
    result = stylize(photo, [blue, orange], options, registry=registry, device="cpu", seed=0,
                     masks=[left, Image.eval(left, lambda value: 255 - value)])
    judge = Judge(registry)
    styles = [to_tensor(resize(style, (96, 96))) for style in (blue, orange)]
    halves = [result.image[..., :64], result.image[..., 64:]]
    for own, (half, style, other) in enumerate(zip(halves, styles, reversed(styles))):
        own_gram, other_gram = judge.distance(half, style), judge.distance(half, other)
        own_colour = float(np.linalg.norm(chroma(half) - chroma(style)))
        other_colour = float(np.linalg.norm(chroma(half) - chroma(other)))
        print(f"half {own}: Gram distance to its style {own_gram:.3g}, to the other {other_gram:.3g}; "
              f"chroma distance {own_colour:.1f} and {other_colour:.1f} levels")
        assert own_gram < 0.3 * other_gram
        assert own_colour < 0.5 * other_colour


def test_a_kept_region_keeps_the_photo(vgg16_torch_home: Path, photo: Image.Image) -> None:
    registry = load_plugins().registry
    style = read_image(examples_dir() / "starry_night.jpg")
    options = build_options({"num_steps": 100, "content_mask": "keep.png"}, where="the controls test")
    result = stylize(photo, [style], options, registry=registry, device="cpu", seed=0,
                     content_mask=left_half(photo.size))
    judge = Judge(registry)
    original = to_tensor(photo)
    kept = judge.content_distance(result.image[..., :64], original[..., :64])
    stylized = judge.content_distance(result.image[..., 64:], original[..., 64:])
    painting = to_tensor(resize(style, (64, 96)))
    kept_gram, styled_gram = (judge.distance(result.image[..., s], painting) for s in (slice(0, 64), slice(64, None)))
    print(f"content distance: kept half {kept:.4g}, stylized half {stylized:.4g}; "
          f"Gram distance to the style: kept {kept_gram:.3g}, stylized {styled_gram:.3g}")
    assert kept < 0.25 * stylized
    assert styled_gram < 0.5 * kept_gram


def blob_texture(size: int = 192, sigma: float = 4.0) -> Image.Image:
    """A texture of one stroke size: coloured blobs about ``2 * sigma`` pixels across.

    A painting has strokes at many sizes and VGG's receptive field picks which of them the
    Gram matrices see, so a texture of a single size is what shows the scale plainly."""
    field = cv2.GaussianBlur(np.random.default_rng(0).standard_normal((size, size, 3)), (0, 0), sigma)
    return Image.fromarray(np.where(field > 0, 230, 25).astype(np.uint8), "RGB")


def test_a_larger_style_scale_paints_larger_strokes(vgg16_torch_home: Path, photo: Image.Image) -> None:
    registry = load_plugins().registry
    widths = {}
    for scale in (0.5, 2.0):
        options = build_options({"num_steps": 100, "style_scale": scale}, where="the controls test")
        result = stylize(photo, [blob_texture()], options, registry=registry, device="cpu", seed=0)
        widths[scale] = stroke_width(result.image)
    print(f"stroke width (autocorrelation half-width / image width): style_scale 0.5 {widths[0.5]:.4f}, "
          f"2 {widths[2.0]:.4f}")
    assert widths[2.0] > 1.3 * widths[0.5]


def test_a_fine_style_gives_the_fine_layers_its_texture(vgg16_torch_home: Path, photo: Image.Image) -> None:
    if not STYLES.is_dir():
        pytest.skip(f"the paintings are not at {STYLES}")
    registry = load_plugins().registry
    coarse, fine = read_image(examples_dir() / "starry_night.jpg"), read_image(STYLES / "the_scream.jpg")
    options = build_options({"num_steps": 100, "fine_style": "the_scream.jpg"}, where="the controls test")
    result = stylize(photo, [coarse], options, registry=registry, device="cpu", seed=0, fine_style=fine)
    judge = Judge(registry)
    grams = judge.grams(result.image)
    targets = {name: judge.grams(to_tensor(resize(image, (128, 96)))) for name, image in (("coarse", coarse),
                                                                                          ("fine", fine))}

    def distance(layers: list[str], name: str) -> float:
        return sum(float(judge.gram.compare(grams[layer], targets[name][layer])) for layer in layers)

    fine_layers, coarse_layers = ["relu1_1", "relu2_1"], ["relu3_1", "relu4_1", "relu5_1"]
    print(f"fine layers: to the fine style {distance(fine_layers, 'fine'):.3g}, to the coarse "
          f"{distance(fine_layers, 'coarse'):.3g}; coarse layers: to the coarse {distance(coarse_layers, 'coarse'):.3g}, "
          f"to the fine {distance(coarse_layers, 'fine'):.3g}")
    assert distance(fine_layers, "fine") < 0.5 * distance(fine_layers, "coarse")
    assert distance(coarse_layers, "coarse") < 0.5 * distance(coarse_layers, "fine")
