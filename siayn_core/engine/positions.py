"""The positions hypercolumn losses read (:mod:`siayn_core.plugin.hypercolumns`), drawn by the
engine with the run's seed.

Each evaluation (or every ``resample_every`` evaluations) draws one set over the whole image,
which the content loss and every style without a region share, and one inside each style's
region; a reference (the photo, a style image) gets its own set once per scale, from a
generator started afresh with the seed, so that its target is the same whichever run
computed it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..plugin.errors import SiaynError
from ..plugin.hypercolumns import PIXELS, SamplePositions, draw_positions


def reads_hypercolumns(loss: Any) -> bool:
    """Whether ``loss`` declares ``hypercolumns = True`` (every layer at once, at positions)."""
    return getattr(loss, "hypercolumns", False) is True


def reads_stage_targets(loss: Any) -> bool:
    """Whether ``loss`` declares ``stage_targets = True``: the engine asks it for a target at
    the start of every stage (``stage_target``), as a hypercolumn loss; SiaynError where it
    does not also declare ``hypercolumns = True``."""
    if getattr(loss, "stage_targets", False) is not True:
        return False
    if not reads_hypercolumns(loss):
        raise SiaynError(f"loss {type(loss).__name__} declares stage_targets but not hypercolumns = True: "
                         "a stage target is read like a hypercolumn loss's, every layer of its slot at once")
    return True


def draws_positions(loss: Any) -> bool:
    """Whether the engine draws positions for ``loss`` at each evaluation: a hypercolumn loss
    does, unless it computes its targets per stage and declares no ``samples`` (it then reads
    its target's own positions and gets ``positions=None``)."""
    if not reads_hypercolumns(loss):
        return False
    return not (reads_stage_targets(loss) and getattr(loss, "samples", None) is None)


def columns_of(features: Any, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The maps a hypercolumn loss receives: ``layers`` of ``features``, in order, the
    pseudo-layer :data:`~siayn_core.plugin.hypercolumns.PIXELS` being ``image`` itself."""
    return {layer: image if layer == PIXELS else features[layer] for layer in layers}


class PositionDraws:
    """Where the hypercolumn losses of a run read the generated image and the references.

    :param losses: the run's hypercolumn losses: the draws take the largest ``samples`` of
        them and the smallest ``resample_every``.
    :param seed: the run's seed.
    """

    def __init__(self, losses: Sequence[Any], seed: int) -> None:
        for loss in losses:
            if not isinstance(getattr(loss, "samples", None), int) or loss.samples < 1:
                raise SiaynError(f"loss {type(loss).__name__} reads hypercolumns but declares no samples "
                                 "(how many positions it reads per evaluation, a whole number from 1)")
        self.seed = seed
        self.count = max(int(loss.samples) for loss in losses)
        self.every = max(1, min(int(getattr(loss, "resample_every", 1)) for loss in losses))
        self.generator = torch.Generator().manual_seed(seed)
        self.guides: list[torch.Tensor | None] = []
        self.evaluations = 0
        self.current: tuple[SamplePositions, list[SamplePositions]] | None = None

    def restart(self, guides: Sequence[torch.Tensor | None]) -> None:
        """Start a stage: its styles' guides (``(1, 1, H, W)`` at the image's size, or None);
        the next evaluation draws new positions."""
        self.guides = list(guides)
        self.evaluations = 0
        self.current = None

    def for_evaluation(self, image: torch.Tensor) -> tuple[SamplePositions, list[SamplePositions]]:
        """This evaluation's positions on ``image``: the whole image's, and each style's (the
        whole image's for a style without a guide, else drawn inside its guide)."""
        if self.current is None or self.evaluations % self.every == 0:
            size = (int(image.shape[-2]), int(image.shape[-1]))
            whole = self._on(image.device, draw_positions(size, self.count, self.generator))
            per_style = [
                whole if guide is None else self._on(image.device, draw_positions(size, self.count, self.generator,
                                                                                  guide=guide))
                for guide in self.guides
            ]
            self.current = (whole, per_style)
        self.evaluations += 1
        return self.current

    def for_reference(self, image: torch.Tensor, loss: Any) -> SamplePositions | None:
        """The positions ``loss``'s ``target`` reads on a reference ``image`` (``target_samples``
        of them; None where the loss declares none)."""
        count = getattr(loss, "target_samples", None)
        if count is None:
            return None
        size = (int(image.shape[-2]), int(image.shape[-1]))
        return self._on(image.device, draw_positions(size, int(count), torch.Generator().manual_seed(self.seed)))

    @staticmethod
    def _on(device: torch.device, positions: SamplePositions) -> SamplePositions:
        return SamplePositions(positions.points.to(device), positions.size)
