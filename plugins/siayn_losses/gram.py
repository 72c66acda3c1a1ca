"""Gram matrices of feature maps, with a fast backward for the style loss.

Both matrix products of the style loss, ``G = F F^T`` forward and ``F^T S`` backward, are
written here once, for the targets and for the generated image alike, so the two are
computed the same way and ``G - T`` does not pick up a difference of implementations.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G = F F^T`` over the spatial positions, one matrix per batch item: ``(B, C, C)``.

    :param normalize: divide by ``C * H * W``, as the seed did.
    """
    batch, channels, height, width = features.shape
    if features.requires_grad:
        gram = _Gram.apply(features)
    else:
        gram = _gram_product(features, _by_convolution(features))
    if normalize:
        gram = gram / (channels * height * width)
    return gram


class _Gram(torch.autograd.Function):
    """``F F^T`` with a one-product backward, ``F^T (dG + dG^T)``: autograd's generic bmm
    backward takes two products and a sum.

    The gradient is a fresh tensor in the features' own memory format, not a view of a
    product: autograd then adds the next layer's gradient into it in place, where a view
    would cost one more feature-sized tensor and pass per style layer and step.
    """

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(features)
        ctx.by_convolution = _by_convolution(features)  # the backward takes the same path
        return _gram_product(features, ctx.by_convolution)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        symmetric = grad + grad.transpose(1, 2)
        if ctx.by_convolution:
            channels = features.shape[1]
            return F.conv2d(features, symmetric.view(channels, channels, 1, 1))
        result = torch.empty_like(features, memory_format=_layout(features))
        rows, out = _pixel_rows(features), _pixel_rows(result)
        if rows.shape[0] == 1:  # mm: a third faster than a one-item bmm on the 64-channel layer
            torch.mm(rows[0], symmetric[0], out=out[0])
        else:
            torch.bmm(rows, symmetric, out=out)
        return result


def _gram_product(features: torch.Tensor, by_convolution: bool) -> torch.Tensor:
    """``F F^T`` per batch item, unnormalized; ``by_convolution``: see :func:`_by_convolution`."""
    if by_convolution:
        channels = features.shape[1]
        return conv2d_weight(features, (channels, channels, 1, 1), features).view(1, channels, channels)
    rows = _pixel_rows(features)
    return torch.bmm(rows.transpose(1, 2), rows)


def _by_convolution(features: torch.Tensor) -> bool:
    """Whether to compute both products as a 1x1 convolution (backward) and its weight
    gradient (forward), for one channels-last float32 feature map on the CPU.

    There they run in oneDNN, the library of the backbone's own convolutions: measured on a
    2-core AMD EPYC, the five VGG16 style layers' products for a 512 px step took 51 ms
    instead of the BLAS matrix products' 114 ms, with the same float32 accuracy
    (docs/performance.md).
    """
    return (
        features.device.type == "cpu"
        and features.dtype == torch.float32
        and features.shape[0] == 1
        and _layout(features) == torch.channels_last
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
    )


def _layout(features: torch.Tensor) -> torch.memory_format:
    """channels_last for channels-last features (kept through the backward), else contiguous."""
    if features.shape[1] > 1 and features.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _pixel_rows(features: torch.Tensor) -> torch.Tensor:
    """``(B, H*W, C)``: one row per pixel, a view where the layout allows."""
    batch, channels, height, width = features.shape
    if _layout(features) == torch.channels_last:
        return features.permute(0, 2, 3, 1).view(batch, height * width, channels)
    return features.reshape(batch, channels, height * width).transpose(1, 2)
