"""Targets computed anew at each stage: the engine's ``stage_target`` hook (what it hands a loss
that declares ``stage_targets``, and when)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from siayn_core import PIXELS, SamplePositions, SiaynError, StageContext, draw_positions, read_hypercolumns
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.host.registry import Component, Registry
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir


def maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    def load(name: str, size: tuple[int, int]) -> Image.Image:
        return read_image(examples_dir() / name).resize(size, Image.Resampling.LANCZOS)

    return {"content": load("tubingen.jpg", (40, 30)), "starry": load("starry_night.jpg", (48, 30)),
            "wave": load("great_wave.jpg", (36, 36))}


def tiny(**settings: Any) -> Any:
    base: dict[str, Any] = {"backbone_options": {"weights": "none"}, "num_steps": 4, "opt": "adam",
                            "precision": "float32", "min_size": 16}
    return build_options({**base, **settings}, where="test")


# --- the hook ----------------------------------------------------------------------------


class StageProbe:
    """A loss with ``stage_targets`` that records what the engine hands it."""

    hypercolumns = True
    stage_targets = True

    def __init__(self, log: list[dict[str, Any]], samples: int | None = None) -> None:
        self.log = log
        if samples is not None:
            self.samples = samples

    def stage_target(self, context: StageContext) -> SamplePositions:
        features = context.features(context.start)
        self.log.append({"context": context, "features": features})
        size = (int(context.start.shape[-2]), int(context.start.shape[-1]))
        return draw_positions(size, 30, torch.Generator().manual_seed(context.seed), guide=context.guide)

    def __call__(self, features: dict[str, torch.Tensor], target: SamplePositions, *,
                 positions: SamplePositions | None, image: torch.Tensor) -> torch.Tensor:
        self.log.append({"image": image.detach().clone(), "positions": positions, "target": target})
        return read_hypercolumns(features, target).square().mean()


def probe_registry(registry: Registry, log: list[dict[str, Any]], **probe: Any) -> Registry:
    copy = Registry()
    for component in registry.components():
        copy.add(component)
    copy.add(Component("loss", "stage-probe", lambda: StageProbe(log, **probe), "test"))
    return copy


def test_a_stage_target_is_asked_per_stage_and_style_with_the_stages_start(registry, images) -> None:
    log: list[dict[str, Any]] = []
    options = tiny(style=["a", "b"], style_loss="stage-probe", style_layers=[PIXELS, "relu1_1", "relu2_1"])
    stylize(images["content"], [images["starry"], images["wave"]], options,
            registry=probe_registry(registry, log), device="cpu", seed=7)
    contexts = [entry["context"] for entry in log if "context" in entry]
    # two stages (16 px, then 30 px short side), each asking once per style
    assert [(c.index, c.count, c.style, c.steps) for c in contexts] == [(0, 2, 0, 1), (0, 2, 1, 1), (1, 2, 0, 3),
                                                                       (1, 2, 1, 3)]
    assert [c.last for c in contexts] == [False, False, True, True]
    assert all(c.seed == 7 and list(c.layers) == [PIXELS, "relu1_1", "relu2_1"] and c.guide is None for c in contexts)
    first, last = contexts[0], contexts[2]
    assert tuple(first.content.shape[-2:]) == (16, 21) and tuple(last.content.shape[-2:]) == (30, 40)
    assert len(last.styles) == 2 and last.reference is last.styles[0] and contexts[3].reference is last.styles[1]
    # the start is what the stage's first evaluation sees: the photo (init_method content),
    # then the first stage's result carried up to the next size
    evaluations = [entry for entry in log if "image" in entry]
    assert torch.equal(first.start, first.content)
    stage_two = [entry for entry in evaluations if entry["image"].shape[-1] == 40]
    assert torch.allclose(stage_two[0]["image"], last.start, atol=1e-6)
    assert not torch.equal(last.start, last.content)
    # features(image): the slot's layers of any picture, without gradients, pixels the picture itself
    features = log[0]["features"]
    assert list(features) == [PIXELS, "relu1_1", "relu2_1"] and features[PIXELS] is first.start
    assert not any(value.requires_grad for value in features.values())
    # without samples, each evaluation reads its target's positions and gets none of the engine's
    assert all(entry["positions"] is None for entry in evaluations) and len(evaluations) == 2 * 4


def test_a_stage_target_loss_with_samples_gets_the_engines_positions(registry, images) -> None:
    log: list[dict[str, Any]] = []
    options = tiny(style_loss="stage-probe", style_layers=["relu1_1"], num_steps=3, min_size=None)
    stylize(images["content"], [images["starry"]], options, registry=probe_registry(registry, log, samples=25),
            device="cpu", seed=1)
    positions = [entry["positions"] for entry in log if "image" in entry]
    assert len(positions) == 3 and all(isinstance(p, SamplePositions) and p.size == (30, 40) for p in positions)
    assert not torch.equal(positions[0].points, positions[1].points)


def test_with_masks_each_style_gets_its_guide(registry, images) -> None:
    log: list[dict[str, Any]] = []
    left = Image.new("L", (40, 30), 0)
    left.paste(255, (0, 0, 20, 30))
    right = Image.new("L", (40, 30), 255)
    right.paste(0, (0, 0, 20, 30))
    options = tiny(style=["a", "b"], style_masks=["l", "r"], style_loss="stage-probe", style_layers=["relu1_1"],
                   num_steps=2, min_size=None)
    stylize(images["content"], [images["starry"], images["wave"]], options, registry=probe_registry(registry, log),
            device="cpu", seed=1, masks=[left, right])
    contexts = [entry["context"] for entry in log if "context" in entry]
    assert [c.style for c in contexts] == [0, 1]
    guides = [c.guide for c in contexts]
    assert all(guide is not None and tuple(guide.shape) == (1, 1, 30, 40) for guide in guides)
    assert float(guides[0][..., :, :20].mean()) == 1.0 and float(guides[0][..., :, 20:].mean()) == 0.0
    assert float(guides[1][..., :, 20:].mean()) == 1.0


def test_a_loss_declaring_stage_targets_without_hypercolumns_is_refused(registry, images) -> None:
    class Flat:
        stage_targets = True

    copy = probe_registry(registry, [])
    copy.add(Component("loss", "flat-stage", Flat, "test"))
    with pytest.raises(SiaynError, match="declares stage_targets but not hypercolumns = True"):
        stylize(images["content"], [images["starry"]], tiny(style_loss="flat-stage"), registry=copy, device="cpu",
                seed=1)
