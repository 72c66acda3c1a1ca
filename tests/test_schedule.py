"""Multi-scale optimization: the stage plan, and tiny coarse-to-fine runs with random weights."""

from __future__ import annotations

import math
from typing import Any

import pytest
from PIL import Image

from siayn_core import SiaynError
from siayn_core.config.build import build_options
from siayn_core.io.resources import examples_dir
from siayn_core.engine import stylize
from siayn_core.host.registry import Registry
from siayn_core.engine.schedule import plan_stages, split_steps, stage_sizes

LAYERS = {"style_layers": ["relu1_1", "relu2_1", "relu3_1"], "content_layers": ["relu2_2"]}


def test_stage_sizes_grow_by_about_the_scale_factor_from_min_size_to_the_target() -> None:
    assert stage_sizes((512, 384), 128) == [(171, 128), (296, 222), (512, 384)]  # 384 / 128 = 2 ** 1.6
    sizes = stage_sizes((512, 384), 128, scale_factor=math.sqrt(2))
    assert sizes[0][1] == 128 and sizes[-1] == (512, 384)
    ratios = [b[1] / a[1] for a, b in zip(sizes, sizes[1:])]
    assert all(abs(ratio - ratios[0]) < 0.02 for ratio in ratios) and 1.3 < ratios[0] < 1.55
    assert all(abs(w / h - 512 / 384) < 0.02 for w, h in sizes)
    assert len(stage_sizes((4096, 3072), 128, scale_factor=2.0)) == 6  # 3072 / 128 = 2 ** 4.6


@pytest.mark.parametrize("min_size", [None, 384, 1000])
def test_no_coarse_stage_when_min_size_is_null_or_not_smaller(min_size: int | None) -> None:
    assert plan_stages((512, 384), 300, min_size=min_size) == plan_stages((512, 384), 300, min_size=None)
    (stage,) = plan_stages((512, 384), 300, min_size=min_size)
    assert stage.size == (512, 384) and stage.steps == 300 and stage.first_step == 1


@pytest.mark.parametrize(
    "total, count, decay, final",
    [(300, 4, 0.5, 0.8), (7, 5, 0.5, 0.8), (3, 5, 0.5, 0.8), (100, 3, 1.0, 0.5), (0, 3, 0.5, 0.8), (50, 3, 0.5, 0.0)],
)
def test_split_steps_adds_up_gives_the_final_share_and_decays_over_coarse_stages(
    total: int, count: int, decay: float, final: float
) -> None:
    steps = split_steps(total, count, decay, final)
    assert sum(steps) == total and len(steps) == count
    coarse = steps[:-1]
    assert all(a >= b for a, b in zip(coarse, coarse[1:])) or total < count
    if total >= count:
        assert min(steps) >= 1
        assert abs(steps[-1] - final * total) <= count


def test_num_steps_is_the_total_most_steps_are_at_the_output_size_and_step_numbers_run_on() -> None:
    stages = plan_stages((512, 384), 300, scale_factor=2.0)
    assert [s.size for s in stages] == [(171, 128), (296, 222), (512, 384)]
    assert [s.steps for s in stages] == [40, 20, 240]
    assert [s.first_step for s in stages] == [1, 41, 61] and stages[-1].last_step == 300
    assert [s.steps for s in plan_stages((512, 384), 300, scale_factor=2.0, final_share=0.5, step_decay=1.0)] == [
        75, 75, 150
    ]


def test_stage_steps_set_the_steps_and_the_number_of_stages() -> None:
    stages = plan_stages((512, 384), 300, stage_steps=[10, 5, 2])
    assert [s.steps for s in stages] == [10, 5, 2] and stages[-1].size == (512, 384)
    assert stages[0].size[1] == 128 and math.isclose(stages[1].size[1], math.sqrt(128 * 384), abs_tol=1)
    assert [s.steps for s in plan_stages((512, 384), 300, min_size=None, stage_steps=[10, 5])] == [15]
    with pytest.raises(SiaynError, match="negative"):
        plan_stages((512, 384), 300, stage_steps=[3, -1])


# --- tiny runs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    def load(name: str, size: tuple[int, int]) -> Image.Image:
        return Image.open(examples_dir() / name).convert("RGB").resize(size, Image.Resampling.LANCZOS)

    return {"content": load("tubingen.jpg", (64, 48)), "style": load("starry_night.jpg", (60, 48))}


def run(registry: Registry, images: dict[str, Image.Image], callback: Any = None, **settings: Any):
    options = build_options({"backbone_options": {"weights": "none"}, "min_size": 24, **LAYERS, **settings}, where="test")
    return stylize(images["content"], [images["style"]], options, registry=registry, device="cpu", seed=3, callback=callback)


def test_a_multiscale_run_numbers_steps_globally_and_ends_at_the_output_size(registry, images) -> None:
    seen = []
    result = run(registry, images, callback=seen.append, num_steps=9, scale_factor=1.41421356)
    assert [it.step for it in seen] == list(range(1, 10)) and {it.num_steps for it in seen} == {9}
    sizes = [tuple(it.image.shape[-2:]) for it in seen]
    assert sizes[0] == (24, 32) and sizes[-1] == (48, 64) and len(set(sizes)) == 3
    assert sizes == sorted(sizes)  # coarse to fine
    assert tuple(result.image.shape) == (1, 3, 48, 64) and result.steps == 9 and len(result.losses) == 9


def test_stopping_in_a_coarse_stage_still_returns_the_output_size(registry, images) -> None:
    result = run(registry, images, callback=lambda it: it.step == 2, num_steps=9)
    assert result.stopped and result.steps == 2 and tuple(result.image.shape) == (1, 3, 48, 64)


def test_single_scale_when_min_size_is_null(registry, images) -> None:
    seen = []
    result = run(registry, images, callback=seen.append, num_steps=4, min_size=None)
    assert {tuple(it.image.shape[-2:]) for it in seen} == {(48, 64)} and result.steps == 4


def test_stage_steps_from_a_config(registry, images) -> None:
    seen = []
    run(registry, images, callback=seen.append, stage_steps=[3, 1])
    assert [tuple(it.image.shape[-2:]) for it in seen] == [(24, 32)] * 3 + [(48, 64)]
    assert {it.num_steps for it in seen} == {4}


def test_content_detail_start_keeps_the_photos_fine_detail_and_the_coarse_change() -> None:
    import torch

    from siayn_core.engine.schedule import upsample, upsample_detail

    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 32, 32, generator=generator) * 0.5 + 0.25  # fine detail everywhere
    small = torch.nn.functional.interpolate(content, size=(16, 16), mode="area")
    change = torch.full_like(small, 0.1)  # what a coarse stage did: brighten everything
    start = upsample_detail(small + change, small, content)
    assert torch.allclose(start, content + 0.1, atol=1e-5)  # the photo's detail, plus the change
    blurred = upsample(small + change, (32, 32))
    assert float((start - (content + 0.1)).abs().mean()) < 0.1 * float((blurred - (content + 0.1)).abs().mean())
    assert float(start.min()) >= 0.0 and float(start.max()) <= 1.0


class CarryingFactory:
    """A factory with ``next_stage``, recording what each stage's optimizer was built from."""

    def __init__(self) -> None:
        self.built: list[tuple[str, Any]] = []

    def __call__(self, params: Any) -> Any:
        import torch

        self.built.append(("fresh", None))
        return torch.optim.SGD(params, lr=0.1)

    def next_stage(self, previous: Any, params: Any) -> Any:
        optimizer = self(params)
        self.built[-1] = ("carried", previous)
        return optimizer


def test_stage_optimizers_hand_the_previous_stages_optimizer_to_a_carrying_factory() -> None:
    import torch

    from siayn_core import CarryingOptimizerFactory
    from siayn_core.engine.schedule import StageOptimizers

    factory = CarryingFactory()
    assert isinstance(factory, CarryingOptimizerFactory)
    stages = StageOptimizers(factory)
    first = stages([torch.zeros(4, requires_grad=True)])
    second = stages([torch.zeros(16, requires_grad=True)])
    stages([torch.zeros(64, requires_grad=True)])
    assert factory.built == [("fresh", None), ("carried", first), ("carried", second)]


def test_a_factory_without_next_stage_builds_every_stage_afresh() -> None:
    import torch

    from siayn_core.engine.schedule import StageOptimizers

    calls = []
    stages = StageOptimizers(lambda params: calls.append(params) or torch.optim.SGD(params, lr=0.1))
    optimizers = [stages([torch.zeros(size, requires_grad=True)]) for size in (4, 16)]
    assert len(calls) == 2 and optimizers[0] is not optimizers[1]


def test_a_multiscale_lbfgs_run_starts_each_stage_from_the_previous_stages_step_scale(
    registry, images, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siayn_optim.lbfgs import ProjectedLBFGS

    carried: list[tuple[int, int]] = []
    start_from = ProjectedLBFGS.start_from

    def recording(self: ProjectedLBFGS, carry: Any) -> None:
        carried.append((carry.numel, self.numel()))
        start_from(self, carry)

    monkeypatch.setattr(ProjectedLBFGS, "start_from", recording)
    run(registry, images, stage_steps=[3, 2, 2])
    assert len(carried) == 2  # into the second and the third stage
    assert all(fine > coarse for coarse, fine in carried) and carried[0][1] == carried[1][0]


@pytest.mark.parametrize("stage_start", ["content-detail", "upsample"])
def test_how_a_stage_starts_from_the_previous_one(registry, images, stage_start: str) -> None:
    import torch

    from siayn_core.io.images import to_tensor

    # Adam with a zero learning rate changes nothing: each stage's image is its start.
    result = run(registry, images, num_steps=4, opt="adam", lr=0.0, init_method="content", stage_start=stage_start)
    photo = to_tensor(images["content"])
    error = float((result.image - photo).abs().max())
    if stage_start == "content-detail":
        assert error < 1e-5  # content + (nothing changed at the coarse size): the photo itself
    else:
        assert error > 0.05  # the coarse stage's photo, upsampled: blurred
        assert torch.allclose(result.image.mean(), photo.mean(), atol=0.02)
