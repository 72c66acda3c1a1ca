"""Built-in losses: ``mse`` (content), ``gram`` (style) and ``tv`` (total variation).

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
        "sum",
        help="'sum': sum of squared differences of the Gram matrices (the original SIAYN's scaling); "
        "'mean': their mean",
        choices=REDUCTIONS,
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


def make_tv(options: TVOptions) -> Any:
    """Build the ``tv`` loss."""
    from .functions import TotalVariationLoss

    return TotalVariationLoss(squared=options.squared, reduction=options.reduction)


@hookimpl
def register_losses(register):  # type: ignore[no-untyped-def]
    register("mse", make_mse, description="Content loss: squared difference of feature maps.")
    register("gram", make_gram, description="Style loss: squared difference of Gram matrices (Gatys et al.).")
    register("tv", make_tv, aliases=("total-variation",), description="Total variation of the image: favours smooth results.")
