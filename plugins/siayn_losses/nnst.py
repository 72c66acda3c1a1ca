"""``nn-target``, the loss of Neural Neighbor Style Transfer (NNST; Kolkin, Kucera, Paris, Sýkora,
Shechtman and Shakhnarovich, 2022): at each stage of a multi-scale run the output is pulled
towards fixed target hypercolumns, each the style's nearest neighbour of the hypercolumn the
stage's start, blended with the photo, has at that position.

At the start of a stage (:class:`siayn_core.StageContext`) the loss:

1. blends the start image with the photo, ``(1 - content_share) * start + content_share *
   photo`` (the photo alone at the first stage, as NNST);
2. reads the blend's hypercolumns at about one position per ``stride`` x ``stride`` pixels
   (NNST reads its maps at a quarter of the image's size), inside the style's region with
   masks, each layer divided by its channel count;
3. reads the style's hypercolumns at ``style_samples`` positions spread over the style image
   and, with ``rotations``, its copies turned by 90, 180 and 270 degrees, which give more
   candidates for the photo's forms;
4. replaces each blend hypercolumn by its nearest candidate under the cosine distance, each set
   centred on its own mean first.

Each evaluation is then the mean cosine distance between the output's hypercolumns at those
positions and their replacements (at ``step_samples`` of them drawn afresh each step, or all).
NNST's final pass takes the last ``final_pass`` share of the last stage's steps: each of the
evaluation's positions is pulled to its nearest candidate, found anew at every step
(``nn-feature``'s loss, on the same candidates).

The search is :func:`siayn_losses.matching.nearest_neighbours`, the final pass
:func:`siayn_losses.matching.nearest_distance`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from siayn_core import SamplePositions, StageContext, draw_positions

from .matching import (
    DEFAULT_CHUNK,
    HypercolumnLoss,
    NearestTarget,
    nearest_distance,
    nearest_neighbours,
    product_dtype,
    scaled_hypercolumns,
    unit_rows,
)


@dataclass
class StageTarget:
    """One stage's target for one style: the positions, the replacements found there (unit
    rows), the generator that picks each step's share of them, and for the last stage the
    candidates of the final pass and the number of evaluations before it starts."""

    positions: SamplePositions
    columns: torch.Tensor
    generator: torch.Generator
    final: NearestTarget | None = None
    switch: int = 0
    evaluations: int = 0


class NearestTargetLoss(HypercolumnLoss):
    """NNST's loss: the cosine distance to targets fixed at each stage (see the module).

    :param content_share: the photo's weight in the blend the targets are found from (NNST's
        alpha): more keeps more of the photo's forms.
    :param stride: about one target position per ``stride`` x ``stride`` pixels.
    :param style_samples: candidate positions of the style image, over all its rotations.
    :param rotations: also take candidates from the style turned by 90, 180 and 270 degrees.
    :param step_samples: target positions read per step, drawn afresh each step (None: all, as NNST).
    :param final_pass: the share of the last stage's steps spent on the final pass (0: none).
    :param samples: positions of the output read per evaluation of the final pass.
    :param per_channel: divide each layer by its channel count (NNST).
    :param chunk: query rows compared at once in a search.
    """

    stage_targets = True

    def __init__(self, content_share: float = 0.75, stride: int = 4, style_samples: int = 16384,
                 rotations: bool = True, step_samples: int | None = None, final_pass: float = 0.5,
                 samples: int = 1024, per_channel: bool = True, chunk: int = DEFAULT_CHUNK) -> None:
        self.content_share = content_share
        self.stride = stride
        self.style_samples = style_samples
        self.rotations = rotations
        self.step_samples = step_samples
        self.final_pass = final_pass
        # The engine draws positions for the final pass only; the stages read their own.
        self.samples = samples if final_pass else None
        self.per_channel = per_channel
        self.chunk = chunk

    def blend(self, context: StageContext) -> torch.Tensor:
        """The picture the stage's targets are found from."""
        if context.index == 0:
            return context.content
        return (1.0 - self.content_share) * context.start + self.content_share * context.content

    def candidates(self, style: torch.Tensor, features: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                   generator: torch.Generator) -> torch.Tensor:
        """The style's hypercolumns at ``style_samples`` positions shared among it and its rotations."""
        pictures = [style]
        if self.rotations:
            pictures += [torch.rot90(style, turns, dims=(2, 3)) for turns in (1, 2, 3)]
        share = max(1, self.style_samples // len(pictures))
        parts = []
        for picture in pictures:
            positions = on_device(draw_positions(tuple(picture.shape[-2:]), share, generator), picture.device)
            parts.append(scaled_hypercolumns(features(picture), positions, per_channel=self.per_channel))
        return torch.cat(parts)

    @torch.no_grad()
    def stage_target(self, context: StageContext) -> StageTarget:
        """The stage's positions and the nearest style hypercolumn of the blend's at each."""
        blend = self.blend(context)
        height, width = (int(side) for side in blend.shape[-2:])
        generator = torch.Generator().manual_seed(context.seed)
        count = max(1, round(height * width / self.stride**2))
        positions = on_device(draw_positions((height, width), count, generator, guide=context.guide), blend.device)
        candidates = self.candidates(context.reference, context.features, generator)
        if len(positions):
            maps = context.features(blend)
            queries = scaled_hypercolumns(maps, positions, per_channel=self.per_channel)
            found = nearest_neighbours(queries - queries.mean(0), candidates - candidates.mean(0), chunk=self.chunk,
                                       search=product_dtype(maps))
            columns = unit_rows(candidates[found])
        else:
            columns = candidates[:0]
        if context.last and self.final_pass:
            final_steps = round(self.final_pass * context.steps)
            return StageTarget(positions, columns, generator, NearestTarget.of(candidates, "each"),
                               context.steps - final_steps)
        return StageTarget(positions, columns, generator)

    def __call__(self, features: Mapping[str, torch.Tensor], target: StageTarget, *,
                 positions: SamplePositions | None, image: torch.Tensor | None = None) -> torch.Tensor:
        target.evaluations += 1
        if target.final is not None and target.evaluations > target.switch and positions is not None:
            if not len(positions):
                return next(iter(features.values())).new_zeros(())
            columns = scaled_hypercolumns(features, positions, per_channel=self.per_channel)
            return nearest_distance(columns, target.final, center="each", chunk=self.chunk,
                                    search=product_dtype(features))
        count = len(target.positions)
        if not count:
            return next(iter(features.values())).new_zeros(())
        positions, replacements = target.positions, target.columns
        if self.step_samples is not None and self.step_samples < count:
            chosen = torch.randperm(count, generator=target.generator)[:self.step_samples].to(replacements.device)
            positions = SamplePositions(positions.points[chosen], positions.size)
            replacements = replacements[chosen]
        columns = scaled_hypercolumns(features, positions, per_channel=self.per_channel)
        return (1.0 - (unit_rows(columns) * replacements).sum(1)).mean()


def on_device(positions: SamplePositions, device: torch.device) -> SamplePositions:
    """``positions`` with their points on ``device``."""
    return SamplePositions(positions.points.to(device), positions.size)
