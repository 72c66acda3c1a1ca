"""``recipe: strotss`` and ``recipe: nnst``: the settings each resolves to, and tiny runs of each
(random weights) from every entry point: the command line, a YAML file, the library call, the
GUI's form, a batch manifest and a clip; with masks and colour controls, and the tile refusal."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

import siayn_core
from siayn_core import PIXELS
from siayn_core.batch.jobs import run_job
from siayn_core.batch.manifest import load_manifest
from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.config.components import component_options
from siayn_core.config.loader import load_stylize_runs
from siayn_core.config.schema import NNST_LAYERS, RECIPES, STROTSS_ALPHA, STROTSS_LAYERS
from siayn_core.engine.painter import stages_for
from siayn_core.gui.form import default_values, run_settings
from siayn_core.gui.runner import GuiBackend
from siayn_core.host.registry import Registry
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir

RECIPE_NAMES = ("strotss", "nnst")

#: What makes a run tiny: random weights, a few steps at 32 px, float32 (the same on any CPU).
TINY = {"backbone_options.weights": "none", "num_steps": 4, "size": 32, "precision": "float32"}


# --- what each recipe resolves to ------------------------------------------------------------


def test_strotss_resolves_to_the_papers_settings(registry: Registry) -> None:
    options = build_options({"recipe": "strotss"}, where="test")
    assert (options.style_loss, options.content_loss) == ("remd", "self-similarity")
    assert options.style_layers == options.content_layers == STROTSS_LAYERS
    assert STROTSS_LAYERS == [PIXELS, "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
                              "relu4_3", "relu5_3"]
    assert (options.style_weight, options.content_weight, options.tv_weight) == (1.0, STROTSS_ALPHA, None)
    assert component_options(options, "style_loss", registry) == {"palette_weight": 1 / STROTSS_ALPHA}
    assert (options.opt, component_options(options, "opt", registry)) == ("rmsprop", {"lr": 2e-3})
    assert options.parametrization == "laplacian"
    assert component_options(options, "parametrization", registry) == {"levels": 5}
    assert options.color_control == "none" and options.init_method == "content"
    # at 512 px: 4 stages from 64 px on the long side, 100 steps each
    stages = stages_for(options, (512, 384))
    assert [(stage.size, stage.steps) for stage in stages] == [((64, 48), 100), ((128, 96), 100), ((256, 192), 100),
                                                              ((512, 384), 100)]


def test_nnst_resolves_to_the_papers_settings(registry: Registry) -> None:
    options = build_options({"recipe": "nnst"}, where="test")
    assert options.style_loss == "nn-target" and options.style_layers == NNST_LAYERS
    assert NNST_LAYERS == ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1",
                           "relu4_2", "relu4_3"]
    assert (options.style_weight, options.content_weight) == (1.0, 0.0)
    assert component_options(options, "style_loss", registry) == {"final_pass": 0.5, "step_samples": 2048}
    loss = registry.create("loss", "nn-target", component_options(options, "style_loss", registry))
    assert (loss.content_share, loss.stride, loss.rotations) == (0.75, 4, True)
    assert (options.opt, component_options(options, "opt", registry)) == ("adam", {"lr": 2e-3})
    assert options.parametrization == "laplacian"
    assert component_options(options, "parametrization", registry) == {"levels": 8}
    assert options.color_control == "none" and options.init_method == "content"
    # at 512 px: 4 stages of 100 steps, the last followed by the final pass of 100
    stages = stages_for(options, (512, 384))
    assert [(stage.size, stage.steps) for stage in stages] == [((64, 48), 100), ((128, 96), 100), ((256, 192), 100),
                                                              ((512, 384), 200)]


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_keys_a_run_sets_win_over_its_recipe(registry: Registry, recipe: str) -> None:
    options = build_options({"recipe": recipe, "num_steps": 40, "lr": 0.01, "style_weight": 3.0,
                             "style_loss_options": {"final_pass": 0.25} if recipe == "nnst" else {"palette_weight": 2}},
                            where="test")
    assert (options.num_steps, options.style_weight) == (40, 3.0)
    assert component_options(options, "opt", registry)["lr"] == 0.01
    # the entry a run sets wins; the recipe fills the other options
    assert component_options(options, "style_loss", registry) == (
        {"final_pass": 0.25, "step_samples": 2048} if recipe == "nnst" else {"palette_weight": 2})


def test_set_recipe_replaces_the_config_files_keys_but_not_other_sets(registry: Registry) -> None:
    """The bundled config names the defaults' optimizer, weights and layers: --set recipe wins over them."""
    [spec] = load_stylize_runs(None, overrides=["recipe=strotss", "num_steps=12"], registry=registry)
    options = spec.options
    assert (options.style_loss, options.opt, options.style_weight, options.num_steps) == ("remd", "rmsprop", 1.0, 12)
    assert options.style_layers == STROTSS_LAYERS
    # a file's options of the component the recipe replaces go with it
    settings = {"opt": "lbfgs", "opt_options": {"history_size": 5}, "style_loss_options": {"reduction": "sum"}}
    from siayn_core.config.build import yield_to_recipe

    assert yield_to_recipe(settings, "nnst") == {"style_loss_options": {"reduction": "sum"}}


# --- tiny runs from every entry point ----------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recipes")
    paths = {}
    for name, source, size in (("photo", "tubingen.jpg", (40, 30)), ("starry", "starry_night.jpg", (36, 28)),
                               ("wave", "great_wave.jpg", (30, 30))):
        paths[name] = folder / f"{name}.png"
        read_image(examples_dir() / source).resize(size, Image.Resampling.LANCZOS).save(paths[name])
    left = Image.new("L", (40, 30), 0)
    left.paste(255, (0, 0, 20, 30))
    paths["left"] = folder / "left.png"
    left.save(paths["left"])
    right = Image.new("L", (40, 30), 255)
    right.paste(0, (0, 0, 20, 30))
    paths["right"] = folder / "right.png"
    right.save(paths["right"])
    return paths


def siayn(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def sets(settings: dict[str, Any]) -> list[str]:
    return [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]


def finite_record(run_dir: Path, steps: int) -> dict[str, Any]:
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["losses"]) == steps
    assert all(math.isfinite(value) for step in record["losses"] for value in step.values())
    return record


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_the_command_line_runs_a_recipe(files: dict[str, Path], tmp_path: Path, recipe: str) -> None:
    code, _, stderr = siayn("stylize", files["photo"], files["starry"], "-o", tmp_path, "--seed", "1",
                            "--set", f"recipe={recipe}", *sets(TINY))
    assert code == 0, stderr
    assert f"recipe: {recipe} (" in stderr.splitlines()[0]
    record = finite_record(tmp_path / "default", 4)
    expected = {"strotss": ("remd", "rmsprop"), "nnst": ("nn-target", "adam")}[recipe]
    assert (record["components"]["style_loss"]["name"], record["components"]["opt"]["name"]) == expected
    assert record["config"]["recipe"] == recipe and record["config"]["parametrization"] == "laplacian"


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_a_yaml_run_names_a_recipe(files: dict[str, Path], tmp_path: Path, recipe: str) -> None:
    config = tmp_path / "runs.yaml"
    config.write_text(f"mine:\n  content: {files['photo']}\n  style: {files['wave']}\n  recipe: {recipe}\n"
                      "  num_steps: 3\n  size: 32\n  backbone_options: {weights: none}\n")
    code, _, stderr = siayn("stylize", "--config", config, "-o", tmp_path / "out", "--seed", "2", "-q")
    assert code == 0, stderr
    record = finite_record(tmp_path / "out" / "mine", 3)
    assert record["config"]["style_loss"] == {"strotss": "remd", "nnst": "nn-target"}[recipe]


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_the_library_call_takes_a_recipe(files: dict[str, Path], recipe: str) -> None:
    image = siayn_core.stylize(files["photo"], files["starry"], recipe=recipe, backbone_options={"weights": "none"},
                               num_steps=3, size=32, seed=1, device="cpu")
    assert image.size == (32, 24)


def test_the_guis_recipe_dropdown_gives_the_recipes_settings(registry: Registry, files: dict[str, Path],
                                                             tmp_path: Path) -> None:
    backend = GuiBackend(registry, tmp_path / "out", device="cpu")
    fields = {field.name: field for field in backend.form.fields}
    assert tuple(fields["recipe"].choices) == tuple(RECIPES) == ("siayn", "original", "strotss", "nnst")
    values = default_values(backend.form)
    values.update({("content",): str(files["photo"]), ("style", 0): str(files["starry"]),
                   ("component", "backbone", "vgg16", "weights"): "none", ("option", "num_steps"): 3,
                   ("option", "seed"): "1", ("option", "size"): 32, ("option", "recipe"): "nnst"})
    settings = run_settings(backend.form, values, registry)
    # the dropdowns and the weight left at their defaults leave the recipe's
    assert "style_loss" not in settings and "opt" not in settings and settings["style_weight"] == 1.0
    spec = backend.run_spec(values)
    assert (spec.options.style_loss, spec.options.opt, spec.options.parametrization) == ("nn-target", "adam",
                                                                                         "laplacian")
    last = list(backend.run(values, session="recipes", preview_every=10))[-1]
    assert last.done and "Finished" in last.status
    # a dropdown the user changes wins over the recipe
    values[("component", "opt")] = "rmsprop"
    assert backend.run_spec(values).options.opt == "rmsprop"


def test_a_batch_grid_of_recipes(files: dict[str, Path], tmp_path: Path) -> None:
    manifest = tmp_path / "grid.yaml"
    manifest.write_text(f"contents: [{files['photo']}]\nstyles: [{files['starry']}]\nnum_steps: 3\nsize: 32\n"
                        "backbone_options: {weights: none}\ngrid: {recipe: [strotss, nnst]}\n")
    jobs = load_manifest(manifest, output_dir=tmp_path / "out", seed=1, device="cpu", threads=1)
    assert [(job.spec.options.recipe, job.spec.options.style_loss, job.spec.options.num_steps) for job in jobs] == [
        ("strotss", "remd", 3), ("nnst", "nn-target", 3)]
    for job in jobs:
        outcome = run_job(job)
        assert outcome.status == "done", outcome
        finite_record(tmp_path / "out" / job.name, 3)


def test_a_clip_runs_with_a_recipe(files: dict[str, Path], tmp_path: Path) -> None:
    from siayn_core.io.clips import write_mp4

    frames = [read_image(files["photo"]).crop((index, 0, index + 32, 24)) for index in range(3)]
    write_mp4(frames, 6.0, tmp_path / "in.mp4")
    code, _, stderr = siayn("video", tmp_path / "in.mp4", files["starry"], "-o", tmp_path / "out.mp4", "-q",
                            "--seed", "1", "--set", "recipe=nnst", "--set", "num_steps=2",
                            "--set", "backbone_options.weights=none")
    assert code == 0, stderr
    assert (tmp_path / "out.mp4").is_file()
    record = json.loads((tmp_path / "out.frames" / "run.json").read_text())
    assert record["config"]["recipe"] == "nnst"


# --- masks, colour controls, tiles -------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
@pytest.mark.parametrize("control", [
    {"style_masks": "[left.png,right.png]"}, {"content_mask": "left.png"}, {"color_control": "luminance"},
    {"color_control": "match"}, {"color_control": "oklab-chroma"},
])
def test_masks_and_colour_controls_work_with_the_recipes(files: dict[str, Path], tmp_path: Path, recipe: str,
                                                         control: dict[str, str]) -> None:
    styles = [files["starry"], files["wave"]] if "style_masks" in control else [files["starry"]]
    settings = {**TINY, "num_steps": 2, **{key: value.replace("left.png", str(files["left"]))
                                             .replace("right.png", str(files["right"]))
                                             for key, value in control.items()}}
    code, _, stderr = siayn("stylize", files["photo"], *styles, "-o", tmp_path, "--seed", "1", "-q",
                            "--set", f"recipe={recipe}", *sets(settings))
    assert code == 0, stderr
    finite_record(tmp_path / "default", 2)


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_a_tiled_recipe_run_is_one_clear_line(files: dict[str, Path], tmp_path: Path, recipe: str) -> None:
    code, _, stderr = siayn("stylize", files["photo"], files["starry"], "-o", tmp_path, "-q",
                            "--set", f"recipe={recipe}", *sets({**TINY, "size": 160, "tile_size": 128,
                                                                "style_reference": "null"}))
    assert code == 2 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert "cannot run on tiles" in stderr
