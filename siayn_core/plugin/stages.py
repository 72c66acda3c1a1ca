"""What a loss whose target changes from stage to stage sees: :class:`StageContext`.

A loss that declares ``stage_targets = True`` (NNST's, whose target at each scale is the
current output's hypercolumns replaced by their nearest style hypercolumns) gets its target
from ``stage_target(context)`` at the start of every stage of a multi-scale run, instead of
from ``target(features)`` of a reference image. torch is imported for type checking only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class StageContext:
    """One stage of a run, as the engine hands it to ``loss.stage_target``.

    :param start: ``(1, 3, H, W)``, the image this stage's optimization starts from: the
        initialiser's at the first stage, else the previous stage's result brought up to this
        size (as ``stage_start`` says).
    :param content: ``(1, 3, H, W)``, the photo at this stage's size.
    :param styles: every style image as sized for this stage, ``(1, 3, h, w)`` each.
    :param style: which of ``styles`` the target is for; None for the content loss.
    :param guide: ``(1, 1, H, W)`` weights in ``[0, 1]``: where that style applies (None:
        everywhere); the loss keeps its target inside it.
    :param layers: the slot's layers in the run's order (possibly with the pseudo-layer
        :data:`~siayn_core.PIXELS`).
    :param index: the stage's number, 0 for the coarsest.
    :param count: how many stages of the run take steps (the last has ``index == count - 1``).
    :param steps: the steps this stage takes (each evaluates the loss once).
    :param seed: the run's seed: a loss that draws positions or numbers uses a generator
        started from it, so that a run repeats.
    :param features: ``features(image)``: the maps of ``layers`` of any picture ``(1, 3, h, w)``,
        ``{layer: (1, C, h', w')}``, the run's backbone computing them without gradients, and
        :data:`~siayn_core.PIXELS` being the picture itself.
    """

    start: torch.Tensor
    content: torch.Tensor
    styles: Sequence[torch.Tensor]
    style: int | None
    guide: torch.Tensor | None
    layers: Sequence[str]
    index: int
    count: int
    steps: int
    seed: int
    features: Callable[[torch.Tensor], Mapping[str, torch.Tensor]]

    @property
    def reference(self) -> torch.Tensor:
        """The picture the target is for: the style image, or for the content loss the photo."""
        return self.content if self.style is None else self.styles[self.style]

    @property
    def last(self) -> bool:
        """Whether this is the run's last stage that takes steps."""
        return self.index == self.count - 1
