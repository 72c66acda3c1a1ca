"""The built-in initialisers (see :class:`siayn_core.Initialiser` for the protocol)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from siayn_core import SiaynError


def _noise(shape: torch.Size, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    # Drawn on the generator's device (the CPU by default) so that a seed gives the same
    # start on every device, then moved next to the images.
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype)
    return noise.to(like.device)


class GaussianNoise:
    """White noise around ``mean``, clamped to the valid range."""

    def __init__(self, mean: float = 0.5, std: float = 0.25) -> None:
        self.mean = mean
        self.std = std

    def __call__(
        self, content: torch.Tensor, styles: Sequence[torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        return (_noise(content.shape, generator, content) * self.std + self.mean).clamp_(0.0, 1.0)


class FromContent:
    """The content image, optionally with Gaussian noise added."""

    def __init__(self, noise: float = 0.0) -> None:
        self.noise = noise

    def __call__(
        self, content: torch.Tensor, styles: Sequence[torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        start = content.detach().clone()
        if self.noise > 0:
            start = (start + _noise(content.shape, generator, content) * self.noise).clamp_(0.0, 1.0)
        return start


class FromStyle:
    """One style image resized to the content's (the output's) size."""

    def __init__(self, index: int = 0) -> None:
        self.index = index

    def __call__(
        self, content: torch.Tensor, styles: Sequence[torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        if self.index >= len(styles):
            raise SiaynError(
                f"initialiser 'style' option index is {self.index}, but there are only {len(styles)} style images"
            )
        style = styles[self.index].detach()
        size = tuple(content.shape[-2:])
        if tuple(style.shape[-2:]) == size:
            return style.clone()
        return F.interpolate(style, size=size, mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)
