"""Multi-scale (coarse-to-fine) optimization: which sizes, how many steps at each.

A run starts at a small size (``min_size`` px on the short side), optimizes there, upsamples
the result by about ``scale_factor`` (2 by default) and goes on at the next size, up to
the output size. The coarse stages are cheap (a step at half the size costs about a quarter)
and settle the layout of the large brush strokes; the output-size stage then mostly has to
paint the fine texture, which no coarse stage can see.

``num_steps`` is the total over all stages, so the progress bar, ``save_every`` and the
callbacks see one run of ``num_steps`` steps whose steps are numbered globally. The split
gives the output-size stage ``final_share`` of the steps and the coarse stages the rest,
coarse stage ``i`` (0 = coarsest) a share proportional to ``step_decay ** i``: with the
default 0.5 each coarse stage takes about the same time. ``stage_steps`` sets the steps of
each stage explicitly instead.

The output-size stage needs about the same number of steps however long the coarse stages
run (docs/performance.md), so the coarse stages are kept short.

This module is pure arithmetic (no torch) apart from the resampling functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    import torch
    from PIL import Image

#: Defaults of the multi-scale keys of StylizeOptions.
DEFAULT_MIN_SIZE = 128
DEFAULT_SCALE_FACTOR = 2.0
DEFAULT_STEP_DECAY = 0.5
DEFAULT_FINAL_SHARE = 0.8


@dataclass(frozen=True)
class Stage:
    """One size of a multi-scale run.

    :param index: 0 for the coarsest stage.
    :param size: ``(width, height)`` of the image optimized in this stage.
    :param steps: optimization steps taken at this size.
    :param first_step: the global number of the stage's first step (steps count from 1).
    """

    index: int
    size: tuple[int, int]
    steps: int
    first_step: int

    @property
    def last_step(self) -> int:
        """The global number of the stage's last step."""
        return self.first_step + self.steps - 1


def stage_sizes(
    target: tuple[int, int],
    min_size: int | None,
    *,
    scale_factor: float = DEFAULT_SCALE_FACTOR,
    count: int | None = None,
) -> list[tuple[int, int]]:
    """The ``(width, height)`` of each stage, coarsest first; the last is ``target``.

    The short sides grow geometrically from ``min_size`` to the target's short side, in as
    many stages as a ratio of about ``scale_factor`` per stage needs (or exactly ``count``
    stages); the aspect ratio is the target's. ``min_size`` of None, or at least the target's
    short side, gives the target alone.
    """
    width, height = target
    short = min(width, height)
    if min_size is None or min_size >= short or (count is not None and count <= 1):
        return [target]
    if count is None:
        if scale_factor <= 1.0:
            raise SiaynError(f"scale_factor must be above 1, got {scale_factor}")
        count = max(1, round(math.log(short / min_size) / math.log(scale_factor))) + 1
    sizes = []
    for index in range(count - 1):
        side = min_size * (short / min_size) ** (index / (count - 1))
        ratio = side / short
        sizes.append((max(1, round(width * ratio)), max(1, round(height * ratio))))
    sizes.append(target)
    return sizes


def reference_size(size: tuple[int, int], reference: int | None) -> tuple[int, int] | None:
    """``size`` (``(width, height)``) brought down to a long side of ``reference`` px with
    its aspect ratio, or None where it is not larger (or there is no reference)."""
    from ..io.images import output_size

    if reference is None or max(size) <= reference:
        return None
    return output_size(size, longer_side=reference, scale=1.0)


def split_steps(
    num_steps: int, count: int, step_decay: float = DEFAULT_STEP_DECAY, final_share: float = DEFAULT_FINAL_SHARE
) -> list[int]:
    """``num_steps`` split over ``count`` stages: the last (output-size) stage gets
    ``final_share`` of them, and the coarse stages share the rest, coarse stage ``i`` in
    proportion to ``step_decay ** i``. Rounded so the shares add up exactly; every stage
    gets at least one step while there are steps to give."""
    if count <= 1:
        return [num_steps]
    weights = [step_decay**index for index in range(count - 1)]
    coarse = num_steps * (1.0 - final_share)
    shares = [weight * coarse / sum(weights) for weight in weights] + [num_steps * final_share]
    steps = [int(share) for share in shares]
    # Largest remainders first, so the total is exact.
    order = sorted(range(count), key=lambda i: shares[i] - steps[i], reverse=True)
    for index in order[: num_steps - sum(steps)]:
        steps[index] += 1
    # A stage with no step would only resize: borrow one from the largest stage.
    for index in range(count):
        if steps[index] == 0 and max(steps) > 1:
            steps[steps.index(max(steps))] -= 1
            steps[index] = 1
    return steps


def plan_stages(
    target: tuple[int, int],
    num_steps: int,
    *,
    min_size: int | None = DEFAULT_MIN_SIZE,
    scale_factor: float = DEFAULT_SCALE_FACTOR,
    step_decay: float = DEFAULT_STEP_DECAY,
    final_share: float = DEFAULT_FINAL_SHARE,
    stage_steps: Sequence[int] | None = None,
    style_reference: int | None = None,
) -> list[Stage]:
    """The stages of a run whose output is ``target`` (``(width, height)``).

    :param num_steps: the total number of steps over all stages (ignored with ``stage_steps``),
        split by :func:`split_steps`.
    :param min_size: short side of the coarsest stage; None: one stage at ``target``.
    :param stage_steps: the steps of each stage, coarsest first; its length sets the number
        of stages (sizes spaced geometrically from ``min_size`` to ``target``).
    :param style_reference: for a ``target`` whose long side is larger, the stages of an
        output of this long side, then one stage at ``target`` without steps, which only
        carries the result up to the output size (see :func:`upsample_detail`).
    """
    reference = reference_size(target, style_reference)
    if reference is not None:
        below = plan_stages(reference, num_steps, min_size=min_size, scale_factor=scale_factor,
                            step_decay=step_decay, final_share=final_share, stage_steps=stage_steps)
        last = below[-1]
        return [*below, Stage(index=len(below), size=target, steps=0, first_step=last.last_step + 1)]
    if stage_steps:
        if any(steps < 0 for steps in stage_steps):
            raise SiaynError(f"stage_steps must not be negative, got {list(stage_steps)}")
        sizes = stage_sizes(target, min_size, count=len(stage_steps))
        if len(sizes) < len(stage_steps):  # single scale: everything at the output size
            steps = [sum(stage_steps)]
        else:
            steps = list(stage_steps)
    else:
        sizes = stage_sizes(target, min_size, scale_factor=scale_factor)
        steps = split_steps(num_steps, len(sizes), step_decay, final_share)
    stages, first = [], 1
    for index, (size, count) in enumerate(zip(sizes, steps)):
        stages.append(Stage(index=index, size=size, steps=count, first_step=first))
        first += count
    return stages


def upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` (``(1, 3, H, W)``) resized to ``size`` (``(width, height)``) for the next
    stage: bicubic, clamped to ``[0, 1]``."""
    width, height = size
    if tuple(image.shape[-2:]) == (height, width):
        return image.clone()
    return _bicubic(image, size).clamp_(0.0, 1.0)


def upsample_detail(image: torch.Tensor, previous_content: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The next stage's start as ``content`` plus the upsampled change the previous stage made
    to its own content image (``image - previous_content``): the photo's fine detail at the
    new size, which a plain upsampling of ``image`` blurs away, with the coarse stages' work on top."""
    height, width = content.shape[-2:]
    change = _bicubic(image - previous_content, (width, height))
    return (content + change).clamp_(0.0, 1.0)


def _bicubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``image`` resized (bicubic, unclamped) to ``size`` (``(width, height)``)."""
    import torch.nn.functional as F

    width, height = size
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)


def stage_images(
    content: Image.Image,
    styles: Sequence[Image.Image],
    size: tuple[int, int],
    final_size: tuple[int, int],
    style_resize: str,
    style_scale: float = 1.0,
    style_reference: int | None = None,
) -> tuple[Image.Image, list[Image.Image]]:
    """The content and style images for a stage of ``size`` (``(width, height)``).

    The content is resized to ``size``. Each style, by ``style_resize``: ``stretch`` to
    ``size``; ``short-side`` to the stage's short side, keeping its aspect ratio; ``none`` by
    the stage's ratio to ``final_size``, so that the style's scale relative to the content is
    the same in every stage (its own size at the last). ``style_scale`` then multiplies each
    style's size: 2 paints strokes twice as large, 0.5 half as large. A ``final_size`` above
    ``style_reference`` counts as the reference size, where its last optimized stage is.
    """
    from ..io.images import resize, scaled_size

    final_size = reference_size(final_size, style_reference) or final_size
    stage_content = resize(content, size)
    if style_resize == "stretch":
        sizes = [size] * len(styles)
    elif style_resize == "short-side":
        sizes = [scaled_size(style.size, min(size) / min(style.size)) for style in styles]
    else:
        sizes = [scaled_size(style.size, min(size) / min(final_size)) for style in styles]
    return stage_content, [resize(style, scaled_size(at, style_scale)) for style, at in zip(styles, sizes)]


class StageOptimizers:
    """Builds the optimizer of each stage of a multi-scale run from the run's factory.

    A factory that is a :class:`~siayn_core.plugin.protocols.CarryingOptimizerFactory` builds
    every stage's optimizer but the first from the previous stage's (``next_stage``), so that
    what still holds at the new size, such as L-BFGS's step scale, is not learnt again; the
    curvature pairs themselves do not carry, as a stage starts from content detail the coarse
    pairs never saw (docs/performance.md). Any other factory builds each stage's afresh.
    """

    def __init__(self, factory: Callable[[Sequence[torch.Tensor]], torch.optim.Optimizer]) -> None:
        self.factory = factory
        self.previous: torch.optim.Optimizer | None = None

    def __call__(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        from ..plugin.protocols import CarryingOptimizerFactory

        if self.previous is not None and isinstance(self.factory, CarryingOptimizerFactory):
            optimizer = self.factory.next_stage(self.previous, params)
        else:
            optimizer = self.factory(params)
        self.previous = optimizer
        return optimizer
