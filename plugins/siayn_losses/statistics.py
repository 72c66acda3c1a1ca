"""Style losses that match feature statistics: ``w2`` (means and covariances, the
Wasserstein-2 distance between Gaussian fits) and ``mean-std`` (per-channel means and
standard deviations, as AdaIN matches them).

Both represent features by moments averaged over positions (the mean and the second moment),
which add up over tiles; the distances are taken from those moments in :meth:`compare`.
"""

from __future__ import annotations

import weakref

import torch

from .functions import RepresentationLoss
from .gram import gram_matrix, total_weight, weighted_gram_matrix


def _moments(features: torch.Tensor, guide: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(B, C)`` and second moment ``E[f f^T]`` ``(B, C, C)`` over the positions
    (weighted by ``guide`` when given)."""
    mean = _weighted_mean(features, guide)
    if guide is None:
        return mean, gram_matrix(features, normalize=False) / (features.shape[-2] * features.shape[-1])
    return mean, weighted_gram_matrix(features, guide, normalize=False) / total_weight(guide)


def _weighted_mean(values: torch.Tensor, guide: torch.Tensor | None) -> torch.Tensor:
    """The mean of ``values`` over positions, ``(B, C)`` (weighted by ``guide`` when given)."""
    if guide is None:
        return values.mean(dim=(-2, -1))
    return (values * guide).sum(dim=(-2, -1)) / total_weight(guide)


def _covariance(representation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance packed in a ``w2`` representation."""
    mean, second = representation[:, 0], representation[:, 1:]
    return mean, second - mean.unsqueeze(-1) * mean.unsqueeze(-2)


def _square_root(matrix: torch.Tensor) -> torch.Tensor:
    """The square root of a symmetric positive semi-definite matrix (eigenvalues clamped at 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)


class _StatisticsLoss(RepresentationLoss):
    """Moments averaged over positions, compared per channel when ``normalize``."""

    combines = "mean"
    normalize: bool

    def _per_channel(self, distance: torch.Tensor, channels: int) -> torch.Tensor:
        return distance / channels if self.normalize else distance


class W2Loss(_StatisticsLoss):
    """The squared Wasserstein-2 distance between Gaussians fitted to the features and the
    style's: ``|m - m_s|^2 + tr(S + S_s - 2 (S_s^1/2 S S_s^1/2)^1/2)``.

    The matrix square roots run in float64 through eigendecompositions of the ``C x C``
    covariances; the trace of the inner root is the sum of its eigenvalues' square roots,
    whose gradient stays finite where eigenvalues repeat.
    """

    def __init__(self, normalize: bool = True, ridge: float = 1e-5) -> None:
        self.normalize = normalize
        self.ridge = ridge
        self._styles: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def target(self, features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """Mean and second moment, packed as ``(B, C + 1, C)``: row 0 the mean."""
        mean, second = _moments(features, guide)
        return torch.cat((mean.unsqueeze(1), second), dim=1)

    def _style_statistics(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The style's mean, its covariance's square root and trace, computed once per target tensor."""
        key = id(target)
        cached = self._styles.get(key)
        if cached is None or cached[0]() is not target:
            mean, covariance = _covariance(target.detach().double())
            channels = covariance.shape[-1]
            # A small ridge keeps the root well conditioned where the style has flat channels.
            ridge = self.ridge * covariance.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1e-12)
            covariance = covariance + ridge[:, None, None] * torch.eye(channels, dtype=covariance.dtype,
                                                                        device=covariance.device)
            trace = covariance.diagonal(dim1=-2, dim2=-1).sum(-1)
            cached = (weakref.ref(target), mean, _square_root(covariance), trace)
            self._styles[key] = cached
            weakref.finalize(target, self._styles.pop, key, None)
        return cached[1], cached[2], cached[3]

    def compare(self, representation: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The squared W2 distance between the Gaussians of two representations."""
        style_mean, root, style_trace = self._style_statistics(target)
        mean, covariance = _covariance(representation.double())
        inner = root @ covariance @ root
        inner = (inner + inner.transpose(-1, -2)) / 2
        cross = torch.linalg.eigvalsh(inner).clamp(min=1e-12).sqrt().sum(-1)
        trace = covariance.diagonal(dim1=-2, dim2=-1).sum(-1)
        distance = (mean - style_mean).square().sum(-1) + trace + style_trace - 2 * cross
        return self._per_channel(distance, representation.shape[-1]).sum().to(representation.dtype)


class MeanStdLoss(_StatisticsLoss):
    """Squared differences of the per-channel means and standard deviations (the statistics
    AdaIN transfers)."""

    def __init__(self, normalize: bool = True, eps: float = 1e-5) -> None:
        self.normalize = normalize
        self.eps = eps

    def target(self, features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """Per-channel mean and mean square, packed as ``(B, 2, C)``."""
        return torch.stack((_weighted_mean(features, guide), _weighted_mean(features.square(), guide)), dim=1)

    def compare(self, representation: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The squared differences of means and standard deviations."""
        mean, std = self._mean_std(representation)
        style_mean, style_std = self._mean_std(target)
        distance = (mean - style_mean).square().sum(-1) + (std - style_std).square().sum(-1)
        return self._per_channel(distance, representation.shape[-1]).sum()

    def _mean_std(self, representation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, square = representation[:, 0], representation[:, 1]
        return mean, (square - mean.square()).clamp(min=0).add(self.eps).sqrt()
