"""With the real VGG16 weights, ``recipe: strotss`` and ``recipe: nnst`` stylize: at 128 px, the
bundled photo as each of the two bundled paintings ends nearer the painting than the photo is,
by Gram matrices and by the sliced Wasserstein distance, and nearer the photo's layout than the
painting is, by the self-similarity of its hypercolumns.

These tests need ``../shared/weights/vgg16-397923af.pth`` (the ``vgg16_torch_home`` fixture
skips them without it). Each recipe runs fewer steps than its own (the 128 px output has two
of its stages); both paintings together take about 60 s per recipe on two CPU cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from siayn_core import draw_positions, load_plugins
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.host.registry import Registry
from siayn_core.io.images import read_image, resize, scaled_size, to_tensor
from siayn_core.io.resources import examples_dir

#: The layers the distances are measured on: Gatys et al.'s style layers, and three of them for the layout.
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
LAYOUT_LAYERS = ["relu2_1", "relu3_1", "relu4_1"]

#: Steps per run: enough at 128 px, where a run has two stages (64 and 128 px on the long side).
STEPS = {"strotss": 80, "nnst": 200}


class Distances:
    """Distances measured with the project's own losses, in float32, on VGG16's features."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.extractor = registry.create("backbone", "vgg16").extractor(STYLE_LAYERS)
        self.gram = registry.create("loss", "gram")
        self.similarity = registry.create("loss", "self-similarity")

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return dict(self.extractor(image))

    def gram_distance(self, image: torch.Tensor, painting: torch.Tensor) -> float:
        """The Gram losses of ``image`` against the painting, summed over the style layers."""
        mine, theirs = self.features(image), self.features(painting)
        return sum(float(self.gram(mine[layer], self.gram.target(theirs[layer]))) for layer in STYLE_LAYERS)

    def sliced_distance(self, image: torch.Tensor, painting: torch.Tensor) -> float:
        """The sliced Wasserstein losses, on the same random directions for every image measured."""
        loss = self.registry.create("loss", "sliced-wasserstein", {"seed": 0})
        mine, theirs = self.features(image), self.features(painting)
        return sum(float(loss(mine[layer], loss.target(theirs[layer]))) for layer in STYLE_LAYERS)

    def layout_distance(self, image: torch.Tensor, photo: torch.Tensor) -> float:
        """The self-similarity loss of ``image``'s hypercolumns against the photo's, at 1024
        positions drawn with a fixed seed (``image`` has the photo's size)."""
        positions = draw_positions(tuple(photo.shape[-2:]), 1024, torch.Generator().manual_seed(0))
        mine, theirs = self.features(image), self.features(photo)
        target = self.similarity.target({layer: theirs[layer] for layer in LAYOUT_LAYERS})
        return float(self.similarity({layer: mine[layer] for layer in LAYOUT_LAYERS}, target, positions=positions))


@pytest.mark.parametrize("recipe", ["strotss", "nnst"])
def test_each_recipe_paints_the_photo_in_each_painting_and_keeps_its_layout(vgg16_torch_home: Path,
                                                                            recipe: str) -> None:
    registry = load_plugins().registry
    distances = Distances(registry)
    content = read_image(examples_dir() / "tubingen.jpg")
    options = build_options({"recipe": recipe, "size": 128, "num_steps": STEPS[recipe]}, where="the quality test")
    for name in ("starry_night.jpg", "great_wave.jpg"):
        style = read_image(examples_dir() / name)
        started = time.perf_counter()
        result = stylize(content, [style], options, registry=registry, device="cpu", seed=0)
        seconds = time.perf_counter() - started
        image = result.image
        height, width = image.shape[-2:]
        photo = to_tensor(resize(content, (width, height)))
        # the painting as the run sees it at the last stage (style_resize: short-side)
        painting = to_tensor(resize(style, scaled_size(style.size, min(width, height) / min(style.size))))
        stretched = to_tensor(resize(style, (width, height)))
        gram = distances.gram_distance(image, painting), distances.gram_distance(photo, painting)
        sliced = distances.sliced_distance(image, painting), distances.sliced_distance(photo, painting)
        layout = distances.layout_distance(image, photo), distances.layout_distance(stretched, photo)
        print(f"{recipe}, {name}, {result.steps} steps in {seconds:.1f} s: Gram {gram[0]:.3g} (photo {gram[1]:.3g}), "
              f"sliced Wasserstein {sliced[0]:.3g} (photo {sliced[1]:.3g}), self-similarity to the photo "
              f"{layout[0]:.3g} (painting {layout[1]:.3g})")
        assert gram[0] < 0.5 * gram[1]
        assert sliced[0] < 0.5 * sliced[1]
        assert layout[0] < layout[1]
