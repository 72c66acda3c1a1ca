"""The identity parametrization: the optimizer moves the image's pixels themselves.

:class:`Pixels` is what the engine optimizes when a run names no other
:class:`~siayn_core.plugin.protocols.Parametrization`, and the component the built-in
``pixels`` registers. torch is not imported: only tensors' own methods are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class PixelImage:
    """One image tensor that is its own parameter and its own rendering."""

    def __init__(self, image: torch.Tensor) -> None:
        self.image = image.detach().clone().requires_grad_(True)

    def parameters(self) -> Sequence[torch.Tensor]:
        """The pixels: ``[image]``."""
        return [self.image]

    def render(self) -> torch.Tensor:
        """The pixel tensor itself (no copy), so the objective's gradient lands on it."""
        return self.image

    def project(self, low: float, high: float) -> bool:
        """False: the parameters are the pixels, which the optimizer's box keeps in range."""
        return False


class Pixels:
    """The ``pixels`` parametrization: each pixel is a parameter."""

    def encode(self, image: torch.Tensor) -> PixelImage:
        """A copy of ``image`` to optimize."""
        return PixelImage(image)
