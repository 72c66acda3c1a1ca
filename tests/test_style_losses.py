"""The statistics style losses (``w2``, ``mean-std``) against reference computations, and the
way every built-in loss declares how it adds up over tiles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import torch

from siayn_core import TileableLoss
from siayn_core.host.registry import Registry

STYLE_LOSSES = [("gram", {}), ("gram", {"normalize": False}), ("w2", {}), ("mean-std", {})]


def features(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator, dtype=torch.float64).float()


@pytest.mark.parametrize(("name", "options"), STYLE_LOSSES)
def test_declared_combination_holds_and_the_loss_compares_representations(
    registry: Registry, name: str, options: dict
) -> None:
    loss = registry.create("loss", name, options)
    assert isinstance(loss, TileableLoss)
    a, b = features(1, 6, 1, 7, seed=1), features(1, 6, 1, 13, seed=2)
    whole, parts = loss.target(torch.cat((a, b), -1)), (loss.target(a), loss.target(b))
    combined = parts[0] + parts[1] if loss.combines == "sum" else (7 * parts[0] + 13 * parts[1]) / 20
    torch.testing.assert_close(whole, combined, rtol=1e-5, atol=1e-6)
    target = loss.target(features(1, 6, 4, 5, seed=3))
    generated = features(1, 6, 3, 3, seed=4)
    torch.testing.assert_close(loss(generated, target), loss.compare(loss.target(generated), target))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_content_loss_declares_how_its_value_adds_up(registry: Registry, reduction: str) -> None:
    mse = registry.create("loss", "mse", {"reduction": reduction})
    a, b, ta, tb = (features(1, 4, 1, n, seed=n + 10 * i) for i, n in enumerate((6, 10, 6, 10)))
    whole = mse(torch.cat((a, b), -1), torch.cat((ta, tb), -1))
    parts = mse(a, ta), mse(b, tb)
    expected = parts[0] + parts[1] if mse.combines == "sum" else (6 * parts[0] + 10 * parts[1]) / 16
    torch.testing.assert_close(whole, expected)


def gaussian_w2(x: np.ndarray, y: np.ndarray) -> float:
    """The squared W2 distance between Gaussian fits of two ``(C, N)`` samples (population
    covariances), with SciPy's matrix square root."""
    mean_x, mean_y = x.mean(1), y.mean(1)
    cov_x, cov_y = np.cov(x, bias=True), np.cov(y, bias=True)
    root_y = scipy.linalg.sqrtm(cov_y).real
    cross = scipy.linalg.sqrtm(root_y @ cov_x @ root_y).real
    return float(((mean_x - mean_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * cross))


def test_w2_matches_scipy(registry: Registry) -> None:
    loss = registry.create("loss", "w2", {"normalize": False, "ridge": 0.0})
    generated, style = features(1, 8, 5, 6, seed=5), features(1, 8, 7, 4, seed=6) * 2 + 0.3
    value = float(loss(generated, loss.target(style)))
    reference = gaussian_w2(generated.double().reshape(8, -1).numpy(), style.double().reshape(8, -1).numpy())
    assert value == pytest.approx(reference, rel=1e-4)
    normalized = registry.create("loss", "w2", {"ridge": 0.0})
    assert float(normalized(generated, normalized.target(style))) == pytest.approx(reference / 8, rel=1e-4)


def test_w2_is_zero_for_the_same_statistics_and_has_a_finite_gradient(registry: Registry) -> None:
    loss = registry.create("loss", "w2", {})
    style = features(1, 16, 6, 6, seed=7)
    # Fewer positions than channels: both covariances are singular.
    generated = features(1, 16, 2, 3, seed=8).requires_grad_(True)
    assert abs(float(loss(style, loss.target(style)))) < 1e-4
    value = loss(generated, loss.target(style))
    value.backward()
    assert torch.isfinite(generated.grad).all() and float(generated.grad.abs().max()) > 0


def test_w2_gradient_passes_gradcheck() -> None:
    from siayn_losses.statistics import W2Loss

    loss = W2Loss(ridge=1e-3)
    target = loss.target(torch.rand(1, 4, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9)))
    generated = torch.rand(1, 4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    assert torch.autograd.gradcheck(lambda f: loss(f, target), (generated.requires_grad_(True),))


def test_mean_std_matches_the_statistics_it_names(registry: Registry) -> None:
    loss = registry.create("loss", "mean-std", {"eps": 0.0, "normalize": False})
    generated, style = features(1, 5, 4, 4, seed=11), features(1, 5, 6, 3, seed=12) * 3
    flat_g, flat_s = generated.double().reshape(5, -1), style.double().reshape(5, -1)
    reference = ((flat_g.mean(1) - flat_s.mean(1)) ** 2).sum() + (
        (flat_g.std(1, unbiased=False) - flat_s.std(1, unbiased=False)) ** 2).sum()
    assert float(loss(generated, loss.target(style))) == pytest.approx(float(reference), rel=1e-4)


# -- sliced-wasserstein --------------------------------------------------------------------


def sliced_reference(generated: torch.Tensor, style: torch.Tensor, seed: int, count: int,
                     guide: torch.Tensor | None = None) -> float:
    """The sliced Wasserstein loss by an explicit loop over the directions the loss draws with
    ``seed``: NumPy sorts, the style read at the generated positions' (weighted) quantiles."""
    x = generated.double().reshape(generated.shape[1], -1).T.numpy()
    y = style.double().reshape(style.shape[1], -1).T.numpy()
    weights = np.ones(len(x)) if guide is None else guide.double().reshape(-1).numpy()
    directions = torch.randn(x.shape[1], count, generator=torch.Generator().manual_seed(seed),
                             dtype=torch.float64).numpy()
    total = 0.0
    for k in range(count):
        direction = directions[:, k] / np.linalg.norm(directions[:, k])
        order = np.argsort(x @ direction, kind="stable")
        ours, w = (x @ direction)[order], weights[order]
        theirs = np.sort(y @ direction)
        quantiles = (np.cumsum(w) - w / 2) / w.sum()
        matched = np.interp(quantiles, (np.arange(len(theirs)) + 0.5) / len(theirs), theirs)
        total += float((w * (ours - matched) ** 2).sum() / w.sum())
    return total / count


def sliced(registry: Registry, **options) -> object:
    return registry.create("loss", "sliced-wasserstein", {"seed": 3, **options})


@pytest.mark.parametrize(("shape", "style_shape"), [((1, 5, 3, 4), (1, 5, 4, 3)), ((1, 5, 3, 4), (1, 5, 5, 7)),
                                                    ((1, 6, 6, 5), (1, 6, 2, 3))])
def test_sliced_wasserstein_matches_a_loop_over_directions(registry: Registry, shape, style_shape) -> None:
    generated, style = features(*shape, seed=20), features(*style_shape, seed=21) * 2 - 0.5
    loss = sliced(registry, projections=7)
    expected = sliced_reference(generated, style, 3, 7)
    assert float(loss(generated, loss.target(style))) == pytest.approx(expected, rel=1e-5)
    # The default draws one direction per channel, and other directions at the next call.
    default = sliced(registry)
    first, second = (float(default(generated, default.target(style))) for _ in range(2))
    assert first == pytest.approx(sliced_reference(generated, style, 3, shape[1]), rel=1e-5) and first != second


def test_sliced_wasserstein_weighs_positions_by_the_guide(registry: Registry) -> None:
    generated, style = features(1, 4, 5, 6, seed=22), features(1, 4, 3, 7, seed=23) + 0.2
    guide = torch.zeros(1, 1, 5, 6)
    guide[..., :3, :] = 1.0
    guide[..., 3, :] = 0.4
    loss = sliced(registry, projections=5)
    value = float(loss(generated, loss.target(style), guide=guide))
    assert value == pytest.approx(sliced_reference(generated, style, 3, 5, guide), rel=1e-5)
    # Ones give the unguided value; a region outside the guide does not count.
    assert float(sliced(registry)(generated, loss.target(style), guide=torch.ones(1, 1, 5, 6))) == pytest.approx(
        float(sliced(registry)(generated, loss.target(style))), rel=1e-6)
    elsewhere = generated.clone()
    elsewhere[..., 4, :] = 50.0
    assert float(sliced(registry, projections=5)(elsewhere, loss.target(style), guide=guide)) == pytest.approx(
        value, rel=1e-6)
    # A style taken with a guide counts the positions it weighs only.
    style_guide = torch.zeros(1, 1, 3, 7)
    style_guide[..., 1:5] = 1.0
    style_guide[..., 0, 5] = 1.0
    kept = torch.cat((style[..., 1:5].reshape(1, 4, -1), style[..., 0, 5:6]), dim=-1).reshape(1, 4, 1, 13)
    guided_style = sliced(registry, projections=5)(generated, loss.target(style, guide=style_guide), guide=guide)
    assert float(guided_style) == pytest.approx(sliced_reference(generated, kept, 3, 5, guide), rel=1e-5)


def test_sliced_wasserstein_is_zero_for_the_same_positions_in_any_order(registry: Registry) -> None:
    style = features(1, 8, 4, 5, seed=24)
    loss = sliced(registry)
    shuffled = style.reshape(1, 8, -1)[..., torch.randperm(20, generator=torch.Generator().manual_seed(0))]
    for same in (style, shuffled.reshape(1, 8, 5, 4), shuffled.reshape(1, 8, 2, 10)):
        assert float(loss(same, loss.target(style))) < 1e-12
    assert float(loss(style * 1.5 + 0.1, loss.target(style))) > 1e-3
    assert float(loss(features(1, 8, 4, 5, seed=25) ** 3, loss.target(style))) > 1e-3


def test_sliced_wasserstein_gradient_passes_gradcheck() -> None:
    from siayn_losses.sliced import random_directions, sliced_wasserstein

    generator = torch.Generator().manual_seed(26)
    directions = random_directions(4, 6, generator=generator, dtype=torch.float64)
    style = torch.rand(1, 17, 4, dtype=torch.float64, generator=generator)
    points = torch.rand(1, 11, 4, dtype=torch.float64, generator=generator).requires_grad_(True)
    weights = torch.rand(1, 11, dtype=torch.float64, generator=generator)
    assert torch.autograd.gradcheck(lambda p: sliced_wasserstein(p, style, directions), (points,))
    assert torch.autograd.gradcheck(lambda p: sliced_wasserstein(p, style[:, :11], directions), (points,))
    assert torch.autograd.gradcheck(lambda p: sliced_wasserstein(p, style, directions, weights=weights), (points,))


def test_sliced_wasserstein_sorts_bfloat16_features_in_float32(registry: Registry) -> None:
    generated, style = features(1, 16, 6, 6, seed=27), features(1, 16, 5, 5, seed=28)
    loss, half = sliced(registry), sliced(registry)
    assert loss.takes_bfloat16 and loss.guided
    value = half(generated.bfloat16().requires_grad_(True), half.target(style.bfloat16()))
    assert value.dtype == torch.float32
    reference = loss(generated.bfloat16().float(), loss.target(style.bfloat16().float()))
    torch.testing.assert_close(value, reference)


def test_a_run_with_the_sliced_wasserstein_loss_finishes(registry: Registry) -> None:
    from PIL import Image

    from siayn_core.config.build import build_options
    from siayn_core.engine import stylize
    from siayn_core.io.images import read_image
    from siayn_core.io.resources import examples_dir

    photo = read_image(examples_dir() / "tubingen.jpg").resize((40, 32), Image.Resampling.LANCZOS)
    painting = read_image(examples_dir() / "starry_night.jpg").resize((36, 36), Image.Resampling.LANCZOS)
    options = build_options({"style_loss": "sliced-wasserstein", "num_steps": 4, "min_size": None,
                             "backbone_options": {"weights": "none"}}, where="test")
    result = stylize(photo, [painting], options, registry=registry, device="cpu", seed=5)
    assert result.steps == 4 and result.image.shape == (1, 3, 32, 40)
    assert all(np.isfinite(record["style"]) and np.isfinite(record["total"]) for record in result.losses)
    assert result.components["style_loss"]["name"] == "sliced-wasserstein"
    # It is guided, so a run with a mask is not refused.
    keep = Image.new("L", photo.size, 0)
    keep.paste(255, (0, 0, 20, 32))
    masked = dataclasses.replace(options, content_mask="keep.png", num_steps=2)
    result = stylize(photo, [painting], masked, registry=registry, device="cpu", seed=5, content_mask=keep)
    assert all(np.isfinite(record["total"]) for record in result.losses)
