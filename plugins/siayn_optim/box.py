"""Projection onto a box ``[low, high]``, shared by the optimizers that keep their parameters in one."""

from __future__ import annotations

from collections.abc import Iterable
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
