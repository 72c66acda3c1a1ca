"""The built-in loss functions (see :class:`siayn_core.Loss` for the protocol)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class MSELoss:
    """Content loss: squared difference between the feature maps and the content's."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """The content's feature maps themselves."""
        return features.detach()

    def __call__(self, features: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Mean squared difference, or the paper's ``1/2 * sum((F - P)^2)``."""
        assert target is not None
        if self.reduction == "sum":
            return 0.5 * F.mse_loss(features, target, reduction="sum")
        return F.mse_loss(features, target)


class _Gram(torch.autograd.Function):
    """``F F^T`` with a one-product backward, ``(dG + dG^T) F``: autograd's generic bmm
    backward takes two products and a sum, several times slower on the large early layers."""

    @staticmethod
    def forward(ctx: Any, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return torch.bmm(flat, flat.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        symmetric = grad + grad.transpose(1, 2)
        if flat.stride(1) == 1 and flat.shape[1] > 1:
            # Channels-last features: return the gradient in their layout, (F^T S)^T, so
            # the backbone's backward does not mix memory formats (slow on the CPU).
            if flat.shape[0] == 1:  # mm: a third faster than a one-item bmm on the 64-channel layer
                return torch.mm(flat[0].transpose(0, 1), symmetric[0]).transpose(0, 1).unsqueeze(0)
            return torch.bmm(flat.transpose(1, 2), symmetric).transpose(1, 2)
        return torch.bmm(symmetric, flat)


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G = F F^T`` over the spatial positions, one matrix per batch item: ``(B, C, C)``."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    gram = _Gram.apply(flat) if flat.requires_grad else torch.bmm(flat, flat.transpose(1, 2))
    if normalize:
        gram = gram / (channels * height * width)
    return gram


class GramLoss:
    """Style loss: squared difference between Gram matrices (Gatys et al. 2016, eq. 4)."""

    def __init__(self, normalize: bool = True, reduction: str = "sum") -> None:
        self.normalize = normalize
        self.reduction = reduction

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """The style's Gram matrix."""
        return gram_matrix(features.detach(), self.normalize)

    def __call__(self, features: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        assert target is not None
        return F.mse_loss(gram_matrix(features, self.normalize), target, reduction=self.reduction)


class TotalVariationLoss:
    """Anisotropic total variation of an image: differences between neighbouring pixels."""

    def __init__(self, squared: bool = False, reduction: str = "sum") -> None:
        self.squared = squared
        self.reduction = reduction

    def target(self, features: torch.Tensor) -> None:
        """A regularizer has no target; the engine passes ``None``."""
        return None

    def __call__(self, image: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        down = image[..., 1:, :] - image[..., :-1, :]
        right = image[..., :, 1:] - image[..., :, :-1]
        if self.squared:
            down, right = down.square(), right.square()
        else:
            down, right = down.abs(), right.abs()
        if self.reduction == "mean":
            return down.mean() + right.mean()
        return down.sum() + right.sum()
