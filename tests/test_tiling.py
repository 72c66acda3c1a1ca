"""Tiled evaluation of the objective: the same value and gradient as the whole image, so no seams."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from siayn_core.config.build import build_options
from siayn_core.io.resources import examples_dir
from siayn_core.engine import stylize
from siayn_core.engine.objective import Objective, build_components
from siayn_core.host.registry import Registry
from siayn_core.engine.terms import Terms, detached, total_loss
from siayn_core.engine.tiling import ALIGN, TiledObjective, tile_grid

#: Shallow layers: their receptive field (14 px) fits in the 32 px margin, so tiles see
#: exactly the context the whole image gives every position they count.
SHALLOW = {"style_layers": ["relu1_1", "relu2_1", "relu2_2"], "content_layers": ["relu2_2"]}
#: Tiles and the whole image are compared in float32: in bfloat16 (``precision: auto`` on a CPU
#: that computes it natively) a convolution's rounding depends on the size of its input.
RANDOM = {"backbone_options": {"weights": "none"}, "precision": "float32"}


@pytest.mark.parametrize("offset", [(0, 0), (32, 64), (96, 32)])
def test_tile_cores_cover_every_pixel_once_and_windows_contain_them(offset: tuple[int, int]) -> None:
    height, width = 150, 230
    cover = torch.zeros(height, width, dtype=torch.int32)
    tiles = tile_grid(height, width, tile_size=128, margin=32, offset=offset)
    for tile in tiles:
        top, bottom, left, right = tile.core
        wtop, wbottom, wleft, wright = tile.window
        assert wtop <= top < bottom <= wbottom and wleft <= left < right <= wright
        assert wbottom - wtop <= 128 and wright - wleft <= 128 and wtop % ALIGN == 0 and wleft % ALIGN == 0
        cover[top:bottom, left:right] += 1
    assert bool((cover == 1).all()) and len(tiles) > 4
    assert len(tile_grid(100, 120, tile_size=128, margin=32)) == 1



def evaluated(objective, image: torch.Tensor) -> Terms:
    """``objective``'s terms of ``image``, detached, after their sum's gradient went into ``image.grad``."""
    terms = objective(image)
    total_loss(terms).backward()
    return detached(terms)


@pytest.mark.parametrize(("weights", "style_loss"), [([1e5], "gram"), ([1e5, 3e4], "gram"),
                                                     ([1e3, 3e2], "w2"), ([1e3], "mean-std")])
def test_tiled_objective_has_the_whole_images_value_and_gradient(
    registry: Registry, weights: list[float], style_loss: str
) -> None:
    torch.manual_seed(0)
    options = build_options(
        {**RANDOM, **SHALLOW, "style": ["a"] * len(weights), "style_weight": weights,
         "style_loss": style_loss},
        where="test",
    )
    components, _ = build_components(options, registry, torch.device("cpu"))
    objective = Objective(options, components, len(weights))
    content = torch.rand(1, 3, 150, 230)
    styles = [torch.rand(1, 3, 150, 230), torch.rand(1, 3, 90, 140)][: len(weights)]
    objective.set_targets(content, styles)
    image = torch.rand(1, 3, 150, 230, requires_grad=True)
    terms = evaluated(objective, image)
    expected = image.grad.clone()

    tiled = TiledObjective(objective, tile_size=128, margin=32, generator=torch.Generator().manual_seed(1))
    tiled.set_targets(content, styles)
    assert tiled.style_exact
    for _ in range(2):  # two different random grids
        image.grad = None
        tiled_terms = evaluated(tiled, image)
        assert tiled.tiles_per_step > 4
        torch.testing.assert_close(tiled_terms, terms, rtol=1e-4, atol=1e-5)
        assert float((image.grad - expected).abs().max()) < 1e-4 * float(expected.abs().max())


def test_a_tiled_run_is_seamless(registry: Registry) -> None:
    """Deep layers (context beyond the margin) with tiny tiles: the shifting grid leaves no
    lines in the result where tile borders were."""
    content = Image.open(examples_dir() / "tubingen.jpg").convert("RGB").resize((192, 144))
    style = Image.open(examples_dir() / "starry_night.jpg").convert("RGB").resize((192, 144))
    settings = {**RANDOM, "min_size": None, "num_steps": 4, "init_method": "random"}
    tiled = build_options({**settings, "tile_size": 128, "tile_overlap": 32}, where="test")
    whole = build_options({**settings, "tile_size": None}, where="test")
    results = [
        stylize(content, [style], options, registry=registry, device="cpu", seed=5).image for options in (tiled, whole)
    ]
    difference = (results[0] - results[1]).abs().mean(dim=(0, 1))
    # Any seam would show as columns/rows (on the 32 px lattice) that differ more than the rest.
    assert float(difference.mean()) < 0.05
    column_profile, row_profile = difference.mean(0), difference.mean(1)
    assert float(column_profile.max()) < 3 * float(column_profile.mean()) + 0.01
    assert float(row_profile.max()) < 3 * float(row_profile.mean()) + 0.01


class PlainGram:
    """The Gram loss without its tile declarations, as a third-party loss might be."""

    def __init__(self, gram) -> None:
        self.gram = gram

    def target(self, features: torch.Tensor) -> torch.Tensor:
        return self.gram.target(features)

    def __call__(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.gram(features, target)


def test_a_loss_that_declares_nothing_is_approximated_tile_by_tile(registry: Registry) -> None:
    torch.manual_seed(0)
    options = build_options({**RANDOM, **SHALLOW, "content_weight": 0}, where="test")
    components, _ = build_components(options, registry, torch.device("cpu"))
    components = {**components, "style_loss": PlainGram(components["style_loss"])}
    objective = Objective(options, components, 1)
    content, style = torch.rand(1, 3, 150, 230), torch.rand(1, 3, 150, 230)
    objective.set_targets(content, [style])
    image = torch.rand(1, 3, 150, 230, requires_grad=True)
    terms = detached(objective(image))
    tiled = TiledObjective(objective, tile_size=128, margin=32, generator=torch.Generator().manual_seed(1))
    tiled.set_targets(content, [style])
    tiled_terms = evaluated(tiled, image)
    assert not tiled.style_exact and tiled.tiles_per_step > 4
    # Each tile against the global target, weighted by its share of the positions: by convexity
    # at least the whole image's loss, which the exact evaluation would equal.
    assert float(tiled_terms["style"]) > 1.01 * float(terms["style"])
    assert torch.isfinite(image.grad).all() and float(image.grad.abs().max()) > 0


class SplitGram:
    """The Gram loss reporting half of its value as a term of its own, still exact on tiles."""

    def __init__(self, gram) -> None:
        self.gram = gram
        self.combines = gram.combines

    def target(self, features: torch.Tensor) -> torch.Tensor:
        return self.gram.target(features)

    def __call__(self, features: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.halves(self.gram(features, target))

    def compare(self, representation: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.halves(self.gram.compare(representation, target))

    @staticmethod
    def halves(value: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"style": value / 2, "half-gram": value / 2}


def test_a_loss_with_terms_of_its_own_is_weighted_and_tiled_like_its_slot(registry: Registry) -> None:
    torch.manual_seed(0)
    options = build_options({**RANDOM, **SHALLOW, "style_weight": [1e5]}, where="test")
    components, _ = build_components(options, registry, torch.device("cpu"))
    plain = Objective(options, components, 1)
    split = Objective(options, {**components, "style_loss": SplitGram(components["style_loss"])}, 1)
    content, style = torch.rand(1, 3, 150, 230), torch.rand(1, 3, 150, 230)
    image = torch.rand(1, 3, 150, 230, requires_grad=True)
    plain.set_targets(content, [style])
    expected = evaluated(plain, image)
    image.grad = None
    split.set_targets(content, [style])
    terms = evaluated(split, image)
    assert list(terms) == ["content", "style", "tv", "half-gram"]
    torch.testing.assert_close(terms["style"] + terms["half-gram"], expected["style"])
    torch.testing.assert_close(total_loss(terms), total_loss(expected))
    gradient = image.grad.clone()

    tiled = TiledObjective(split, tile_size=128, margin=32, generator=torch.Generator().manual_seed(1))
    tiled.set_targets(content, [style])
    assert tiled.style_exact
    image.grad = None
    torch.testing.assert_close(evaluated(tiled, image), terms, rtol=1e-4, atol=1e-5)
    assert float((image.grad - gradient).abs().max()) < 1e-4 * float(gradient.abs().max())
