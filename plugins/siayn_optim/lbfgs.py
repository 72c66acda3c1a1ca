"""SIAYN's L-BFGS: one objective evaluation per step, projected steps, a stage-to-stage carry.

Each ``step(closure)`` evaluates the objective once and moves by the two-loop recursion's
quasi-Newton direction with a fixed step length ``lr`` (Nocedal and Wright, Algorithm 7.4),
as ``torch.optim.LBFGS(max_iter=1)`` without a line search does, so that successive steps form
one L-BFGS run and ``num_steps`` counts evaluations. The first step of a fresh optimizer has the
length ``lr * min(1, 1 / sum|g|)`` along ``-g``, like torch's; unprojected, the iterates are
torch's to rounding. Two departures from torch, both only where its state would be wrong:

- the curvature pair ``s`` of a step is the step actually taken (after projection onto the
  box), not the direction times the step length;
- a step whose direction is not a descent direction is not taken, and no pair is learnt from it.

With :meth:`ProjectedLBFGS.keep_in_box` every step is a projected one: the gradient's components
that push a parameter on a bound outwards count as zero (in the direction and in the pairs), and
the parameters are clamped into the box after the step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from .box import Box

#: Pairs whose ``y.s`` is not above this are skipped: the curvature they show is not positive.
MIN_CURVATURE = 1e-10


@dataclass(frozen=True)
class StepScale:
    """What one stage's L-BFGS hands to the next's: the scale of its initial inverse Hessian
    (``s.y / y.y`` of its latest pair) and the number of parameters it had."""

    scale: torch.Tensor
    numel: int


class ProjectedLBFGS(torch.optim.Optimizer):
    """L-BFGS with a fixed step length and one closure evaluation per step (see the module).

    :param params: the tensors optimized (one parameter group).
    :param lr: the step length along the quasi-Newton direction.
    :param history_size: the number of curvature pairs ``(s, y)`` kept.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, history_size: int = 100) -> None:
        if lr < 0:
            raise ValueError(f"lr must not be negative, got {lr}")
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        super().__init__(params, {"lr": lr, "history_size": history_size})
        if len(self.param_groups) != 1:
            raise ValueError("ProjectedLBFGS takes one parameter group")
        self.params: list[torch.Tensor] = list(self.param_groups[0]["params"])
        self.box: Box | None = None
        self.steps: deque[torch.Tensor] = deque(maxlen=history_size)  # s of each pair: a step taken
        self.gradient_changes: deque[torch.Tensor] = deque(maxlen=history_size)  # y: the gradient's change over it
        self.inverse_curvatures: deque[torch.Tensor] = deque(maxlen=history_size)  # 1 / (y.s)
        self.scale: torch.Tensor | None = None  # the initial inverse Hessian's scale, once known
        self.previous_gradient: torch.Tensor | None = None
        self.last_step: torch.Tensor | None = None  # s of the last step, paired at the next one
        self.started = False  # False until the first step, or a carried step scale

    def keep_in_box(self, low: float, high: float) -> bool:
        """Project every later step onto ``[low, high]`` and clamp the parameters into it now."""
        self.box = Box(low, high)
        self.box.clamp(self.params)
        return True

    def stage_carry(self) -> StepScale | None:
        """The step scale for the next stage's optimizer, or None before a pair was learnt."""
        scale = self.scale
        if scale is None or not bool(torch.isfinite(scale)) or float(scale) <= 0:
            return None
        return StepScale(scale.detach().clone(), self.numel())

    def start_from(self, carry: StepScale) -> None:
        """Start with the previous stage's step scale, grown with the number of parameters.

        The losses are means over positions, so the gradient per pixel, and with it the
        curvature, shrinks in proportion to the pixel count; the inverse Hessian grows. The
        first step is then a full one along ``-scale * g`` rather than the short
        ``lr / sum|g|`` of a fresh start.
        """
        self.scale = carry.scale.to(self.params[0].device) * (self.numel() / max(1, carry.numel))
        self.started = True

    def numel(self) -> int:
        """The number of values optimized."""
        return sum(param.numel() for param in self.params)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """Evaluate ``closure`` (which must compute the gradients) once and take one step."""
        with torch.enable_grad():
            loss = closure()
        if self.box is not None:
            self.box.project_gradients(self.params)
        flat_grad = self.flat_gradient()
        if bool(flat_grad.abs().max() <= 0):
            return loss  # stationary: nothing to learn, nowhere to go (a NaN gradient goes on, as in torch)
        self.remember(flat_grad)
        lr = float(self.param_groups[0]["lr"])
        if self.started:
            direction = self.direction(flat_grad)
            length = lr
        else:
            direction = flat_grad.neg()
            length = float(min(1.0, 1.0 / flat_grad.abs().sum()) * lr)  # in torch's precision
            self.started = True
        self.previous_gradient = flat_grad
        if bool(flat_grad.dot(direction) > 0):
            self.last_step = None
            return loss
        self.last_step = self.move(direction, length)
        return loss

    def flat_gradient(self) -> torch.Tensor:
        """All gradients as one new vector (zeros for a parameter without one)."""
        return torch.cat([
            torch.zeros(param.numel(), dtype=param.dtype, device=param.device) if param.grad is None
            else param.grad.reshape(-1)
            for param in self.params
        ])

    def remember(self, flat_grad: torch.Tensor) -> None:
        """Learn the pair of the last step and the gradient's change over it, where its curvature is positive."""
        if self.last_step is None or self.previous_gradient is None:
            return
        change = flat_grad.sub(self.previous_gradient)
        curvature = change.dot(self.last_step)
        if curvature > MIN_CURVATURE:
            self.gradient_changes.append(change)
            self.steps.append(self.last_step)
            self.inverse_curvatures.append(1.0 / curvature)
            self.scale = curvature / change.dot(change)

    def direction(self, flat_grad: torch.Tensor) -> torch.Tensor:
        """``-H g`` for the L-BFGS inverse-Hessian estimate ``H`` (the two-loop recursion)."""
        alphas = []
        q = flat_grad.neg()
        for s, y, rho in zip(reversed(self.steps), reversed(self.gradient_changes), reversed(self.inverse_curvatures)):
            alpha = s.dot(q) * rho
            q.add_(y, alpha=-alpha)
            alphas.append(alpha)
        r = q if self.scale is None else q.mul_(self.scale)
        for s, y, rho, alpha in zip(self.steps, self.gradient_changes, self.inverse_curvatures, reversed(alphas)):
            beta = y.dot(r) * rho
            r.add_(s, alpha=alpha - beta)
        return r

    def move(self, direction: torch.Tensor, length: float) -> torch.Tensor:
        """Add ``length * direction`` to the parameters (then clamp them into the box) and
        return the step taken, flat."""
        before = None if self.box is None else torch.cat([param.reshape(-1) for param in self.params])
        offset = 0
        for param in self.params:
            count = param.numel()
            param.add_(direction[offset:offset + count].view_as(param), alpha=length)
            offset += count
        if self.box is None or before is None:
            return direction.mul(length)
        self.box.clamp(self.params)
        return torch.cat([param.reshape(-1) for param in self.params]).sub_(before)
