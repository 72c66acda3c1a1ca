"""The temporal term of a stylized clip's frame (Ruder et al., GCPR 2016, eq. 7): the image
held to the previous stylized frame warped onto it, where the flow can be trusted.

:class:`TemporalTerm` is what :func:`siayn_core.engine.painter.stylize` takes; the engine wraps each
stage's objective in a :class:`TemporalObjective` at that stage's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .objective import guided_loss
from .terms import Terms, add_terms, weighted


@dataclass(frozen=True)
class TemporalTerm:
    """The previous stylized frame warped onto this one (``target``, RGB), the pixels where
    that warp holds (``weights``, mode ``L``: white = trusted), the loss comparing them (a
    guided loss component, e.g. ``temporal``) and its weight."""

    target: Image.Image
    weights: Image.Image
    loss: Any
    weight: float


class TemporalObjective:
    """An objective plus the term ``temporal``: ``weight * loss(image, target, guide=weights)``."""

    def __init__(self, objective: Any, term: TemporalTerm, size: tuple[int, int], device: torch.device) -> None:
        from ..io.images import resize, to_tensor

        self.objective = objective
        self.term = term
        self.target = to_tensor(resize(term.target, size)).to(device)
        weights = term.weights.convert("L").resize(size, Image.Resampling.BOX)
        self.weights = to_tensor(weights.convert("RGB"))[:, :1].to(device)

    def set_targets(self, content: torch.Tensor, styles: Sequence[torch.Tensor],
                    guides: Sequence[torch.Tensor | None] | None = None, **stage: Any) -> None:
        """The wrapped objective's targets (``stage``: what :meth:`Objective.set_targets` takes besides)."""
        self.objective.set_targets(content, styles, guides, **stage)

    def __call__(self, image: torch.Tensor) -> Terms:
        """The wrapped objective's terms and the temporal term."""
        terms = dict(self.objective(image))
        value = guided_loss(self.term.loss, image, self.target, self.weights)
        return add_terms(terms, weighted("temporal", self.term.weight, value))
