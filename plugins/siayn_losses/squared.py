"""The sum of squared differences, with a gradient in the features' own memory format."""

from __future__ import annotations

from typing import Any

import torch


def squared_error(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum((features - target)^2)``, a scalar.

    Unlike ``F.mse_loss``, whose CPU backward returns a contiguous gradient whatever the
    inputs' layout, the gradient ``2 (features - target)`` keeps the layout of ``features``
    (channels_last in the backbone), so the backbone's own backward does not meet a
    tensor in the other format at the content layer. One pass each way.
    """
    return _SquaredError.apply(features, target)


class _SquaredError(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        difference = features - target
        ctx.save_for_backward(difference)
        return torch.linalg.vector_norm(difference).square()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        (difference,) = ctx.saved_tensors
        gradient = difference * (2 * grad)
        return (
            gradient if ctx.needs_input_grad[0] else None,
            -gradient if ctx.needs_input_grad[1] else None,
        )
