"""Built-in losses: ``mse`` (content), ``gram``, ``w2``, ``mean-std`` and
``sliced-wasserstein`` (style) and ``tv`` (total variation).

The loss classes live in :mod:`siayn_losses.functions`, imported by the factories so that
loading this plugin does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siayn_core import hookimpl, option

REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class MSEOptions:
    """Options of the ``mse`` content loss."""

    reduction: str = option(
        "mean",
        help="'mean': mean squared difference of the feature maps (independent of the image size); "
        "'sum': the paper's 1/2 * sum of squared differences",
        choices=REDUCTIONS,
    )


@dataclass(frozen=True)
class GramOptions:
    """Options of the ``gram`` style loss."""

    normalize: bool = option(
        True, help="divide each Gram matrix by channels * height * width, so images of any size compare"
    )
    reduction: str = option(
        "mean",
        help="'mean': mean squared difference of the Gram matrices (the classic tools' scaling); "
        "'sum': their sum (the original SIAYN's, which weighs a layer by its channels squared)",
        choices=REDUCTIONS,
    )


@dataclass(frozen=True)
class W2Options:
    """Options of the ``w2`` style loss."""

    normalize: bool = option(True, help="divide the distance by the number of channels, so layers of any width compare")
    ridge: float = option(
        1e-5, help="added to the style covariance's diagonal, relative to its mean variance, to keep its "
        "square root well conditioned", minimum=0.0, maximum=1.0,
    )


@dataclass(frozen=True)
class MeanStdOptions:
    """Options of the ``mean-std`` style loss."""

    normalize: bool = option(True, help="divide the distance by the number of channels, so layers of any width compare")
    eps: float = option(1e-5, help="added to each variance before its square root", minimum=0.0)


@dataclass(frozen=True)
class SlicedWassersteinOptions:
    """Options of the ``sliced-wasserstein`` style loss."""

    projections: int | None = option(
        None, help="random directions per layer and step, drawn afresh at every step (null: the layer's number of "
        "channels, as in the paper); fewer are faster and noisier", minimum=1,
    )
    seed: int | None = option(
        None, help="seed of the loss's own direction generator (null: fixed by the run's component seed)", minimum=0,
    )


@dataclass(frozen=True)
class TVOptions:
    """Options of the ``tv`` total variation loss."""

    squared: bool = option(
        False, help="sum squared neighbour differences (smoother) instead of absolute ones"
    )
    reduction: str = option(
        "sum",
        help="'sum': total over all pixels (the usual definition; grows with the image size); "
        "'mean': mean per pixel",
        choices=REDUCTIONS,
    )


def make_mse(options: MSEOptions) -> Any:
    """Build the ``mse`` loss."""
    from .functions import MSELoss

    return MSELoss(reduction=options.reduction)


def make_gram(options: GramOptions) -> Any:
    """Build the ``gram`` loss."""
    from .functions import GramLoss

    return GramLoss(normalize=options.normalize, reduction=options.reduction)


def make_w2(options: W2Options) -> Any:
    """Build the ``w2`` loss."""
    from .statistics import W2Loss

    return W2Loss(normalize=options.normalize, ridge=options.ridge)


def make_mean_std(options: MeanStdOptions) -> Any:
    """Build the ``mean-std`` loss."""
    from .statistics import MeanStdLoss

    return MeanStdLoss(normalize=options.normalize, eps=options.eps)


def make_sliced_wasserstein(options: SlicedWassersteinOptions) -> Any:
    """Build the ``sliced-wasserstein`` loss."""
    from .sliced import SlicedWassersteinLoss

    return SlicedWassersteinLoss(projections=options.projections, seed=options.seed)


def make_tv(options: TVOptions) -> Any:
    """Build the ``tv`` loss."""
    from .functions import TotalVariationLoss

    return TotalVariationLoss(squared=options.squared, reduction=options.reduction)


def make_temporal() -> Any:
    """Build the ``temporal`` loss."""
    from .functions import TemporalLoss

    return TemporalLoss()


@hookimpl
def register_losses(register):  # type: ignore[no-untyped-def]
    register("mse", make_mse, description="Content loss: squared difference of feature maps.")
    register("gram", make_gram, description="Style loss: squared difference of Gram matrices (Gatys et al.).")
    register("w2", make_w2, aliases=("wasserstein",),
             description="Style loss: Wasserstein-2 distance between Gaussians of the features (means and covariances).")
    register("mean-std", make_mean_std, aliases=("adain",),
             description="Style loss: squared difference of per-channel means and standard deviations.")
    register("sliced-wasserstein", make_sliced_wasserstein, aliases=("swd",),
             description="Style loss: sliced Wasserstein distance between the feature distributions, on random "
             "directions drawn each step (Heitz et al.).")
    register("temporal", make_temporal,
             description="Video: squared difference to the previous stylized frame warped onto this one (Ruder et al.).")
    register("tv", make_tv, aliases=("total-variation",), description="Total variation of the image: favours smooth results.")
