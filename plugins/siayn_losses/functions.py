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
    """``F F^T`` over the pixels of ``(B, C, H, W)`` features, with a one-product backward,
    ``F^T (dG + dG^T)``: autograd's generic bmm backward takes two products and a sum.

    The gradient is written into a fresh tensor in the features' own memory format, not a
    view of a product: autograd then adds the next layer's gradient into it in place, where
    a view would cost one more feature-sized tensor and pass per style layer and step.
    """

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(features)
        rows = _pixel_rows(features)
        return torch.bmm(rows.transpose(1, 2), rows)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        symmetric = grad + grad.transpose(1, 2)
        result = torch.empty_like(features, memory_format=_layout(features))
        rows, out = _pixel_rows(features), _pixel_rows(result)
        if rows.shape[0] == 1:  # mm: a third faster than a one-item bmm on the 64-channel layer
            torch.mm(rows[0], symmetric[0], out=out[0])
        else:
            torch.bmm(rows, symmetric, out=out)
        return result


def _layout(features: torch.Tensor) -> torch.memory_format:
    """channels_last for channels-last features (kept through the backward), else contiguous."""
    if features.shape[1] > 1 and features.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _pixel_rows(features: torch.Tensor) -> torch.Tensor:
    """``(B, H*W, C)``: one row per pixel, a view where the layout allows."""
    batch, channels, height, width = features.shape
    if _layout(features) == torch.channels_last:
        return features.permute(0, 2, 3, 1).view(batch, height * width, channels)
    return features.reshape(batch, channels, height * width).transpose(1, 2)


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G = F F^T`` over the spatial positions, one matrix per batch item: ``(B, C, C)``."""
    batch, channels, height, width = features.shape
    if features.requires_grad:
        gram = _Gram.apply(features)
    else:
        rows = _pixel_rows(features)
        gram = torch.bmm(rows.transpose(1, 2), rows)
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
