"""The built-in losses, through the registry: values and gradients against plain torch."""

from __future__ import annotations

import pytest
import torch


def reference_gram_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gatys et al.'s style loss written with autograd's own operations: the mean squared
    difference of the normalized Gram matrices, the ``gram`` loss's default."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    gram = flat @ flat.transpose(1, 2) / (channels * height * width)
    return ((gram - target) ** 2).mean()


def test_summed_gram_differences_are_the_mean_times_the_entries(registry) -> None:
    features, style = torch.rand(2, 1, 6, 5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mean, summed = registry.create("loss", "gram"), registry.create("loss", "gram", {"reduction": "sum"})
    assert torch.allclose(summed(features, summed.target(style)), 36 * mean(features, mean.target(style)))


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_loss_gradient_matches_autograd(registry, batch: int, channels_last: bool) -> None:
    gram = registry.create("loss", "gram")
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(batch, 6, 5, 7, generator=generator, dtype=torch.float64)
    style = torch.rand(batch, 6, 5, 7, generator=generator, dtype=torch.float64)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    target = gram.target(style)
    ours = features.clone().requires_grad_(True)
    expected = features.clone().requires_grad_(True)
    loss = gram(ours, target)
    loss.backward()
    reference = reference_gram_loss(expected, target)
    reference.backward()
    assert torch.allclose(loss, reference)
    assert torch.allclose(ours.grad, expected.grad, rtol=1e-10, atol=1e-12)
    if channels_last:  # the backbone's backward stays in one memory format
        assert ours.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("channels_last", [False, True])
def test_float32_gram_loss_matches_a_float64_reference(registry, channels_last: bool) -> None:
    """The float32 CPU paths (channels-last features take oneDNN's 1x1 convolutions) agree
    with plain float64 products to float32 accuracy, on the value and the gradient."""
    gram = registry.create("loss", "gram")
    generator = torch.Generator().manual_seed(1)
    features = torch.rand(1, 32, 24, 20, generator=generator)
    style = torch.rand(1, 32, 24, 20, generator=generator)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
        style = style.contiguous(memory_format=torch.channels_last)
    target = gram.target(style)
    reference_target = gram.target(style.double())
    assert torch.allclose(target.double(), reference_target, rtol=1e-5, atol=0)
    ours = features.clone().requires_grad_(True)
    expected = features.double().requires_grad_(True)
    loss = gram(ours, target)
    loss.backward()
    reference = reference_gram_loss(expected, target.double())
    reference.backward()
    assert torch.allclose(loss.double(), reference, rtol=1e-4)
    assert torch.allclose(ours.grad.double(), expected.grad, rtol=1e-4, atol=1e-4 * expected.grad.abs().max().item())
    assert ours.grad.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def test_gram_loss_passes_gradcheck(registry) -> None:
    gram = registry.create("loss", "gram")
    features = torch.rand(1, 4, 3, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    target = gram.target(torch.rand(1, 4, 3, 3, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: gram(x, target), (features.requires_grad_(True),))


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_gradient_is_summed_in_place_with_the_next_layers(registry, channels_last: bool) -> None:
    """A tapped layer's gradient is the style loss's plus the next layer's: autograd adds
    them in place only when the loss returns a whole tensor, not a view of a product."""
    from torch.profiler import ProfilerActivity, profile

    gram = registry.create("loss", "gram")
    layer = torch.nn.Conv2d(8, 8, 3, padding=1).requires_grad_(False)
    image = torch.rand(1, 8, 12, 12)
    if channels_last:
        layer, image = layer.to(memory_format=torch.channels_last), image.contiguous(memory_format=torch.channels_last)
    image.requires_grad_(True)
    target = gram.target(torch.rand(1, 8, 12, 12))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as trace:
        features = torch.relu(layer(image))
        (layer(features).sum() + gram(features, target)).backward()
    sums = [event.name for event in trace.events() if event.name in ("aten::add", "aten::add_")
            and event.input_shapes and event.input_shapes[0] == [1, 8, 12, 12]]
    assert sums == ["aten::add_"]


@pytest.mark.parametrize("by_convolution", [False, True])
def test_both_gram_backward_products_match_a_float64_reference(registry, monkeypatch, by_convolution: bool) -> None:
    """The backward takes whichever of oneDNN's convolution and BLAS's product the machine
    runs faster; either gives the float32 gradient, in the features' layout."""
    from siayn_losses import gram as gram_module

    monkeypatch.setattr(gram_module, "_convolution_is_faster", lambda features, symmetric: by_convolution)
    gram = registry.create("loss", "gram")
    generator = torch.Generator().manual_seed(2)
    features = torch.rand(1, 16, 20, 18, generator=generator).contiguous(memory_format=torch.channels_last)
    target = gram.target(torch.rand(1, 16, 20, 18, generator=generator).contiguous(memory_format=torch.channels_last))
    ours = features.clone().requires_grad_(True)
    expected = features.double().requires_grad_(True)
    gram(ours, target).backward()
    reference_gram_loss(expected, target.double()).backward()
    assert torch.allclose(ours.grad.double(), expected.grad, rtol=1e-4, atol=1e-4 * expected.grad.abs().max().item())
    assert ours.grad.is_contiguous(memory_format=torch.channels_last)


def test_the_backward_product_is_timed_once_per_feature_shape(monkeypatch) -> None:
    from siayn_losses import gram as gram_module

    timings: list[tuple[int, ...]] = []
    real = gram_module._fastest_runs
    monkeypatch.setattr(gram_module, "_fastest_runs",
                        lambda ways, features, symmetric: timings.append(features.shape) or real(ways, features, symmetric))
    choices = gram_module.BackwardChoices()
    features = torch.rand(1, 8, 9, 7).contiguous(memory_format=torch.channels_last)
    symmetric = torch.rand(1, 8, 8)
    first = choices.convolution_is_faster(features, symmetric)
    assert choices.convolution_is_faster(features, symmetric) is first and len(timings) == 1
    choices.convolution_is_faster(torch.rand(1, 8, 5, 7), symmetric)
    assert len(timings) == 2  # a new shape is timed on its own


def test_two_threads_choosing_at_once_time_the_shape_once(monkeypatch) -> None:
    import threading
    import time

    from siayn_losses import gram as gram_module

    timings: list[str] = []
    real = gram_module._fastest_runs

    def slow_timing(ways, features, symmetric):
        timings.append(threading.current_thread().name)
        time.sleep(0.05)  # long enough for the other thread to ask meanwhile
        return real(ways, features, symmetric)

    monkeypatch.setattr(gram_module, "_fastest_runs", slow_timing)
    choices = gram_module.BackwardChoices()
    features = torch.rand(1, 8, 9, 7).contiguous(memory_format=torch.channels_last)
    symmetric = torch.rand(1, 8, 8)
    start = threading.Barrier(2)
    answers: dict[str, bool] = {}
    errors: list[BaseException] = []

    def choose() -> None:
        try:
            start.wait()
            answers[threading.current_thread().name] = choices.convolution_is_faster(features, symmetric)
        except BaseException as error:  # surfaced below: a thread's exception is otherwise only printed
            errors.append(error)

    threads = [threading.Thread(target=choose, name=f"run {number}") for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(answers) == 2 and len(set(answers.values())) == 1
    assert len(timings) == 1


def test_the_timing_ignores_a_slow_first_run() -> None:
    """A way whose first call is slow (a oneDNN kernel being built) still wins when faster after."""
    import time

    from siayn_losses import gram as gram_module

    calls = {"warming": 0}

    def slow_first(features: torch.Tensor, symmetric: torch.Tensor) -> None:
        calls["warming"] += 1
        time.sleep(0.05 if calls["warming"] == 1 else 0.0)

    def steady(features: torch.Tensor, symmetric: torch.Tensor) -> None:
        time.sleep(0.005)

    best = gram_module._fastest_runs((slow_first, steady), torch.empty(0), torch.empty(0))
    assert best[0] < 0.005 <= best[1]
    assert calls["warming"] == 1 + gram_module._TIMED_RUNS


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_content_loss_matches_torch_and_keeps_the_features_layout(registry, reduction: str) -> None:
    """The content gradient stays channels_last (``F.mse_loss``'s CPU backward would not)."""
    mse = registry.create("loss", "mse", {"reduction": reduction})
    generator = torch.Generator().manual_seed(3)
    features = torch.rand(1, 6, 5, 7, generator=generator, dtype=torch.float64)
    features = features.contiguous(memory_format=torch.channels_last)
    target = mse.target(torch.rand(1, 6, 5, 7, generator=generator, dtype=torch.float64))
    ours = features.clone().requires_grad_(True)
    expected = features.clone().requires_grad_(True)
    loss = mse(ours, target)
    loss.backward()
    reference = torch.nn.functional.mse_loss(expected, target, reduction=reduction)
    if reduction == "sum":  # the paper's 1/2 * sum
        reference = 0.5 * reference
    reference.backward()
    assert torch.allclose(loss, reference)
    assert torch.allclose(ours.grad, expected.grad, rtol=1e-10, atol=1e-12)
    assert ours.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(lambda x: mse(x, target), (features.clone().requires_grad_(True),))


def test_gram_loss_takes_bfloat16_features_and_compares_in_float32(registry) -> None:
    """bfloat16 features are multiplied in bfloat16 and compared in float32: the value and the
    gradient agree with float32 products of the same features to bfloat16's rounding."""
    gram = registry.create("loss", "gram")
    assert gram.takes_bfloat16
    generator = torch.Generator().manual_seed(2)
    features = torch.rand(1, 16, 12, 10, generator=generator).contiguous(memory_format=torch.channels_last)
    target = gram.target(torch.rand(1, 16, 12, 10, generator=generator))
    low = features.bfloat16().requires_grad_(True)
    exact = low.detach().float().requires_grad_(True)
    value, reference = gram(low, target), gram(exact, target)
    value.backward()
    reference.backward()
    assert value.dtype == torch.float32 and gram.target(low.detach()).dtype == torch.float32
    assert torch.allclose(value, reference, rtol=2e-2)
    assert low.grad.dtype == torch.bfloat16
    assert torch.allclose(low.grad.float(), exact.grad, rtol=3e-2, atol=3e-2 * exact.grad.abs().max().item())
