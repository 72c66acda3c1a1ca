"""The built-in loss functions (see :class:`siayn_core.Loss` for the protocol)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .gram import gram_matrix, weighted_gram_matrix
from .squared import squared_error


class MSELoss:
    """Content loss: squared difference between the feature maps and the content's."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction
        self.combines = reduction

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """The content's feature maps themselves."""
        return features.detach()

    def __call__(self, features: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Mean squared difference, or the paper's ``1/2 * sum((F - P)^2)``."""
        assert target is not None
        if self.reduction == "sum":
            return 0.5 * squared_error(features, target)
        return squared_error(features, target) / features.numel()


class RepresentationLoss:
    """A loss of the features' representation against the target: ``compare(target(F), T)``,
    with the representation taken over the positions a guide weights (masks)."""

    guided = True

    def __call__(
        self, features: torch.Tensor, target: torch.Tensor | None, guide: torch.Tensor | None = None
    ) -> torch.Tensor:
        assert target is not None
        return self.compare(self.target(features, guide=guide), target)  # type: ignore[attr-defined]


class GramLoss(RepresentationLoss):
    """Style loss: squared difference between Gram matrices (Gatys et al. 2016, eq. 4)."""

    takes_bfloat16 = True

    def __init__(self, normalize: bool = True, reduction: str = "mean") -> None:
        self.normalize = normalize
        self.reduction = reduction
        self.combines = "mean" if normalize else "sum"

    def target(self, features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """The Gram matrix of ``features`` (of the positions ``guide`` weights)."""
        if guide is None:
            return gram_matrix(features, self.normalize)
        return weighted_gram_matrix(features, guide, self.normalize)

    def compare(self, representation: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The squared difference of two Gram matrices."""
        return F.mse_loss(representation, target, reduction=self.reduction)


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


class TemporalLoss:
    """A clip frame's temporal loss (Ruder et al. 2016, eq. 7): the squared difference of the
    image to the previous stylized frame warped onto it, counted where ``guide`` trusts the
    flow, over the image's number of values."""

    guided = True

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """The warped previous frame itself."""
        return features.detach()

    def __call__(self, image: torch.Tensor, target: torch.Tensor | None, guide: torch.Tensor | None = None) -> torch.Tensor:
        assert target is not None
        difference = (image - target).square()
        if guide is not None:
            difference = difference * guide
        return difference.sum() / image.numel()
