"""Targets computed anew at each stage: the engine's ``stage_target`` hook (what it hands a loss
that declares ``stage_targets``, and when), and ``nn-target``, NNST's loss, against an
exhaustive computation of its blend, nearest-neighbour replacement and final pass."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from siayn_core import PIXELS, SamplePositions, SiaynError, StageContext, draw_positions, read_hypercolumns
from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.host.registry import Component, Registry
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir
from siayn_losses import nnst
from siayn_losses.nnst import NearestTargetLoss


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


# --- nn-target against an exhaustive computation -------------------------------------------


def every_pixel(size: tuple[int, int], count: int, generator: torch.Generator, *,
                guide: torch.Tensor | None = None) -> SamplePositions:
    """Positions at every pixel (inside ``guide``), so that the test can index the maps."""
    rows, columns = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    points = torch.stack((rows.reshape(-1), columns.reshape(-1)), dim=1).float()
    if guide is not None:
        points = points[guide[0, 0].reshape(-1) > 0.5]
    return SamplePositions(points, size)


WEIGHTS = maps(5, 3, 3, 3, seed=1) - 0.5


def toy_features(image: torch.Tensor) -> dict[str, torch.Tensor]:
    """A two-layer "backbone" at full resolution: the pixels and a 3x3 convolution of them."""
    return {PIXELS: image, "a": torch.relu(F.conv2d(image, WEIGHTS.to(image.dtype), padding=1))}


def rows_of(features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The hypercolumn at each pixel, row by row, each layer divided by its channel count."""
    scaled = [value / value.shape[1] for value in features.values()]
    height, width = scaled[0].shape[-2:]
    return [torch.cat([value[0, :, r, c] for value in scaled]) for r in range(height) for c in range(width)]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def context_for(start: torch.Tensor, content: torch.Tensor, style: torch.Tensor, *, index: int = 1, count: int = 3,
                steps: int = 10, guide: torch.Tensor | None = None) -> StageContext:
    return StageContext(start=start, content=content, styles=[style], style=0, guide=guide, layers=[PIXELS, "a"],
                        index=index, count=count, steps=steps, seed=3, features=toy_features)


def exhaustive_replacements(blend: torch.Tensor, style: torch.Tensor) -> list[torch.Tensor]:
    """Each blend hypercolumn's nearest style hypercolumn (the style and its three rotations)
    under the cosine distance after centring each set, as unit vectors, by brute force."""
    queries = rows_of(toy_features(blend))
    candidates = [row for turns in range(4) for row in rows_of(toy_features(torch.rot90(style, turns, dims=(2, 3))))]
    query_mean = sum(queries) / len(queries)
    candidate_mean = sum(candidates) / len(candidates)
    found = []
    for query in queries:
        distances = [1 - cosine(query - query_mean, candidate - candidate_mean) for candidate in candidates]
        best = candidates[distances.index(min(distances))]
        found.append(best / best.norm())
    return found


@pytest.fixture
def pictures(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    monkeypatch.setattr(nnst, "draw_positions", every_pixel)
    return {"start": maps(1, 3, 5, 6, seed=2), "content": maps(1, 3, 5, 6, seed=3), "style": maps(1, 3, 4, 7, seed=4),
            "output": maps(1, 3, 5, 6, seed=5)}


def test_the_stage_target_is_the_blends_nearest_style_hypercolumns_rotations_included(pictures) -> None:
    loss = NearestTargetLoss(content_share=0.75, style_samples=10_000, final_pass=0.0, chunk=7)
    start, content, style = pictures["start"], pictures["content"], pictures["style"]
    target = loss.stage_target(context_for(start, content, style))
    expected = exhaustive_replacements(0.25 * start + 0.75 * content, style)
    assert target.columns.shape == (30, 3 + 5) and target.final is None
    assert torch.allclose(target.columns, torch.stack(expected), atol=1e-12)
    # some replacements come from the rotated copies, which the unrotated style alone lacks
    plain = rows_of(toy_features(style))
    assert any(min(float((row / row.norm() - column).norm()) for row in plain) > 1e-9 for column in target.columns)

    # each evaluation: the mean cosine distance of the output's hypercolumns to their replacements
    output = pictures["output"]
    value = float(loss(toy_features(output), target, positions=None, image=output))
    distances = [1 - cosine(row, column) for row, column in zip(rows_of(toy_features(output)), expected)]
    assert value == pytest.approx(sum(distances) / len(distances), rel=1e-12)


def test_step_samples_read_a_share_of_the_targets_drawn_afresh_each_step(pictures) -> None:
    loss = NearestTargetLoss(final_pass=0.0, step_samples=10)
    target = loss.stage_target(context_for(pictures["start"], pictures["content"], pictures["style"]))
    output = pictures["output"]
    distances = torch.tensor([1 - cosine(row, column)
                              for row, column in zip(rows_of(toy_features(output)), target.columns)],
                             dtype=torch.float64)
    picked = []
    for _ in range(2):
        replay = torch.Generator().set_state(target.generator.get_state())
        chosen = torch.randperm(30, generator=replay)[:10]
        value = float(loss(toy_features(output), target, positions=None, image=output))
        assert value == pytest.approx(float(distances[chosen].mean()), rel=1e-12)
        picked.append(set(chosen.tolist()))
    assert picked[0] != picked[1]


def test_the_first_stage_finds_its_targets_from_the_photo_alone(pictures) -> None:
    loss = NearestTargetLoss(final_pass=0.0)
    target = loss.stage_target(context_for(pictures["start"], pictures["content"], pictures["style"], index=0))
    expected = exhaustive_replacements(pictures["content"], pictures["style"])
    assert torch.allclose(target.columns, torch.stack(expected), atol=1e-12)


def test_the_last_stage_ends_with_the_final_pass(pictures) -> None:
    loss = NearestTargetLoss(final_pass=0.5, samples=12, rotations=False)
    style, output = pictures["style"], pictures["output"]
    target = loss.stage_target(context_for(pictures["start"], pictures["content"], style, index=2, count=3, steps=4))
    assert target.switch == 2 and loss.samples == 12
    positions = SamplePositions(torch.tensor([[0.0, 0.0], [1.0, 4.0], [4.0, 5.0], [2.0, 2.0]]), (5, 6))
    fixed = [float(loss(toy_features(output), target, positions=positions, image=output)) for _ in range(2)]
    final = float(loss(toy_features(output), target, positions=positions, image=output))
    assert fixed[0] == fixed[1] != final
    # the final pass: each position's cosine distance to its nearest candidate, each set centred on its own mean
    all_rows = rows_of(toy_features(output))
    rows = [all_rows[int(r) * 6 + int(c)] for r, c in positions.points.tolist()]
    candidates = rows_of(toy_features(style))
    row_mean, candidate_mean = sum(rows) / len(rows), sum(candidates) / len(candidates)
    nearest = [min(1 - cosine(row - row_mean, candidate - candidate_mean) for candidate in candidates) for row in rows]
    assert final == pytest.approx(sum(nearest) / len(nearest), rel=1e-12)
    # without a final pass the engine draws nothing for it
    assert NearestTargetLoss(final_pass=0.0).samples is None


def test_with_a_guide_the_targets_lie_inside_it(pictures) -> None:
    guide = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    guide[..., :, :3] = 1.0
    target = NearestTargetLoss(final_pass=0.0).stage_target(
        context_for(pictures["start"], pictures["content"], pictures["style"], guide=guide))
    assert len(target.positions) == 15 and float(target.positions.points[:, 1].max()) <= 2


def test_nn_target_passes_gradcheck(pictures) -> None:
    loss = NearestTargetLoss(final_pass=0.5, samples=12, rotations=True)
    target = loss.stage_target(context_for(pictures["start"], pictures["content"], pictures["style"], index=2,
                                           count=3, steps=2))
    positions = SamplePositions(torch.tensor([[0.3, 0.2], [1.7, 3.1], [3.2, 1.4], [3.6, 4.9]]), (5, 6))
    image = pictures["output"].clone().requires_grad_(True)
    # each phase on its own: the fixed targets (before the switch), then the final pass
    for done in (0, target.switch):

        def phase(image: torch.Tensor, done: int = done) -> torch.Tensor:
            target.evaluations = done
            return loss(toy_features(image), target, positions=positions, image=image)

        assert torch.autograd.gradcheck(phase, (image,))


# --- nn-target in runs ---------------------------------------------------------------------------


def siayn(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stderr


def test_a_tiny_nn_target_run_writes_finite_losses(tmp_path: Path, images: dict[str, Image.Image]) -> None:
    paths = {}
    for name in ("content", "starry"):
        paths[name] = tmp_path / f"{name}.png"
        images[name].save(paths[name])
    code, stderr = siayn("stylize", paths["content"], paths["starry"], "-o", tmp_path / "out", "--quiet", "--seed", "2",
                         "--set", "backbone_options.weights=none", "--set", "num_steps=6", "--set", "opt=adam",
                         "--set", "style_loss=nn-target", "--set", "style_weight=1", "--set", "min_size=16",
                         "--set", "style_layers=[relu1_1,relu2_1,relu3_1]", "--set", "content_weight=0",
                         "--set", "parametrization=laplacian")
    assert code == 0, stderr
    [record] = (tmp_path / "out").glob("*/run.json")
    losses = json.loads(record.read_text())["losses"]
    assert len(losses) == 6
    assert all(math.isfinite(value) for step in losses for value in step.values())
    assert all(0 < step["style"] <= 2 for step in losses)
