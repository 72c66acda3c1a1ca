"""The first convolution of a bfloat16 backbone reads the image at float32 precision: steps
smaller than bfloat16's resolution still change the features, and nothing else changes."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from torch import nn

from siayn_core.config.build import build_options
from siayn_core.engine import acceleration
from siayn_core.engine.fusion import Conv2dReLU, fuse_convolutions_with_relus
from siayn_core.engine.image_precision import SplitPrecision, read_image_in_full
from siayn_core.engine.painter import Painter
from siayn_core.host.registry import Registry

from .conftest import needs_onednn_bfloat16


def small_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(8, 8, 3, padding=1)).requires_grad_(False).eval()


def in_bfloat16(network: nn.Module, *, full_image: bool, fused: bool = False) -> nn.Module:
    network = acceleration.with_weights_in(network, torch.bfloat16)
    if fused:
        fuse_convolutions_with_relus(network)
    if full_image:
        assert read_image_in_full(network, torch.bfloat16)
    return network


def run(network: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    image = image.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = network(image)
    (output.float() * torch.linspace(-1, 1, output.numel()).view_as(output)).sum().backward()
    return output.float(), image.grad


def test_the_split_sums_back_to_the_image_far_closer_than_rounding_it() -> None:
    image = torch.rand(1, 3, 16, 16) * 4 - 2
    split = SplitPrecision(torch.bfloat16)(image)
    assert split.shape == (1, 6, 16, 16) and split.dtype == torch.bfloat16
    rounding_error = (image.to(torch.bfloat16).float() - image).abs().max()
    split_error = (split[:, :3].float() + split[:, 3:].float() - image).abs().max()
    assert split_error < rounding_error / 100


def test_a_change_of_the_image_below_bfloat16s_step_reaches_the_features() -> None:
    image = torch.full((1, 3, 12, 12), 0.5)
    nudged = image + 2.0 ** -12  # bfloat16's step at 0.5 is 2**-9: the rounded image is the same
    plain = in_bfloat16(small_network(), full_image=False)
    full = in_bfloat16(small_network(), full_image=True)
    assert torch.equal(run(plain, image)[0], run(plain, nudged)[0])
    assert not torch.equal(run(full, image)[0], run(full, nudged)[0])


def test_the_features_are_float32s_to_bfloat16s_own_rounding() -> None:
    torch.manual_seed(1)
    image = torch.rand(1, 3, 20, 20)
    network = in_bfloat16(small_network(), full_image=True)
    reference = deepcopy(network[0][1]).float()  # the same weights, computing in float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        first = network[0](image).float()
    expected = nn.functional.conv2d(image, reference.weight[:, :3], reference.bias, padding=1)
    assert torch.allclose(first, expected, rtol=2.0 ** -8, atol=1e-6)


def test_the_image_gradient_is_the_rounded_images() -> None:
    image = torch.rand(1, 3, 16, 16)
    convolution = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)).requires_grad_(False)
    plain = acceleration.with_weights_in(convolution, torch.bfloat16)
    full = deepcopy(plain)
    assert read_image_in_full(full, torch.bfloat16)
    grad, plain_grad = run(full, image)[1], run(plain, image)[1]
    assert grad.dtype == torch.float32 and torch.equal(grad, plain_grad)


@needs_onednn_bfloat16
def test_a_fused_first_convolution_reads_the_image_in_full_too() -> None:
    image = torch.rand(1, 3, 16, 16)
    fused = in_bfloat16(small_network(), full_image=True, fused=True)
    unfused = in_bfloat16(small_network(), full_image=True)
    assert isinstance(fused[0][1], Conv2dReLU) and fused[0][1].in_channels == 6
    output, grad = run(fused, image)
    expected, expected_grad = run(unfused, image)
    assert torch.equal(output, expected) and torch.equal(grad, expected_grad)


@pytest.mark.parametrize("first", [
    nn.Conv2d(3, 6, 3, groups=3),  # grouped: doubling its channels would mix the groups
    nn.Conv2d(1, 6, 3),  # does not read an RGB image
    nn.Conv2d(3, 6, 3).requires_grad_(True),  # trainable
], ids=["grouped", "one_channel", "trainable"])
def test_other_first_convolutions_are_left_alone(first: nn.Conv2d) -> None:
    network = nn.Sequential(first, nn.ReLU())
    network[0].to(torch.bfloat16)
    assert not read_image_in_full(network, torch.bfloat16)
    assert network[0] is first


def test_float32_weights_are_left_alone() -> None:
    network = small_network()
    assert not read_image_in_full(network, torch.bfloat16)
    assert type(network[0]) is nn.Conv2d


def test_a_nested_first_convolution_is_found() -> None:
    network = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 1)), nn.Conv2d(4, 4, 1)).requires_grad_(False)
    network.to(torch.bfloat16)
    assert read_image_in_full(network, torch.bfloat16)
    assert [type(layer) for layer in network[0][0]] == [SplitPrecision, nn.Conv2d]
    assert network[0][0][1].in_channels == 6 and network[1].in_channels == 4


def first_layer(registry: Registry, monkeypatch: pytest.MonkeyPatch, native: bool, **settings: object) -> nn.Module:
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: native)
    options = build_options({"backbone_options": {"weights": "none"}, **settings}, where="test")
    return Painter(options, registry, "cpu").components["backbone"].extractor.features[0]


def test_every_bfloat16_run_reads_the_image_in_full_and_float32_runs_do_not(registry: Registry,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    native = first_layer(registry, monkeypatch, True)
    assert isinstance(native, nn.Sequential) and isinstance(native[0], SplitPrecision)
    assert native[1].in_channels == 6 and native[1].weight.dtype == torch.bfloat16
    forced = first_layer(registry, monkeypatch, False, precision="bfloat16")
    assert isinstance(forced, nn.Sequential) and type(forced[1]) is nn.Conv2d
    for layer in (first_layer(registry, monkeypatch, True, precision="float32"),
                  first_layer(registry, monkeypatch, False)):
        assert type(layer) is nn.Conv2d and layer.in_channels == 3 and layer.weight.dtype == torch.float32
