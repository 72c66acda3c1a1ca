"""Adam that can keep its parameters in a box: the projected gradient, then a clamp after each step.

Adam carries nothing from one stage of a multi-scale run to the next: its moments are per pixel,
of another size there, and its step length ``lr`` is already in pixel units, so a fresh Adam's
first step at a new size is as long as its last at the old one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .box import Box


class ProjectedAdam(torch.optim.Adam):
    """``torch.optim.Adam`` whose steps, after :meth:`keep_in_box`, are projected onto a box."""

    box: Box | None = None

    def keep_in_box(self, low: float, high: float) -> bool:
        """Project every later step onto ``[low, high]`` and clamp the parameters into it now."""
        self.box = Box(low, high)
        self.box.clamp(self.boxed_params())
        return True

    def boxed_params(self) -> list[torch.Tensor]:
        """Every parameter of every group."""
        return [param for group in self.param_groups for param in group["params"]]

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """Adam's step on the projected gradient, clamped into the box (a plain step without one)."""
        box = self.box
        if box is None:
            return super().step(closure)
        params = self.boxed_params()

        def projected() -> torch.Tensor:
            loss = closure()  # type: ignore[misc]
            box.project_gradients(params)
            return loss

        if closure is None:
            box.project_gradients(params)
        loss = super().step(None if closure is None else projected)
        box.clamp(params)
        return loss
