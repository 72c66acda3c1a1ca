"""Convolutions fused with the in-place ReLU after them, for a backbone run in bfloat16 on the CPU.

An in-place ReLU reads and rewrites its convolution's whole output in a pass of its own; oneDNN
can apply it as the convolution writes, as a post-op. The outputs and gradients are the same
bit for bit and a bfloat16 pass is faster (docs/performance.md); a float32 pass gains nothing,
so only bfloat16 runs are fused.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable


@functools.lru_cache(maxsize=1)
def _fused_convolution() -> Any:
    """oneDNN's convolution with a post-op, or None where this torch has no oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._convolution_pointwise.default
    except (AttributeError, RuntimeError):
        return None


@functools.lru_cache(maxsize=1)
def _onednn_takes_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions on this CPU (torch's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Conv2dReLU(nn.Conv2d):
    """A frozen 2-D convolution followed by an in-place ReLU, one oneDNN kernel on the CPU.

    It holds the convolution's own parameters and fuses bfloat16 convolutions only. Elsewhere
    (float32, another device, a torch or CPU without oneDNN's bfloat16) it is the
    convolution, then the ReLU.
    """

    @classmethod
    def replacing(cls, convolution: nn.Conv2d) -> Conv2dReLU:
        """The fused layer computing with ``convolution``'s parameters."""
        fused = cls(convolution.in_channels, convolution.out_channels, convolution.kernel_size,
                    stride=convolution.stride, padding=convolution.padding, dilation=convolution.dilation,
                    groups=convolution.groups, bias=convolution.bias is not None,
                    padding_mode=convolution.padding_mode, device="meta")
        fused.weight = convolution.weight
        fused.bias = convolution.bias
        return fused.train(convolution.training)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``relu(conv(image))``."""
        fused = _fused_convolution()
        if fused is None or not image.is_cpu or self.weight.dtype != torch.bfloat16 or not _onednn_takes_bfloat16():
            return torch.relu_(super().forward(image))
        # Autocast does not know the fused operator: the input takes the weights' dtype, which
        # is autocast's for this convolution.
        return _FusedConvolutionReLU.apply(image.to(self.weight.dtype), self)


class _FusedConvolutionReLU(torch.autograd.Function):
    """oneDNN's convolution with a ReLU post-op; the backward masks the gradient by the output
    and runs the convolution's input gradient (the weights are frozen)."""

    @staticmethod
    def forward(ctx: Any, image: torch.Tensor, layer: Conv2dReLU) -> torch.Tensor:
        output = _fused_convolution()(image, layer.weight, layer.bias, list(layer.padding), list(layer.stride),
                                      list(layer.dilation), layer.groups, "relu", [], "")
        ctx.save_for_backward(image, output)
        ctx.layer = layer
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        image, output = ctx.saved_tensors
        layer = ctx.layer
        masked = torch.ops.aten.threshold_backward(grad, output, 0)
        image_grad, _, _ = torch.ops.aten.convolution_backward(
            masked, image, layer.weight, None, list(layer.stride), list(layer.padding), list(layer.dilation),
            False, [0, 0], layer.groups, [True, False, False])
        return image_grad, None


def fuse_convolutions_with_relus(network: nn.Module) -> int:
    """Replace, in every ``nn.Sequential`` of ``network``, each frozen ``nn.Conv2d`` followed by
    an in-place ``nn.ReLU`` with a :class:`Conv2dReLU` and the ReLU with an ``nn.Identity``.
    Returns how many were fused.

    The indices of the layers stay the same, and so does what any layer's output holds once
    the ReLU ran: an in-place ReLU overwrote the convolution's output anyway, so no one could
    read it unrectified. Layers with hooks, trainable weights, or a padding mode or padding
    oneDNN's kernel does not take are left as they are.
    """
    fused = 0
    for container in list(network.modules()):
        if not isinstance(container, nn.Sequential):
            continue
        layers = list(container)
        for index in range(len(layers) - 1):
            convolution, relu = layers[index], layers[index + 1]
            if _fusable(convolution, relu):
                container[index] = Conv2dReLU.replacing(convolution)
                container[index + 1] = nn.Identity()
                fused += 1
    return fused


def _fusable(convolution: nn.Module, relu: nn.Module) -> bool:
    """Whether ``convolution`` then ``relu`` can be one :class:`Conv2dReLU`."""
    if type(convolution) is not nn.Conv2d or type(relu) is not nn.ReLU or not relu.inplace:
        return False
    hooked = any(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                 for module in (convolution, relu))
    return (not hooked and convolution.padding_mode == "zeros" and not isinstance(convolution.padding, str)
            and not any(parameter.requires_grad for parameter in convolution.parameters()))
