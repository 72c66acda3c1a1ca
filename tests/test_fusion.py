"""Convolutions fused with the in-place ReLU after them (bfloat16 backbones on the CPU): the
same features and gradients as the stock layers, bit for bit, and only where nobody could
have seen the convolution's output before its ReLU."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from torch import nn

from siayn_core.config.build import build_options
from siayn_core.engine import acceleration, fusion
from siayn_core.engine.fusion import Conv2dReLU, fuse_convolutions_with_relus
from siayn_core.engine.painter import Painter
from siayn_core.host.registry import Registry

from .conftest import needs_onednn_bfloat16


def small_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1, stride=2),
        nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1, dilation=1), nn.ReLU(inplace=True),
    ).requires_grad_(False).eval()


def forward_and_gradient(network: nn.Module, image: torch.Tensor,
                         dtype: torch.dtype | None) -> tuple[torch.Tensor, ...]:
    image = image.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        output = network(image)
    (output.float() * torch.linspace(-1, 1, output.numel()).view_as(output)).sum().backward()
    return output, image.grad


@needs_onednn_bfloat16
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "contiguous"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, None], ids=["bfloat16", "float32"])
def test_fused_layers_give_the_stock_features_and_gradients_bit_for_bit(channels_last: bool,
                                                                         dtype: torch.dtype | None) -> None:
    stock = small_network()
    image = torch.rand(1, 3, 20, 18)
    if channels_last:
        stock = stock.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    if dtype is not None:
        stock = acceleration.with_weights_in(stock, dtype)
    fused = deepcopy(stock)
    assert fuse_convolutions_with_relus(fused) == 3
    expected, expected_grad = forward_and_gradient(stock, image, dtype)
    output, grad = forward_and_gradient(fused, image, dtype)
    assert output.dtype == (dtype or torch.float32) and output.stride() == expected.stride()
    # bfloat16 runs oneDNN's fused kernel; float32 is the convolution, then the ReLU.
    assert (type(output.grad_fn).__name__ == "_FusedConvolutionReLUBackward") == (dtype is not None)
    assert torch.equal(output, expected) and torch.equal(grad, expected_grad)


def test_without_onednn_a_fused_layer_is_the_convolution_then_the_relu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fusion, "_fused_convolution", lambda: None)
    stock, image = small_network(), torch.rand(1, 3, 16, 16)
    fused = deepcopy(stock)
    fuse_convolutions_with_relus(fused)
    assert torch.equal(forward_and_gradient(fused, image, None)[1], forward_and_gradient(stock, image, None)[1])


def test_only_convolutions_whose_output_no_one_sees_unrectified_are_fused() -> None:
    trainable = nn.Conv2d(4, 4, 1)
    hooked = nn.Conv2d(4, 4, 1).requires_grad_(False)
    hooked.register_forward_hook(lambda module, inputs, output: None)
    network = nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.ReLU(inplace=False),  # its output is kept: the ReLU makes a new tensor
        nn.Conv2d(4, 4, 1), nn.ReLU(inplace=True),  # fused
        trainable, nn.ReLU(inplace=True), hooked, nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 1, padding_mode="reflect"), nn.ReLU(inplace=True),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(inplace=True)),  # fused, in a nested container
    )
    for layer in (network[0], network[2], network[8], network[10][0]):
        layer.requires_grad_(False)
    assert fuse_convolutions_with_relus(network) == 2
    kinds = [type(layer).__name__ for layer in network]
    assert kinds == ["Conv2d", "ReLU", "Conv2dReLU", "Identity", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU",
                     "Sequential"]
    assert [type(layer) for layer in network[10]] == [Conv2dReLU, nn.Identity]
    assert network[2].weight is not None and not network[2].weight.requires_grad


def vgg_painter(registry: Registry, monkeypatch: pytest.MonkeyPatch, native: bool, **settings: object) -> Painter:
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: native)
    options = build_options({"backbone_options": {"weights": "none"}, **settings}, where="test")
    return Painter(options, registry, "cpu")


def fused_layers(painter: Painter) -> int:
    return sum(isinstance(module, Conv2dReLU) for module in painter.components["backbone"].modules())


@needs_onednn_bfloat16
def test_a_native_bfloat16_run_fuses_its_backbone_and_nothing_else_does(registry: Registry,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The defaults tap relu1_1 ... relu5_1: the 11 convolutions up to conv5_1 are all fused.
    assert fused_layers(vgg_painter(registry, monkeypatch, True)) == 11
    assert fused_layers(vgg_painter(registry, monkeypatch, True, precision="float32")) == 0
    assert fused_layers(vgg_painter(registry, monkeypatch, False)) == 0  # float32 on an emulating CPU
    assert fused_layers(vgg_painter(registry, monkeypatch, False, precision="bfloat16")) == 0


@needs_onednn_bfloat16
def test_a_tapped_convolution_keeps_its_unrectified_output(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    painter = vgg_painter(registry, monkeypatch, True, style_layers=["conv1_2", "relu2_1"], content_layers=["relu2_2"])
    features = painter.components["backbone"](torch.rand(1, 3, 24, 24))
    assert float(features["conv1_2"].min()) < 0.0 <= float(features["relu2_1"].min())
    assert fused_layers(painter) == 3  # conv1_1, conv2_1 and conv2_2; not conv1_2
