"""Projected steps: the image stays in [0, 1] while it is optimized (keep_in_range)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from siayn_core.engine.bounds import BoxProjection, keep_in_box
from siayn_core.config.build import build_options
from siayn_core.io.resources import examples_dir
from siayn_core.engine.loop import optimize_at_size
from siayn_core.engine.objective import Objective, build_components
from siayn_core.io.images import read_image, to_tensor

LAYERS = {"style_layers": ["relu1_1", "relu2_1", "relu3_1"], "content_layers": ["relu2_2"]}


def test_projected_gradient_zeroes_only_components_pushing_out_of_the_box() -> None:
    image = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.5, 0.5], requires_grad=True)
    image.grad = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    BoxProjection(image).project_gradient()
    # Descent moves against the gradient: at 0 a positive gradient points out, at 1 a negative one.
    assert image.grad.tolist() == [0.0, -1.0, 0.0, 1.0, 1.0, -1.0]


def third_party_lbfgs(params: Any) -> torch.optim.Optimizer:
    """An optimizer factory without any of the optional capabilities: torch's L-BFGS."""
    return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=10)


class ProjectedQuadratic:
    """``|x - target|^2`` minimised over [0, 1] with projected steps, for a target half
    outside the box (so unconstrained steps would leave it)."""

    def __init__(self, make_optimizer: Any) -> None:
        self.target = torch.linspace(-1.0, 2.0, 48).reshape(1, 3, 4, 4)
        self.image = torch.full_like(self.target, 0.5).requires_grad_(True)
        self.optimizer: torch.optim.Optimizer = make_optimizer([self.image])
        self.box = keep_in_box(self.optimizer, self.image)

    def closure(self) -> torch.Tensor:
        self.optimizer.zero_grad()
        loss = ((self.image - self.target) ** 2).sum()
        loss.backward()
        if self.box is not None:
            self.box.project_gradient()
        return loss

    def step(self) -> float:
        """One step; the loss of the image it started from."""
        loss = float(self.optimizer.step(self.closure).detach())
        if self.box is not None:
            self.box.after_step()
        return loss


@pytest.mark.parametrize("opt", ["lbfgs", "adam", "rmsprop", "third-party"])
def test_steps_stay_in_the_box_and_reach_the_constrained_minimum(registry: Any, opt: str) -> None:
    options = {"adam": {"lr": 0.05}, "rmsprop": {"lr": 0.01}}.get(opt, {})
    make_optimizer = third_party_lbfgs if opt == "third-party" else registry.create("optimizer", opt, options)
    problem = ProjectedQuadratic(make_optimizer)
    assert (problem.box is None) == (opt != "third-party")  # the built-in optimizers project their own steps
    best = (math.inf, problem.image.detach().clone())
    for _ in range(200):
        image = problem.image.detach().clone()
        best = min(best, (problem.step(), image), key=lambda pair: pair[0])
        image = problem.image.detach()
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    # The best iterate, not the last: a fixed-step L-BFGS at the exact constrained minimum learns
    # pairs from rounding noise and wanders off it (no tolerance stops it, as num_steps decides).
    assert torch.allclose(best[1], problem.target.clamp(0, 1), atol=1e-3)


class Declining(torch.optim.SGD):
    """An optimizer that has ``keep_in_box`` but says it cannot keep this box."""

    def keep_in_box(self, low: float, high: float) -> bool:
        return False


def test_an_optimizer_that_cannot_keep_the_box_gets_the_engines_projection() -> None:
    image = torch.tensor([-0.5, 0.5, 1.5], requires_grad=True)
    box = keep_in_box(Declining([image], lr=0.1), image)
    assert isinstance(box, BoxProjection) and image.detach().tolist() == [0.0, 0.5, 1.0]


def random_vgg_setup(registry: Any, keep_in_range: bool) -> tuple[torch.Tensor, list[torch.Tensor], Objective, Any]:
    options = build_options(
        # float32: on random weights and a 40x32 image a bfloat16 backbone's loss is too rough for
        # ten steps to show the projection's descent.
        {"backbone_options": {"weights": "none"}, "min_size": None, "keep_in_range": keep_in_range,
         "precision": "float32", **LAYERS},
        where="test",
    )
    torch.manual_seed(0)
    components, _ = build_components(options, registry, torch.device("cpu"))
    content = to_tensor(read_image(examples_dir() / "tubingen.jpg").resize((40, 32)))
    style = to_tensor(read_image(examples_dir() / "starry_night.jpg").resize((40, 32)))
    return content, [style], Objective(options, components, 1), components["opt"]


@pytest.mark.parametrize("keep_in_range", [True, False])
def test_the_engine_keeps_the_image_in_range_only_when_asked(registry: Any, keep_in_range: bool) -> None:
    content, styles, objective, make_optimizer = random_vgg_setup(registry, keep_in_range)
    image, records, _ = optimize_at_size(
        content, content, styles, objective, make_optimizer, num_steps=30, keep_in_range=keep_in_range
    )
    assert len(records) == 30
    outside = float(((image < 0) | (image > 1)).float().mean())
    if keep_in_range:
        assert outside == 0.0
    else:
        assert outside > 0.01  # the seed's unconstrained run leaves the box


@pytest.mark.parametrize("factory", ["third-party lbfgs", "third-party sgd"])
def test_an_optimizer_without_the_capabilities_still_runs_and_stays_in_range(registry: Any, factory: str) -> None:
    content, styles, objective, _ = random_vgg_setup(registry, True)
    make_optimizer = third_party_lbfgs if factory == "third-party lbfgs" else (
        lambda params: torch.optim.SGD(params, lr=1e3))
    start = (content * 1.4 - 0.2).clamp(-0.2, 1.2)  # some pixels start outside the box
    image, records, _ = optimize_at_size(start, content, styles, objective, make_optimizer, num_steps=10,
                                         keep_in_range=True)
    assert len(records) == 10 and records[-1]["total"] < records[0]["total"]
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_keep_in_range_is_on_by_default_and_off_in_the_seed_recipe() -> None:
    assert build_options({}, where="test").keep_in_range is True
    assert build_options({"keep_in_range": False}, where="test").keep_in_range is False


def test_a_huge_learning_rate_cannot_blow_up_a_projected_run(registry: Any) -> None:
    content, styles, objective, _ = random_vgg_setup(registry, True)
    make_adam = registry.create("optimizer", "adam", {"lr": 1e30})
    image, records, _ = optimize_at_size(content, content, styles, objective, make_adam, num_steps=5, keep_in_range=True)
    assert len(records) == 5 and bool(torch.isfinite(image).all())
