"""``siayn stylize``: configs, positional images, outputs, errors, plugins, packaging.

Runs use a randomly initialised backbone (weights none), a few steps and tiny images.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import click
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from siayn_core.cli import main
from siayn_core.io.resources import examples_dir
from siayn_core.io.images import read_image

from .conftest import REPO, SHARED

FAST = ["--set", "num_steps=2", "--set", "backbone_options.weights=none", "--quiet"]
STEM = "tubingen!-!starry_night"


def stylize(*args: str | Path, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    previous = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(main, ["stylize", *map(str, args)], env={"COLUMNS": "200"})
    finally:
        os.chdir(previous)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def small_images(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    sizes = {"tubingen.jpg": (48, 36), "starry_night.jpg": (48, 30), "great_wave.jpg": (40, 40)}
    paths = {}
    for name, size in sizes.items():
        image = read_image(examples_dir() / name).resize(size, Image.Resampling.LANCZOS)
        image.save(folder / name)
        paths[name.split(".")[0]] = folder / name
    return paths


def pixels(path: Path) -> np.ndarray:
    return np.asarray(read_image(path))


def test_seed_config_runs_in_the_seed_layout(tmp_path: Path) -> None:
    """The original SIAYN config, unchanged, with its image names in data/content and data/style."""
    (tmp_path / "data" / "content").mkdir(parents=True)
    (tmp_path / "data" / "style").mkdir(parents=True)
    lena = read_image(examples_dir() / "tubingen.jpg").resize((64, 48))
    lena.save(tmp_path / "data" / "content" / "lena_color.gif")  # a palette GIF, as the seed's
    shutil.copy(examples_dir() / "starry_night.jpg", tmp_path / "data" / "style" / "vg_starry_night.jpg")
    shutil.copy(SHARED / "data" / "seed_style_transfer_default.yaml", tmp_path / "seed.yaml")
    out = tmp_path / "out"
    loud = [arg for arg in FAST if arg != "--quiet"]
    code, stdout, stderr = stylize("--config", tmp_path / "seed.yaml", "-o", out, *loud, cwd=tmp_path / "data")
    assert code == 0, stderr
    result = out / "test1" / "lena_color!-!vg_starry_night.png"
    assert stdout.strip() == str(result)
    assert read_image(result).size == (32, 24)  # scaler 0.5
    record = json.loads((out / "test1" / "run.json").read_text())
    assert record["config"]["backbone"] == "VGG19" and record["components"]["opt"]["component"] == "lbfgs"
    assert record["steps"] == 2
    # Its weights were written for the original SIAYN's summed Gram differences, and it says so.
    assert record["config"]["recipe"] == "original"
    assert record["components"]["style_loss"]["options"] == {"reduction": "sum"}
    assert "recipe: original" in stderr


def test_default_run_writes_image_and_run_json(tmp_path: Path) -> None:
    code, stdout, stderr = stylize("-o", tmp_path, *FAST, "--set", "scaler=0.1", "--seed", "4")
    assert code == 0, stderr
    result = tmp_path / "default" / f"{STEM}.png"
    assert stdout.strip() == str(result)
    assert read_image(result).size == (51, 38)
    record = json.loads((tmp_path / "default" / "run.json").read_text())
    for key in ("config", "output", "seconds", "device", "steps", "losses", "versions", "seed"):
        assert key in record
    assert record["output"] == str(result) and record["device"] == "cpu" and record["seed"] == 4
    assert record["config"]["content"] == str(examples_dir() / "tubingen.jpg")
    assert record["config"]["num_steps"] == 2 and record["config"]["backbone_options"] == {"weights": "none"}
    assert [set(r) for r in record["losses"]] == [{"step", "total", "content", "style", "tv"}] * 2
    assert {"torch", "siayn", "python"} <= set(record["versions"])


def test_positional_content_and_styles(tmp_path: Path, small_images: dict[str, Path]) -> None:
    code, stdout, stderr = stylize(
        small_images["tubingen"], small_images["starry_night"], small_images["great_wave"], "-o", tmp_path / "out",
        *FAST, "--set", "style_weight=[1e5, 2e5]",
    )
    assert code == 0, stderr
    result = tmp_path / "out" / "default" / "tubingen!-!starry_night+great_wave.png"
    assert stdout.strip() == str(result) and read_image(result).size == (48, 36)  # the photo's own size
    record = json.loads((result.parent / "run.json").read_text())
    assert record["config"]["style"] == [str(small_images["starry_night"]), str(small_images["great_wave"])]
    assert record["config"]["style_weight"] == [1e5, 2e5]


def test_an_output_above_style_reference_says_where_it_is_optimized(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    read_image(examples_dir() / "tubingen.jpg").resize((600, 450)).save(photo)
    fast = [arg for arg in FAST if arg != "--quiet"]
    code, _, stderr = stylize(photo, examples_dir() / "starry_night.jpg", "-o", tmp_path / "out", *fast,
                              "--size", "96", "--set", "style_reference=64")
    assert code == 0, stderr
    assert read_image(tmp_path / "out" / "default" / "photo!-!starry_night.png").size == (96, 72)
    assert "96x72 px output from the 600x450 px photo.png; optimized at 64x48 px and carried up" in stderr


#: A measured figure: a time, a speed-up, a machine. They belong in docs/performance.md.
MEASURED = re.compile(r"\d s on |\d (ms|s) against|\d(\.\d+)?x (faster|slower|sooner)|EPYC|Xeon|\d+(\.\d+)? ?%")


def command_helps(command: click.Command, path: tuple[str, ...] = ()) -> dict[str, str]:
    """The ``--help`` text of ``command`` and of every command below it."""
    with click.Context(command, info_name=" ".join(path) or "siayn") as context:
        helps = {" ".join(path): command.get_help(context)}
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            helps.update(command_helps(sub, (*path, name)))
    return helps


def test_help_texts_give_no_measured_figures_and_the_size_help_points_at_the_docs() -> None:
    helps = command_helps(main)
    assert {"stylize", "video", "batch"} <= helps.keys()
    assert not {name: [found.group(0) for found in MEASURED.finditer(text)]
                for name, text in helps.items() if MEASURED.search(text)}
    assert "docs/stylize.md#defaults" in " ".join(helps["stylize"].split())


def test_size_sets_the_longer_side_and_positional_runs_cap_large_photos(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    read_image(examples_dir() / "tubingen.jpg").resize((600, 450)).save(photo)
    style = examples_dir() / "starry_night.jpg"
    fast = [arg for arg in FAST if arg != "--quiet"]
    code, _, stderr = stylize(photo, style, "-o", tmp_path / "sized", *fast, "--size", "40")
    assert code == 0, stderr
    assert read_image(tmp_path / "sized" / "default" / "photo!-!starry_night.png").size == (40, 30)
    assert "run 'default': 40x30 px output from the 600x450 px photo.png" in stderr
    code, _, stderr = stylize(photo, style, "-o", tmp_path / "capped", *fast, "--set", "num_steps=1")
    assert code == 0, stderr
    assert read_image(tmp_path / "capped" / "default" / "photo!-!starry_night.png").size == (256, 192)
    assert "256x192 px output from the 600x450 px photo.png (capped at the default 256 px" in stderr
    # A size the user asked for is not a cap, even when it equals the default.
    code, _, stderr = stylize(photo, style, "-o", tmp_path / "asked", *fast, "--set", "num_steps=1", "--set", "size=256")
    assert code == 0, stderr
    assert "256x192 px output" in stderr and "capped" not in stderr


def test_a_second_run_never_overwrites_the_first(tmp_path: Path, small_images: dict[str, Path]) -> None:
    out = tmp_path / "out"
    args = [small_images["tubingen"], small_images["starry_night"], "-o", out, *FAST, "--set", "scaler=1"]
    assert stylize(*args, "--seed", "1")[0] == 0
    first = pixels(out / "default" / f"{STEM}.png")
    code, stdout, _ = stylize(*args, "--seed", "2", "--set", "init_method=random")
    assert code == 0 and stdout.strip() == str(out / "default-2" / f"{STEM}.png")
    assert np.array_equal(pixels(out / "default" / f"{STEM}.png"), first)
    code, stdout, _ = stylize(*args, "--seed", "2", "--set", "init_method=random", "--overwrite")
    assert code == 0 and stdout.strip() == str(out / "default" / f"{STEM}.png")
    assert not np.array_equal(pixels(out / "default" / f"{STEM}.png"), first)
    assert sorted(p.name for p in out.iterdir()) == ["default", "default-2"]


def test_seed_repeats_a_cpu_run_exactly(tmp_path: Path, small_images: dict[str, Path]) -> None:
    args = [small_images["tubingen"], small_images["starry_night"], *FAST, "--set", "init_method=random"]
    assert stylize(*args, "-o", tmp_path / "a", "--seed", "9")[0] == 0
    assert stylize(*args, "-o", tmp_path / "b", "--seed", "9")[0] == 0
    a = tmp_path / "a" / "default" / f"{STEM}.png"
    b = tmp_path / "b" / "default" / f"{STEM}.png"
    assert a.read_bytes() == b.read_bytes()


def test_save_every_writes_sortable_frames(tmp_path: Path, small_images: dict[str, Path]) -> None:
    code, _, stderr = stylize(small_images["tubingen"], small_images["starry_night"], "-o", tmp_path, *FAST,
                              "--set", "num_steps=5", "--set", "save_every=2")
    assert code == 0, stderr
    frames = sorted(p.name for p in (tmp_path / "default" / "frames").iterdir())
    assert frames == ["frame_0002.png", "frame_0004.png", "frame_0005.png"]
    record = json.loads((tmp_path / "default" / "run.json").read_text())
    assert record["frames"] == str(tmp_path / "default" / "frames")


def test_postprocess_list_keeps_the_unprocessed_image(tmp_path: Path, small_images: dict[str, Path]) -> None:
    code, stdout, stderr = stylize(
        small_images["tubingen"], small_images["starry_night"], "-o", tmp_path, *FAST,
        "--set", "save_every=1", "--set", "postprocess=[preserve-colors]", "--post", "gif",
    )
    assert code == 0, stderr
    run_dir = tmp_path / "default"
    lines = stdout.split()
    assert lines[0] == str(run_dir / f"{STEM}.png")
    assert lines[1] == str(run_dir / f"{STEM}.preserve-colors.png")
    assert lines[2].endswith(".gif") and Path(lines[2]).is_file()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["postprocessed"] == lines[1:]


def test_progress_bar_on_stderr_unless_quiet(tmp_path: Path, small_images: dict[str, Path]) -> None:
    args = [small_images["tubingen"], small_images["starry_night"], "--set", "num_steps=2",
            "--set", "backbone_options.weights=none"]
    code, stdout, stderr = stylize(*args, "-o", tmp_path / "a")
    assert code == 0 and "2/2" in stderr and "style" in stderr and "it/s" in stderr
    assert stdout.strip().endswith(f"{STEM}.png")
    code, _, stderr = stylize(*args, "-o", tmp_path / "b", "--quiet")
    assert code == 0 and stderr == ""


@pytest.mark.parametrize(("native", "precision", "ran"), [(True, "auto", "bfloat16"), (False, "auto", "float32"),
                                                          (True, "float32", "float32")])
def test_the_first_line_and_run_json_name_the_precision_that_ran(
    tmp_path: Path, small_images: dict[str, Path], monkeypatch: pytest.MonkeyPatch, native: bool, precision: str,
    ran: str,
) -> None:
    from siayn_core.engine import acceleration

    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: native)
    code, _, stderr = stylize(small_images["tubingen"], small_images["starry_night"], "-o", tmp_path,
                              "--set", "num_steps=1", "--set", "backbone_options.weights=none",
                              "--set", f"precision={precision}", "--device", "cpu")
    assert code == 0, stderr
    assert stderr.splitlines()[0].endswith(f"; backbone in {ran} on cpu")
    record = json.loads((tmp_path / "default" / "run.json").read_text())
    assert record["precision"] == ran and record["config"]["precision"] == precision


def test_progress_bar_shows_every_term_of_the_record() -> None:
    from siayn_core.cli.progress import losses_text

    record = {"total": 3.0, "content": 2.0, "style": 0.5, "tv": 0.0, "temporal": 0.25, "edges": 0.25}
    assert losses_text(record) == "total 3 content 2 style 0.5 tv 0 temporal 0.25 edges 0.25"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["only_one.jpg"], "give a content image and at least one style image"),
        (["--set", "num_stpes=3"], "unknown key 'num_stpes' for --set (did you mean 'num_steps'?)"),
        (["--set", "num_steps=lots"], "--set num_steps must be a whole number"),
        (["--set", "opt=adamw"], "unknown optimizer 'adamw'"),
        (["missing.jpg", "starry_night.jpg"], "content image of run 'default' in"),
        (["--run", "defualt"], "unknown run 'defualt'"),
        (["--config", "nowhere.yaml"], "config file not found: nowhere.yaml"),
        (["--set", "scaler=0.01"], "too small for the chosen layers"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = stylize("-o", tmp_path, *FAST, *args)  # last --set wins
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1 and stderr.startswith("siayn: error: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_device_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = stylize("--device", "cuda", "-o", tmp_path, *FAST)
    assert code == 2 and "CUDA is not available" in stderr


def test_plugin_option_adds_and_blocks_components(tmp_path: Path, make_plugin, small_images) -> None:
    module = make_plugin("""
        from dataclasses import dataclass
        from siayn_core import option

        @dataclass(frozen=True)
        class GreyOptions:
            level: float = option(0.5, help="grey level")

        def grey(options: GreyOptions):
            def start(content, styles, generator):
                return content.new_full(content.shape, options.level)
            return start

        @hookimpl
        def register_initialisers(register):
            register("grey", grey, description="A flat grey start.")
    """)
    args = [small_images["tubingen"], small_images["starry_night"], *FAST, "--set", "num_steps=1", "--set", "opt=adam", "--set", "lr=0"]
    code, stdout, stderr = stylize(*args, "-o", tmp_path / "a", "--plugin", module,
                                   "--set", "init_method=grey", "--set", "init_options.level=0.25")
    assert code == 0, stderr
    assert np.all(np.abs(pixels(Path(stdout.strip())).astype(int) - 64) <= 1)
    code, _, stderr = stylize(*args, "-o", tmp_path / "b", "--plugin", "no:losses")
    assert code == 2 and "unknown loss 'mse'" in stderr


def test_components_list_shows_the_built_ins_with_options() -> None:
    result = CliRunner().invoke(main, ["components", "list", "--json"])
    assert result.exit_code == 0
    listed = {(c["kind"], c["name"]): c for c in json.loads(result.stdout)}
    for kind, name in [("backbone", "vgg16"), ("backbone", "vgg19"), ("backbone", "timm"), ("loss", "mse"),
                       ("loss", "gram"), ("loss", "tv"), ("loss", "remd"), ("loss", "self-similarity"),
                       ("loss", "nn-feature"), ("initialiser", "random"), ("initialiser", "content"),
                       ("initialiser", "style"), ("optimizer", "adam"), ("optimizer", "lbfgs")]:
        assert (kind, name) in listed, name
        assert listed[(kind, name)]["options"], f"{name} lists no options"
    assert "lfbgs" in listed[("optimizer", "lbfgs")]["aliases"]


# --- packaging ------------------------------------------------------------------------------


def test_pyproject_lists_every_package_folder() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "siayn_core").rglob("__init__.py")}
    folders |= {p.parent.name for p in (REPO / "plugins").glob("*/__init__.py")}
    missing = folders - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"]["siayn_core.configs"] == "configs"


def test_installed_wheel_runs_the_default_config(tmp_path: Path) -> None:
    """A non-editable install finds its default config and example images inside the package."""
    pytest.importorskip("setuptools")
    wheel_dir = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir),
         str(REPO)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("pip is not available in this environment")
    assert build.returncode == 0, build.stderr
    [wheel] = wheel_dir.glob("*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "siayn_core", "stylize", "-o", "out", "--set", "scaler=0.1", *FAST],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr
    output = Path(result.stdout.strip())
    assert (tmp_path / output) == tmp_path / "out" / "default" / f"{STEM}.png"
    record = json.loads((tmp_path / "out" / "default" / "run.json").read_text())
    assert re.match(re.escape(str(target)), record["source"])  # the config inside the installed package
    assert record["config"]["content"].startswith(str(target))


def test_a_failed_run_leaves_no_empty_folder(tmp_path: Path, small_images: dict[str, Path]) -> None:
    code, _, stderr = stylize(small_images["tubingen"], small_images["starry_night"], "-o", tmp_path / "out",
                              *FAST, "--set", "scaler=0.2")
    assert code == 2 and "too small" in stderr
    assert list((tmp_path / "out").iterdir()) == []
