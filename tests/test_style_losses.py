"""The statistics style losses (``w2``, ``mean-std``) against reference computations, and the
way every built-in loss declares how it adds up over tiles."""

from __future__ import annotations

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
