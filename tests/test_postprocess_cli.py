"""``siayn postprocess``: the seed's config format, file layout, naming and errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from siayn_core.cli import main
from siayn_core.io.resources import POSTPROCESS_CONFIG_NAME, bundled_config, examples_dir

from .conftest import REPO, SHARED

SEED_CONFIG = SHARED / "data" / "seed_postprocessing_default.yaml"
IMAGES = SHARED / "data" / "images"
SCREAM = ("frog!-!Edvard_Munch_1893_The_Scream_oil_tempera_and_pastel_on_cardboard_91_x_73_cm_"
          "National_Gallery_of_Norway-825x1024-1")
PICASSO = "frog!-!Picasso_The_Weeping_Woman"
MONA_LISA = "Mona_Lisa_by_Leonardo_da_Vinci_from_C2RMF_retouched-1-687x1024-1.jpg"

needs_shared = pytest.mark.skipif(
    not (SEED_CONFIG.is_file() and IMAGES.is_dir()), reason=f"shared seed data not found under {SHARED}"
)


def siayn(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["postprocess", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def shrink(source: Path, target: Path, width: int) -> Path:
    """A small copy of a shared image (tests stay fast)."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.resize((width, max(8, round(image.height * width / image.width)))).save(target)
    return target


@pytest.fixture
def seed_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out like the seed's: the config, data/content, data/style, result/example.
    The working directory is elsewhere, so names must resolve against the config's folder."""
    root = tmp_path / "seed"
    for folder in ("data/content", "data/style", "result/example"):
        (root / folder).mkdir(parents=True)
    shutil.copy(SEED_CONFIG, root / "postprocessing_default.yaml")
    shrink(IMAGES / "content" / "tubingen.jpg", root / "data" / "content" / "frog.png", 64)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:36, 16:48] = 255
    Image.fromarray(mask).save(root / "data" / "content" / "frog_mask.png")
    shrink(IMAGES / "style" / "mona_lisa.jpg", root / "data" / "style" / MONA_LISA, 40)
    shrink(IMAGES / "style" / "the_scream.jpg", root / "result" / "example" / f"{SCREAM}.png", 32)
    shrink(IMAGES / "style" / "woman-with-hat-matisse.jpg", root / "result" / "example" / f"{PICASSO}.png", 32)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return root


@needs_shared
def test_seed_config_runs_as_written_and_never_overwrites(seed_tree: Path) -> None:
    config = str(seed_tree / "postprocessing_default.yaml")
    code, stdout, stderr = siayn("--config", config)
    assert code == 0, stderr
    example = seed_tree / "result" / "example"
    expected = {
        "denoise": example / f"{SCREAM}.denoise.png",
        "mask": example / f"{SCREAM}.mask.png",
        "histogram": example / f"{PICASSO}.histogram.png",
        "mask-create": seed_tree / "data" / "content" / "frog.mask-create.png",
    }
    for step, path in expected.items():
        assert path.is_file(), step
        assert f"test1: {step} -> {path}" in stdout
    assert Image.open(expected["mask-create"]).size == (19, 14)  # scaler 0.3 of 64x48
    assert Image.open(expected["mask"]).size == (32, 41)  # the stylized image's size
    # the mask's black border shows the content, resized to the stylized image
    content = np.asarray(Image.open(seed_tree / "data" / "content" / "frog.png").resize((32, 41), Image.LANCZOS))
    masked = np.asarray(Image.open(expected["mask"]))
    assert np.array_equal(masked[:4, :], content[:4, :])

    before = {path: path.read_bytes() for path in expected.values()}
    code, stdout, stderr = siayn("--config", config, "--run", "test1", "--quiet")
    assert code == 0, stderr
    assert stdout == ""
    for path, data in before.items():
        assert path.read_bytes() == data
        assert path.with_name(f"{path.stem}-2.png").is_file()


@needs_shared
def test_seed_gif_creation_and_overrides(seed_tree: Path) -> None:
    frames = seed_tree / "result" / "test1"
    frames.mkdir()
    for index in range(3):
        Image.new("RGB", (20, 10), (80 * index, 0, 0)).save(frames / f"step_{index * 5}.png")
    code, stdout, stderr = siayn(
        "--config", str(seed_tree / "postprocessing_default.yaml"),
        "--set", "use_denoise=false", "--set", "use_mask=no", "--set", "use_histogram=false",
        "--set", "use_mask_creation=false", "--set", "use_gif_creation=true", "--set", "fps=10",
    )
    assert code == 0, stderr
    gif = frames / "transformation.gif"
    assert stdout.strip() == f"test1: gif -> {gif}"
    with Image.open(gif) as animation:
        assert animation.n_frames == 3 and animation.info["duration"] == 100


@needs_shared
def test_postprocess_list_with_a_third_party_plugin(seed_tree: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(REPO / "docs" / "examples" / "siayn-plugin-example"))
    config = seed_tree / "chain.yaml"
    config.write_text(
        "chain:\n"
        "  image: 'frog.png'\n"
        "  content: 'frog.png'\n"
        "  postprocess: [sepia, {name: preserve-colors, colorspace: lab}]\n"
    )
    code, stdout, stderr = siayn("--config", str(config), "--plugin", "siayn_sepia", "--output", "out")
    assert code == 0, stderr
    out = Path("out")
    assert (out / "frog.sepia.png").is_file() and (out / "frog.sepia.preserve-colors.png").is_file()
    assert "chain: preserve-colors -> out/frog.sepia.preserve-colors.png" in stdout


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("test1:\n  use_denoize: True\n", r"unknown option 'use_denoize' for run 'test1' in .*cfg\.yaml \(did you mean 'use_denoise'\?\)"),
        ("test1:\n  use_denoise: True\n  p3: big\n  img_path: a.png\n", r"option 'p3' of run 'test1' in .*cfg\.yaml must be int"),
        ("test1:\n  use_denoise: maybe\n", r"option 'use_denoise' of run 'test1' in .*cfg\.yaml must be true or false"),
        ("test1:\n  use_denoise: True\n  img_path: nothere.png\n", r"image to denoise \('img_path' of run 'test1' in .*cfg\.yaml\) not found: nothere\.png"),
        ("test1:\n  use_mask: True\n  styled: a.png\n", r"run 'test1' in .*cfg\.yaml: 'content' is required"),
        ("test1:\n  image: a.png\n  postprocess: [denoise, blur]\n", r"unknown postprocessor 'blur'.*\(in run 'test1' in .*cfg\.yaml\)"),
        ("test1:\n  image: a.png\n  postprocess: [{name: mask, feather: -1}]\n", r"'feather' of postprocessor 'mask' must be at least 0"),
        ("test1:\n  p3: 5\n", r"run 'test1' in .*cfg\.yaml does nothing"),
    ],
)
def test_config_errors_name_key_run_and_file(tmp_path: Path, monkeypatch, yaml_text: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    (tmp_path / "cfg.yaml").write_text(yaml_text)
    code, stdout, stderr = siayn("--config", "cfg.yaml")
    assert code == 2, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1
    assert re.search(expected, stderr), stderr


def test_unknown_run_and_missing_config(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text("test1:\n  use_denoise: True\n")
    code, _, stderr = siayn("--config", str(tmp_path / "cfg.yaml"), "--run", "test2")
    assert code == 2 and "unknown run 'test2'" in stderr and "did you mean 'test1'" in stderr
    code, _, stderr = siayn("--config", str(tmp_path / "none.yaml"))
    assert code == 2 and "config file not found" in stderr


def _default_config_tree(tmp_path: Path) -> Path:
    """The default config beside small copies of the images it names, laid out like the seed."""
    root = tmp_path / "defaults"
    (root / "data" / "content").mkdir(parents=True)
    (root / "data" / "style").mkdir(parents=True)
    shutil.copy(REPO / "configs" / "postprocessing_default.yaml", root)
    shrink(IMAGES / "content" / "tubingen.jpg", root / "data" / "content" / "tubingen.jpg", 64)
    shrink(IMAGES / "style" / "starry_night.jpg", root / "data" / "style" / "starry_night.jpg", 64)
    return root / "postprocessing_default.yaml"


@needs_shared
def test_default_config_runs_every_step(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = siayn("--config", str(_default_config_tree(tmp_path)))
    assert code == 0, stderr
    results = sorted(path.name for path in (tmp_path / "result" / "postprocess").iterdir())
    assert results == [
        "starry_night.mask.png",
        "starry_night.preserve-colors.denoise.png",
        "starry_night.preserve-colors.png",
        "tubingen.denoise.png",
        "tubingen.histogram.png",
        "tubingen.mask-create.png",
    ]


@pytest.mark.skipif(
    not (bundled_config(POSTPROCESS_CONFIG_NAME).is_file() and (examples_dir() / "tubingen.jpg").is_file()),
    reason="the bundled example images are not installed",
)
def test_bare_postprocess_uses_the_bundled_examples(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = siayn("--run", "photo", "--set", "use_denoise=false", "--set", "use_mask_creation=no")
    assert code == 0, stderr
    assert (tmp_path / "result" / "postprocess" / "tubingen.histogram.png").is_file()


def test_components_list_shows_every_postprocessor_with_options(monkeypatch) -> None:
    import json

    monkeypatch.syspath_prepend(str(REPO / "docs" / "examples" / "siayn-plugin-example"))
    result = CliRunner().invoke(
        main, ["components", "list", "--kind", "postprocessor", "--json", "--plugin", "siayn_sepia"]
    )
    assert result.exit_code == 0, result.stderr
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert {"denoise", "mask", "mask-create", "histogram", "preserve-colors", "gif", "sepia"} <= set(listed)
    options = {spec["name"]: spec for spec in listed["mask-create"]["options"]}
    assert options["method"]["default"] == "grabcut" and options["method"]["help"]
    assert [spec["name"] for spec in listed["denoise"]["options"]] == [
        "template_window", "search_window", "strength", "color_strength"]
