"""Gram matrices of feature maps, with a fast backward for the style loss.

Both matrix products of the style loss, ``G = F F^T`` forward and ``F^T S`` backward, are
written here once, for the targets and for the generated image alike, so the two are
computed the same way and ``G - T`` does not pick up a difference of implementations.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G = F F^T`` over the spatial positions, one matrix per batch item: ``(B, C, C)``, in
    float32.

    bfloat16 features are multiplied in bfloat16 (the products accumulate in float32 in
    oneDNN and cuBLAS) and the Gram matrix is then compared in float32.

    :param normalize: divide by ``C * H * W``, as the original SIAYN did.
    """
    batch, channels, height, width = features.shape
    if features.requires_grad:
        gram = _Gram.apply(features)
    else:
        gram = _gram_product(features, _by_convolution(features))
    if gram.dtype == torch.bfloat16:
        gram = gram.float()
    if normalize:
        gram = gram / (channels * height * width)
    return gram


def weighted_gram_matrix(features: torch.Tensor, weights: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``sum_p w_p F_p F_p^T``, the Gram matrix of the positions weighted by ``weights``
    (``(1, 1, H, W)`` in ``[0, 1]``), as the Gram matrix of ``F * sqrt(w)``.

    :param normalize: divide by ``C * sum(w)``: the weighted mean, so weights of ones give
        :func:`gram_matrix`'s value.
    """
    gram = gram_matrix(features * weights.sqrt(), normalize=False)
    if normalize:
        gram = gram / (features.shape[1] * total_weight(weights))
    return gram


def total_weight(weights: torch.Tensor) -> torch.Tensor:
    """``sum(w)``, kept above zero so a region absent from a tile gives zeros, not NaN."""
    return weights.sum().clamp(min=1e-12)


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
        ctx.by_convolution = _by_convolution(features)  # oneDNN in the backward only where eligible
        return _gram_product(features, ctx.by_convolution)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        symmetric = grad + grad.transpose(1, 2)
        if ctx.by_convolution and _convolution_is_faster(features, symmetric):
            return _backward_by_convolution(features, symmetric)
        return _backward_by_matrix_product(features, symmetric)


def _backward_by_convolution(features: torch.Tensor, symmetric: torch.Tensor) -> torch.Tensor:
    """``F^T S`` as a 1x1 convolution of one feature map with ``S`` (oneDNN on the CPU)."""
    channels = features.shape[1]
    return F.conv2d(features, symmetric.view(channels, channels, 1, 1))


def _backward_by_matrix_product(features: torch.Tensor, symmetric: torch.Tensor) -> torch.Tensor:
    """``F^T S`` as a BLAS matrix product written straight into a tensor in the features' layout."""
    result = torch.empty_like(features, memory_format=_layout(features))
    rows, out = _pixel_rows(features), _pixel_rows(result)
    if rows.shape[0] == 1:  # mm is faster than a one-item bmm
        torch.mm(rows[0], symmetric[0], out=out[0])
    else:
        torch.bmm(rows, symmetric, out=out)
    return result


class BackwardChoices:
    """Whether oneDNN's 1x1 convolution beats BLAS's matrix product at ``F^T S``, per feature
    shape and thread count: timed once per key (as ``cudnn.benchmark`` picks convolutions).

    Which wins depends on the CPU, its BLAS and the layer's shape (docs/performance.md).
    The two agree to float32 rounding. Runs in several threads share the choices; one thread
    at a time times a new shape, so no shape is timed twice and two timings never overlap.
    """

    def __init__(self) -> None:
        self._faster: dict[tuple[int, ...], bool] = {}
        self._lock = threading.Lock()

    def convolution_is_faster(self, features: torch.Tensor, symmetric: torch.Tensor) -> bool:
        """The choice for ``features``' shape and this thread count, timed on the first call."""
        key = (*features.shape[1:], torch.get_num_threads())
        faster = self._faster.get(key)
        if faster is None:
            with self._lock:
                faster = self._faster.get(key)
                if faster is None:
                    ways = (_backward_by_convolution, _backward_by_matrix_product)
                    convolution, product = _fastest_runs(ways, features, symmetric)
                    faster = self._faster[key] = convolution < product
        return faster


#: This process's choices, shared by every loss and thread.
_BACKWARD_CHOICES = BackwardChoices()


def _convolution_is_faster(features: torch.Tensor, symmetric: torch.Tensor) -> bool:
    """Whether the convolution computes ``F^T S`` faster for this shape (:class:`BackwardChoices`)."""
    return _BACKWARD_CHOICES.convolution_is_faster(features, symmetric)


#: Timed runs of each way, after one untimed run.
_TIMED_RUNS = 3


def _fastest_runs(ways: tuple[Any, ...], features: torch.Tensor, symmetric: torch.Tensor) -> list[float]:
    """The fastest of :data:`_TIMED_RUNS` runs of each way, the ways taking turns.

    The first run of each is not timed: a oneDNN convolution's first call at a new shape
    builds its kernel and is far slower than the calls after it.
    """
    for way in ways:
        way(features, symmetric)
    best = [float("inf")] * len(ways)
    for _ in range(_TIMED_RUNS):
        for index, way in enumerate(ways):
            started = time.perf_counter()
            way(features, symmetric)
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def _gram_product(features: torch.Tensor, by_convolution: bool) -> torch.Tensor:
    """``F F^T`` per batch item, unnormalized; ``by_convolution``: see :func:`_by_convolution`."""
    if by_convolution:
        channels = features.shape[1]
        return conv2d_weight(features, (channels, channels, 1, 1), features).view(1, channels, channels)
    rows = _pixel_rows(features)
    if rows.shape[0] == 1:  # mm is faster than a one-item bmm
        return torch.mm(rows[0].transpose(0, 1), rows[0]).unsqueeze(0)
    return torch.bmm(rows.transpose(1, 2), rows)


def _by_convolution(features: torch.Tensor) -> bool:
    """Whether to compute ``F F^T`` as a 1x1 convolution's weight gradient, for one
    channels-last float32 feature map on the CPU, and to let the backward choose between
    that convolution and a matrix product (:func:`_convolution_is_faster`).

    There the products run in oneDNN, the library of the backbone's own convolutions, faster
    than BLAS's matrix products at the same float32 accuracy (docs/performance.md).
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
