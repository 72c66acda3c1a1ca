"""A base class for backbone feature extractors."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class FrozenExtractor(nn.Module):
    """A feature network that never trains: frozen weights, always in eval mode, with the
    input normalization its weights expect.

    Subclasses build their layers after ``super().__init__(...)``, call :meth:`freeze` at the
    end of their own ``__init__``, and start ``forward`` with :meth:`normalized`.
    """

    def __init__(self, *, mean: Sequence[float], std: Sequence[float], normalize: bool) -> None:
        super().__init__()
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def freeze(self) -> None:
        """Turn off gradients for every parameter and switch to eval mode."""
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenExtractor:
        """Stay in eval mode (batch norm uses its running statistics)."""
        return super().train(False)

    def normalized(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (RGB in ``[0, 1]``) normalized with the weights' mean and std, if enabled."""
        return (image - self.mean) / self.std if self.normalize else image
