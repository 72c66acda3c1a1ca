"""Projection onto a box ``[low, high]``, shared by the optimizers that keep their parameters in one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Box:
    """The interval every parameter is kept in."""

    low: float
    high: float

    @torch.no_grad()
    def project_gradients(self, params: Iterable[torch.Tensor]) -> None:
        """Zero each gradient component where descent would push a parameter on a bound out of the box."""
        for param in params:
            grad = param.grad
            if grad is not None:
                outward = ((param <= self.low) & (grad > 0)) | ((param >= self.high) & (grad < 0))
                grad.masked_fill_(outward, 0.0)

    @torch.no_grad()
    def clamp(self, params: Iterable[torch.Tensor]) -> None:
        """Move every parameter into the box."""
        for param in params:
            param.clamp_(self.low, self.high)


class BoxedSteps:
    """Projected steps for a first-order ``torch.optim`` optimizer, mixed in before it: after
    :meth:`keep_in_box`, each step takes the projected gradient and ends with a clamp.

    A first-order method keeps no model of the objective that the clamp could make wrong, so
    this is all a projected step needs.
    """

    box: Box | None = None
    param_groups: list[dict]

    def keep_in_box(self, low: float, high: float) -> bool:
        """Project every later step onto ``[low, high]`` and clamp the parameters into it now."""
        self.box = Box(low, high)
        self.box.clamp(self.boxed_params())
        return True

    def boxed_params(self) -> list[torch.Tensor]:
        """Every parameter of every group."""
        return [param for group in self.param_groups for param in group["params"]]

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """The optimizer's step on the projected gradient, clamped into the box (a plain step without one)."""
        box = self.box
        step = super().step  # type: ignore[misc]
        if box is None:
            return step(closure)
        params = self.boxed_params()

        def projected() -> torch.Tensor:
            loss = closure()  # type: ignore[misc]
            box.project_gradients(params)
            return loss

        if closure is None:
            box.project_gradients(params)
        loss = step(None if closure is None else projected)
        box.clamp(params)
        return loss
