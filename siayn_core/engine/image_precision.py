"""The backbone's first convolution reads the image at float32 precision when the rest of the
backbone runs in bfloat16 (or float16).

Under autocast the image is rounded to bfloat16 before its first convolution: 8 bits of
mantissa, a step of up to about one grey level of an 8-bit image. Late in an L-BFGS run most
pixels move by less than that, so the loss stops seeing the steps the optimizer takes and its
curvature pairs go wrong. :class:`SplitPrecision` hands the convolution the image as its
rounded part and the remainder side by side in the channels, and the convolution weighs both
with the same weights, accumulating in float32: one product, nearly as fast as before, that sees
the image to about 16 bits. The gradient is the rounded part's, as it was.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import torch
from torch import nn

from .fusion import Conv2dReLU


class SplitPrecision(nn.Module):
    """``x`` (float32, ``(B, C, H, W)``) as ``[round(x), round(x - round(x))]`` in ``dtype``:
    ``2C`` channels that sum back to ``x`` to about twice ``dtype``'s mantissa."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The rounded image and its remainder, concatenated along the channels."""
        return _Split.apply(image, self.dtype)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}"


class _Split(torch.autograd.Function):
    """The split, with the straight-through gradient: the remainder is constant to first order,
    so the image's gradient is the rounded part's."""

    @staticmethod
    def forward(ctx: Any, image: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        rounded = image.to(dtype)
        remainder = (image - rounded.to(image.dtype)).to(dtype)
        ctx.image_dtype = image.dtype
        ctx.channels = image.shape[1]
        return torch.cat([rounded, remainder], dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad[:, :ctx.channels].to(ctx.image_dtype), None


def read_image_in_full(network: nn.Module, dtype: torch.dtype, *, image_channels: int = 3) -> bool:
    """Give ``network``'s first convolution, if it reads the ``image_channels``-channel image,
    the image at full precision: it becomes ``nn.Sequential(SplitPrecision(dtype), doubled)``,
    where ``doubled`` is a copy of the convolution taking each weight twice. Returns whether it
    did.

    The convolution must be a plain (or ReLU-fused) ``nn.Conv2d`` without groups, with its
    weights already in ``dtype`` and frozen: anything else is left as it is.
    """
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            if (not name or type(module) not in (nn.Conv2d, Conv2dReLU) or module.in_channels != image_channels
                    or module.groups != 1 or module.weight.dtype != dtype or module.weight.requires_grad):
                return False
            _replace(network, name, nn.Sequential(SplitPrecision(dtype), _doubled(module)))
            return True
    return False


def _doubled(convolution: nn.Conv2d) -> nn.Conv2d:
    """A copy of ``convolution`` over twice its input channels, each weight given twice."""
    weight = convolution.weight
    doubled = deepcopy(convolution)
    doubled.in_channels *= 2
    # torch.cat keeps the weight's memory format, channels_last included.
    doubled.weight = nn.Parameter(torch.cat([weight, weight], dim=1), requires_grad=False)
    return doubled


def _replace(network: nn.Module, name: str, replacement: nn.Module) -> None:
    """Put ``replacement`` where ``network``'s submodule ``name`` (dotted) was."""
    parent_name, _, child = name.rpartition(".")
    parent = network.get_submodule(parent_name) if parent_name else network
    setattr(parent, child, replacement)
