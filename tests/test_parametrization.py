"""Parametrizations: what the optimizer moves (the pixels, a Laplacian pyramid's bands) and the
image they render, which everything else sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from siayn_core import ParametrizedImage, Pixels, SiaynError
from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.config.components import check_components
from siayn_core.engine import stylize
from siayn_core.engine.loop import Iterate, optimize_at_size
from siayn_core.engine.schedule import stage_sizes
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir
from siayn_param.pyramid import Laplacian, PyramidImage, bands_of, level_sizes, reconstruct

SEED = 5


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    def load(name: str, size: tuple[int, int]) -> Image.Image:
        return read_image(examples_dir() / name).resize(size, Image.Resampling.LANCZOS)

    return {"content": load("tubingen.jpg", (40, 30)), "style": load("starry_night.jpg", (48, 30))}


def run(registry: Any, images: dict[str, Image.Image], callback: Any = None, **settings: Any) -> Any:
    """A run on a random VGG16 in float32, whose losses are steady enough for a few steps."""
    options = build_options({"backbone_options": {"weights": "none"}, "num_steps": 6, "precision": "float32",
                             **settings}, where="test")
    return stylize(images["content"], [images["style"]], options, registry=registry, device="cpu", seed=SEED,
                   callback=callback)


# --- the pyramid ------------------------------------------------------------------------


def test_each_level_is_half_the_one_before_rounded_up() -> None:
    assert level_sizes(29, 37, 5) == [(29, 37), (15, 19), (8, 10), (4, 5), (2, 3)]
    assert level_sizes(32, 32, 4) == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert level_sizes(2, 3, 8) == [(2, 3), (1, 2), (1, 1)]  # no level below one pixel
    assert level_sizes(48, 40, 1) == [(48, 40)]


@pytest.mark.parametrize(("height", "width"), [(32, 32), (29, 37), (48, 33)])
def test_the_bands_have_the_levels_sizes(height: int, width: int) -> None:
    encoded = Laplacian(levels=5).encode(torch.rand(1, 3, height, width))
    shapes = [tuple(band.shape) for band in encoded.parameters()]
    assert shapes == [(1, 3, *size) for size in level_sizes(height, width, 5)]
    assert all(band.is_leaf and band.requires_grad for band in encoded.parameters())


@pytest.mark.parametrize("levels", [1, 2, 5, 9])
@pytest.mark.parametrize(("height", "width"), [(32, 32), (29, 37), (1, 7)])
def test_the_pyramid_reconstructs_its_image_exactly(levels: int, height: int, width: int) -> None:
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(levels))
    kept = image.clone()
    encoded = Laplacian(levels).encode(image)
    assert torch.equal(image, kept)  # the image itself is left alone
    assert torch.allclose(encoded.render(), image, rtol=0.0, atol=1e-6)
    assert torch.allclose(reconstruct(bands_of(image, levels)), image, rtol=0.0, atol=1e-6)


def test_every_band_gets_a_gradient_through_the_rendering() -> None:
    encoded = Laplacian(4).encode(torch.rand(1, 3, 29, 37))
    (encoded.render() * torch.linspace(0, 1, 37)).sum().backward()
    assert all(band.grad is not None and float(band.grad.abs().sum()) > 0 for band in encoded.parameters())


def test_projection_clamps_the_rendering_through_the_finest_band_only() -> None:
    image = torch.rand(1, 3, 29, 37, generator=torch.Generator().manual_seed(1)) * 3 - 1
    encoded = Laplacian(4).encode(image)
    coarse = [band.detach().clone() for band in encoded.parameters()[1:]]
    assert encoded.project(0.0, 1.0) is True
    rendered = encoded.render().detach()
    assert float(rendered.min()) >= 0.0 and float(rendered.max()) <= 1.0
    assert torch.allclose(rendered, image.clamp(0, 1), rtol=0.0, atol=1e-6)
    assert all(torch.equal(band, kept) for band, kept in zip(encoded.parameters()[1:], coarse))


def test_pixels_are_their_own_parameter_and_leave_the_box_to_the_optimizer() -> None:
    image = torch.rand(1, 3, 8, 8)
    encoded = Pixels().encode(image)
    assert isinstance(encoded, ParametrizedImage) and isinstance(Laplacian().encode(image), ParametrizedImage)
    [pixels] = encoded.parameters()
    assert encoded.render() is pixels and torch.equal(pixels, image) and pixels is not image
    assert encoded.project(0.0, 1.0) is False


# --- the engine -------------------------------------------------------------------------


class Outward:
    """An objective whose minimum lies half outside [0, 1], recording every image it is given."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.target = torch.linspace(-1.0, 2.0, int(np.prod(shape))).reshape(shape)
        self.seen: list[torch.Tensor] = []

    def set_targets(self, content: Any, styles: Any, guides: Any = None, **stage: Any) -> None:
        pass

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(image.detach().clone())
        return {"content": ((image - self.target) ** 2).mean()}


@pytest.mark.parametrize(("opt", "options"), [("adam", {"lr": 0.2}), ("lbfgs", {}), ("rmsprop", {"lr": 0.05})])
def test_a_laplacian_run_kept_in_range_never_renders_outside_it(registry: Any, opt: str, options: dict) -> None:
    start = torch.full((1, 3, 29, 37), 0.5)
    laplacian = registry.create("parametrization", "laplacian", {"levels": 4})
    make_optimizer = registry.create("optimizer", opt, options)
    objective = Outward(tuple(start.shape))
    image, records, _ = optimize_at_size(start, start, [], objective, make_optimizer, num_steps=15,
                                         keep_in_range=True, parametrization=laplacian)
    assert len(objective.seen) == 15 and min(record["total"] for record in records) < records[0]["total"]
    for seen in [*objective.seen, image]:
        assert float(seen.min()) >= 0.0 and float(seen.max()) <= 1.0
    if opt != "lbfgs":  # a fixed-step L-BFGS wanders about a constrained minimum (tests/test_bounds.py)
        assert float((image - objective.target.clamp(0, 1)).abs().mean()) < 0.1
    free = Outward(tuple(start.shape))
    image, _, _ = optimize_at_size(start, start, [], free, make_optimizer, num_steps=15, parametrization=laplacian)
    assert float(image.min()) < 0.0 and float(image.max()) > 1.0


@pytest.mark.parametrize("opt", ["adam", "lbfgs", "rmsprop"])
def test_a_laplacian_stylize_run_finishes_with_finite_falling_losses(registry: Any, images: Any, opt: str) -> None:
    seen: list[Iterate] = []
    result = run(registry, images, seen.append, opt=opt, parametrization="laplacian", min_size=None)
    totals = [record["total"] for record in result.losses]
    assert result.steps == 6 and all(np.isfinite(totals)) and totals[-1] < totals[0]
    assert result.image.shape == (1, 3, 30, 40) and result.components["parametrization"]["component"] == "laplacian"
    assert all(tuple(iterate.image.shape) == (1, 3, 30, 40) for iterate in seen)
    assert torch.equal(result.image, seen[-1].image)  # the rendered image is the result


def test_each_stage_encodes_its_start_into_a_new_pyramid(registry: Any, images: Any, monkeypatch: Any) -> None:
    encoded: list[tuple[int, ...]] = []
    encode = Laplacian.encode

    def recording(self: Laplacian, image: torch.Tensor) -> PyramidImage:
        encoded.append(tuple(image.shape[-2:]))
        return encode(self, image)

    monkeypatch.setattr(Laplacian, "encode", recording)
    result = run(registry, images, parametrization="laplacian", min_size=16, stage_steps=[2, 2, 2], average=0.5)
    assert encoded == [(height, width) for width, height in stage_sizes((40, 30), 16, count=3)]
    assert len(set(encoded)) == 3 and result.steps == 6
    assert all(np.isfinite(record["total"]) for record in result.losses)


@pytest.mark.parametrize("settings", [{}, {"opt": "adam"}, {"min_size": 16, "average": 0.5}, {"keep_in_range": False}])
def test_pixels_named_or_not_is_the_run_of_before_bit_for_bit(registry: Any, images: Any, settings: dict) -> None:
    before = run(registry, images, **settings)
    named = run(registry, images, parametrization="pixels", **settings)
    assert torch.equal(before.image, named.image) and before.losses == named.losses
    assert before.components["parametrization"] == {"name": "pixels", "component": "pixels",
                                                    "plugin": "parametrizations", "options": {}}


def test_the_pixels_component_is_the_engines_path_without_a_parametrization(registry: Any) -> None:
    start = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(2))
    results = []
    for parametrization in (None, registry.create("parametrization", "pixels")):
        objective = Outward(tuple(start.shape))
        results.append(optimize_at_size(start, start, [], objective, registry.create("optimizer", "lbfgs"),
                                        num_steps=8, keep_in_range=True, parametrization=parametrization))
    assert torch.equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]


# --- where users meet it ----------------------------------------------------------------


def test_an_unknown_parametrization_is_refused_with_a_suggestion(registry: Any) -> None:
    options = build_options({"parametrization": "laplace"}, where="test")
    with pytest.raises(SiaynError) as error:
        check_components(options, registry, where="run 'test'")
    message = str(error.value)
    assert "key 'parametrization'" in message and "unknown parametrization 'laplace'" in message
    assert "did you mean 'laplacian'?" in message
    options = build_options({"parametrization": "laplacian", "parametrization_options": {"level": 3}}, where="test")
    with pytest.raises(SiaynError, match=r"unknown option 'level'.*did you mean 'levels'"):
        check_components(options, registry, where="run 'test'")


def siayn(*args: Any) -> Any:
    return CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "250"})


def test_components_list_shows_the_kind() -> None:
    result = siayn("components", "list", "--kind", "parametrization", "--json")
    assert result.exit_code == 0, result.stderr
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert set(entries) >= {"pixels", "laplacian"} and entries["laplacian"]["plugin"] == "parametrizations"
    assert [(spec["name"], spec["default"]) for spec in entries["laplacian"]["options"]] == [("levels", 5)]
    result = siayn("components", "list")
    assert result.exit_code == 0 and "parametrization" in result.stdout and "laplacian" in result.stdout


def test_set_on_the_command_line_reaches_the_run_and_its_record(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("photo", "style"):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    tiny = ["--plugin", "tests.plugin_for_hooks", "--set", "backbone=hooktest-net", "--set", "content_layers=[relu2]",
            "--set", "style_layers=[relu1, relu2]", "--set", "num_steps=2", "--set", "min_size=null", "--quiet"]
    result = siayn("stylize", tmp_path / "photo.png", tmp_path / "style.png", "-o", tmp_path / "out", *tiny,
                   "--set", "parametrization=laplacian", "--set", "parametrization_options={levels: 3}")
    assert result.exit_code == 0, result.stderr
    [record] = (tmp_path / "out").glob("*/run.json")
    run_record = json.loads(record.read_text())
    assert run_record["components"]["parametrization"] == {
        "name": "laplacian", "component": "laplacian", "plugin": "parametrizations", "options": {"levels": 3}}
    result = siayn("stylize", tmp_path / "photo.png", tmp_path / "style.png", "-o", tmp_path / "bad", *tiny,
                   "--set", "parametrization=laplace")
    assert result.exit_code == 2 and "did you mean 'laplacian'?" in result.stderr
    assert not (tmp_path / "bad").exists()


def test_the_gui_offers_the_installed_parametrizations(registry: Any) -> None:
    from siayn_core.gui.form import build_form

    choice = next(choice for choice in build_form(registry).choices if choice.key == "parametrization")
    assert choice.default == "pixels" and {"pixels", "laplacian"} <= set(choice.names)
    assert [field.name for field in choice.fields["laplacian"]] == ["levels"]
