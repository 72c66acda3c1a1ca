"""SIAYN's own L-BFGS (plugins/siayn_optim): torch's iterates, projected steps, the stage carry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from siayn_optim.lbfgs import ProjectedLBFGS

from siayn_core import CarryingOptimizerFactory, ProjectingOptimizer


def convex_quadratic(size: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """``A`` (symmetric positive definite) and ``b`` of ``x.A.x / 2 - b.x``."""
    generator = torch.Generator().manual_seed(0)
    m = torch.randn(size, size, generator=generator, dtype=torch.float64)
    return m @ m.T / size + 0.1 * torch.eye(size, dtype=torch.float64), torch.randn(size, generator=generator,
                                                                                       dtype=torch.float64)


def iterates(make: Callable[[Sequence[torch.Tensor]], torch.optim.Optimizer], steps: int,
             split: int | None = None) -> tuple[torch.Tensor, int]:
    """The points ``make``'s optimizer visits on the quadratic from 0 (``x`` in two tensors with
    ``split``), and how many times it evaluated the objective."""
    a, b = convex_quadratic()
    parts = [torch.zeros(b.numel(), dtype=torch.float64)] if split is None else [
        torch.zeros(split, dtype=torch.float64), torch.zeros(b.numel() - split, dtype=torch.float64)]
    params = [part.requires_grad_(True) for part in parts]
    optimizer = make(params)
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        x = torch.cat(params)
        loss = 0.5 * x @ a @ x - b @ x
        loss.backward()
        return loss

    points = []
    for _ in range(steps):
        optimizer.step(closure)
        points.append(torch.cat([param.detach() for param in params]))
    return torch.stack(points), evaluations


def torch_lbfgs(params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
    """torch's L-BFGS as SIAYN used it: one evaluation per step, no stopping rule."""
    return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=5, tolerance_grad=0.0, tolerance_change=0.0)


@pytest.mark.parametrize("split", [None, 7])
def test_the_iterates_are_torchs_on_a_convex_problem(split: int | None) -> None:
    # 60 steps with 5 pairs: the history is full and shifts, and the run converges.
    ours, evaluations = iterates(lambda params: ProjectedLBFGS(params, lr=1.0, history_size=5), 60, split)
    theirs, _ = iterates(torch_lbfgs, 60, split)
    assert evaluations == 60  # one objective evaluation per step
    assert torch.allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    a, b = convex_quadratic()
    assert torch.allclose(ours[-1], torch.linalg.solve(a, b), atol=1e-4)  # and it does minimise


def test_a_wrong_history_differs_from_torch() -> None:
    # The comparison above can fail: a shorter memory gives other iterates.
    ours, _ = iterates(lambda params: ProjectedLBFGS(params, lr=1.0, history_size=2), 20)
    theirs, _ = iterates(torch_lbfgs, 20)
    assert not torch.allclose(ours, theirs, rtol=1e-6, atol=1e-9)


class BoxedQuadratic:
    """``|x - target|^2`` over [0, 1], for a target half outside the box."""

    def __init__(self) -> None:
        self.target = torch.linspace(-1.0, 2.0, 48).reshape(1, 3, 4, 4)
        self.image = torch.full_like(self.target, 0.5).requires_grad_(True)
        self.optimizer = ProjectedLBFGS([self.image], lr=1.0, history_size=10)
        assert self.optimizer.keep_in_box(0.0, 1.0)

    def closure(self) -> torch.Tensor:
        self.optimizer.zero_grad()
        loss = ((self.image - self.target) ** 2).sum()
        loss.backward()
        return loss


def test_projected_steps_learn_from_the_step_really_taken() -> None:
    problem = BoxedQuadratic()
    for _ in range(4):
        before = problem.image.detach().clone()
        problem.optimizer.step(problem.closure)
        taken = (problem.image.detach() - before).reshape(-1)
        assert problem.optimizer.last_step is not None
        assert torch.allclose(problem.optimizer.last_step, taken, atol=1e-7)
        assert float(problem.image.detach().min()) >= 0.0 and float(problem.image.detach().max()) <= 1.0
    assert len(problem.optimizer.steps) >= 2
    assert torch.allclose(problem.image.detach(), problem.target.clamp(0, 1), atol=1e-4)


def test_keep_in_box_moves_the_parameters_into_the_box_at_once() -> None:
    image = torch.tensor([-0.5, 0.5, 1.5], requires_grad=True)
    assert ProjectedLBFGS([image]).keep_in_box(0.0, 1.0)
    assert image.detach().tolist() == [0.0, 0.5, 1.0]


def mean_loss(target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A mean over positions against ``target`` resized to the image, as SIAYN's losses are."""

    def loss_of(image: torch.Tensor) -> torch.Tensor:
        resized = torch.nn.functional.interpolate(target, size=tuple(image.shape[-2:]), mode="bilinear")
        return ((image - resized) ** 2).mean()

    return loss_of


def take_steps(optimizer: torch.optim.Optimizer, image: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor],
               steps: int) -> None:
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of(image)
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)


def test_the_next_stage_starts_with_the_step_scale_grown_with_the_pixel_count(registry: Any) -> None:
    factory = registry.create("optimizer", "lbfgs", {"history_size": 10})
    assert isinstance(factory, CarryingOptimizerFactory)
    loss_of = mean_loss(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    coarse = torch.zeros(1, 3, 8, 8, requires_grad=True)
    coarse_optimizer = factory([coarse])
    take_steps(coarse_optimizer, coarse, loss_of, 3)
    assert coarse_optimizer.scale is not None and len(coarse_optimizer.steps) > 0

    fine = torch.nn.functional.interpolate(coarse.detach(), size=(16, 16), mode="bilinear").requires_grad_(True)
    fine_optimizer = factory.next_stage(coarse_optimizer, [fine])
    assert len(fine_optimizer.steps) == 0  # curvature pairs do not carry
    assert float(fine_optimizer.scale) == pytest.approx(4 * float(coarse_optimizer.scale))  # 4x the pixels
    before = float(loss_of(fine.detach()))
    take_steps(fine_optimizer, fine, loss_of, 1)
    assert float(loss_of(fine.detach())) < 0.5 * before  # a full first step

    fresh = torch.nn.functional.interpolate(coarse.detach(), size=(16, 16), mode="bilinear").requires_grad_(True)
    take_steps(factory([fresh]), fresh, loss_of, 1)
    assert float(loss_of(fresh.detach())) > 0.9 * before  # a fresh start's first step is short


def test_nothing_carries_before_a_pair_was_learnt_or_from_another_optimizer(registry: Any) -> None:
    factory = registry.create("optimizer", "lbfgs", {})
    image = torch.zeros(1, 3, 8, 8, requires_grad=True)
    unused = factory([image])
    assert unused.stage_carry() is None
    assert factory.next_stage(unused, [image]).scale is None
    assert factory.next_stage(torch.optim.SGD([image], lr=0.1), [image]).scale is None


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_the_built_in_optimizers_project_their_own_steps(registry: Any, name: str) -> None:
    image = torch.zeros(1, 3, 4, 4, requires_grad=True)
    assert isinstance(registry.create("optimizer", name, {})([image]), ProjectingOptimizer)


def test_adam_carries_nothing_between_stages(registry: Any) -> None:
    assert not isinstance(registry.create("optimizer", "adam", {}), CarryingOptimizerFactory)
