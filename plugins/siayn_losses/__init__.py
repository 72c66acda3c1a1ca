"""Built-in losses: ``mse`` and ``self-similarity`` (content), ``gram``, ``w2``, ``mean-std``,
``sliced-wasserstein``, ``remd``, ``nn-feature`` and ``nn-target`` (style) and ``tv`` (total
variation).

The loss classes live in :mod:`siayn_losses.functions`, :mod:`siayn_losses.statistics`,
:mod:`siayn_losses.sliced`, :mod:`siayn_losses.matching` and :mod:`siayn_losses.nnst`, imported
by the factories so that loading this plugin does not import torch.
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


SAMPLES_HELP = "positions of the generated image read per evaluation (one per cell of a jittered grid)"
STYLE_SAMPLES_HELP = "positions of each style image read, drawn once per stage"
RESAMPLE_HELP = ("draw new positions every this many evaluations (1: every step, as STROTSS and NNST; more "
                 "keeps the objective fixed for a while, which L-BFGS's curvature pairs prefer)")


@dataclass(frozen=True)
class RemdOptions:
    """Options of the ``remd`` style loss (STROTSS)."""

    samples: int = option(1024, help=SAMPLES_HELP, minimum=1)
    style_samples: int = option(5000, help=STYLE_SAMPLES_HELP, minimum=1)
    moment_weight: float = option(
        1.0, help="weight of the moment term: the hypercolumns' mean and covariance against the style's", minimum=0.0
    )
    palette_weight: float = option(
        1.0, help="weight of the palette term: the relaxed EMD of the colours at the positions", minimum=0.0
    )
    resample_every: int = option(1, help=RESAMPLE_HELP, minimum=1)


@dataclass(frozen=True)
class SelfSimilarityOptions:
    """Options of the ``self-similarity`` content loss (STROTSS)."""

    samples: int = option(1024, help=SAMPLES_HELP + "; the cost grows with its square", minimum=1)
    resample_every: int = option(1, help=RESAMPLE_HELP, minimum=1)


@dataclass(frozen=True)
class NNFeatureOptions:
    """Options of the ``nn-feature`` style loss (NNST)."""

    samples: int = option(4096, help=SAMPLES_HELP, minimum=1)
    style_samples: int = option(16384, help=STYLE_SAMPLES_HELP, minimum=1)
    per_channel: bool = option(
        True, help="divide each layer by its number of channels, so wide layers do not dominate the distance (NNST)"
    )
    center: str = option(
        "style",
        help="subtract before the cosine distance: style (the style's mean, from both), each (each set's own "
        "mean, as NNST's code) or none",
        choices=("style", "each", "none"),
    )
    chunk: int = option(
        4096, help="generated positions compared at once in the nearest-neighbour search (memory: chunk x style_samples)",
        minimum=1,
    )
    resample_every: int = option(1, help=RESAMPLE_HELP, minimum=1)


@dataclass(frozen=True)
class NNTargetOptions:
    """Options of the ``nn-target`` style loss (NNST)."""

    content_share: float = option(
        0.75, help="the photo's weight in the blend with the stage's start image whose hypercolumns are replaced "
        "by their nearest style hypercolumns (NNST's alpha): more keeps more of the photo's forms",
        minimum=0.0, maximum=1.0,
    )
    stride: int = option(4, help="about one target position per stride x stride pixels (NNST: 4)", minimum=1)
    style_samples: int = option(
        16384, help="candidate positions of each style image, shared among it and its rotations, drawn once per stage",
        minimum=1,
    )
    rotations: bool = option(
        True, help="also take candidates from the style image turned by 90, 180 and 270 degrees (NNST)"
    )
    step_samples: int | None = option(
        None, help="target positions read per step, drawn afresh each step (fewer: faster steps, noisier; "
        "null: all of them, as NNST)", minimum=1,
    )
    final_pass: float = option(
        0.5, help="the share of the last stage's steps spent on NNST's final pass, which pulls each position "
        "to its nearest style hypercolumn found anew each step (0: none)", minimum=0.0, maximum=1.0,
    )
    samples: int = option(1024, help="positions of the generated image read per step of the final pass", minimum=1)
    per_channel: bool = option(
        True, help="divide each layer by its number of channels, so wide layers do not dominate the distance (NNST)"
    )
    chunk: int = option(
        4096, help="positions compared at once in a nearest-neighbour search (memory: chunk x style_samples)",
        minimum=1,
    )


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


def make_remd(options: RemdOptions) -> Any:
    """Build the ``remd`` loss."""
    from .matching import RemdLoss

    return RemdLoss(samples=options.samples, style_samples=options.style_samples, moment_weight=options.moment_weight,
                    palette_weight=options.palette_weight, resample_every=options.resample_every)


def make_self_similarity(options: SelfSimilarityOptions) -> Any:
    """Build the ``self-similarity`` loss."""
    from .matching import SelfSimilarityLoss

    return SelfSimilarityLoss(samples=options.samples, resample_every=options.resample_every)


def make_nn_feature(options: NNFeatureOptions) -> Any:
    """Build the ``nn-feature`` loss."""
    from .matching import NearestFeatureLoss

    return NearestFeatureLoss(samples=options.samples, style_samples=options.style_samples,
                              per_channel=options.per_channel, center=options.center,
                              resample_every=options.resample_every, chunk=options.chunk)


def make_nn_target(options: NNTargetOptions) -> Any:
    """Build the ``nn-target`` loss."""
    from .nnst import NearestTargetLoss

    return NearestTargetLoss(content_share=options.content_share, stride=options.stride,
                             style_samples=options.style_samples, rotations=options.rotations,
                             step_samples=options.step_samples, final_pass=options.final_pass, samples=options.samples,
                             per_channel=options.per_channel, chunk=options.chunk)


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
    register("remd", make_remd,
             description="Style loss (STROTSS, Kolkin et al. 2019): relaxed earth mover's distance between "
             "hypercolumns at sampled positions, with moment and palette terms.")
    register("self-similarity", make_self_similarity,
             description="Content loss (STROTSS): the hypercolumns' cosine self-similarity against the photo's, "
             "at the same sampled positions.")
    register("nn-feature", make_nn_feature,
             description="Style loss (NNST, Kolkin et al. 2022): cosine distance from each sampled hypercolumn "
             "to its nearest style hypercolumn.")
    register("nn-target", make_nn_target,
             description="Style loss (NNST, Kolkin et al. 2022): at each stage, the cosine distance to fixed targets, "
             "the nearest style hypercolumns of a blend of the stage's start with the photo; then NNST's final pass.")
    register("temporal", make_temporal,
             description="Video: squared difference to the previous stylized frame warped onto this one (Ruder et al.).")
    register("tv", make_tv, aliases=("total-variation",), description="Total variation of the image: favours smooth results.")
