"""Bad input, through the CLI as a user runs it: one clear line on stderr, exit code 2, no
traceback, nothing written. Unusual but valid images (grayscale, RGBA, CMYK, palette,
16-bit, animated, EXIF-rotated) must work.

Runs use a randomly initialised backbone, one or two steps and images of 24-40 px.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from siayn_core.cli import main

#: A config's settings for a fast run.
TINY = "num_steps: 1, scaler: 1, backbone_options: {weights: none}"
FAST = ["--set", "num_steps=1", "--set", "backbone_options.weights=none", "--set", "scaler=1", "--quiet"]


def gradient(width: int = 32, height: int = 24) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1), "RGB")


def siayn(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def assert_one_clear_line(code: int, stdout: str, stderr: str, message: str) -> None:
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert stderr.startswith("siayn: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr, stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Content and style images, and a config running them, in one folder."""
    gradient().save(tmp_path / "content.png")
    gradient(28, 28).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "style.png")
    return tmp_path


def write_config(folder: Path, body: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(textwrap.dedent(body))
    return path


# --- bad image files ----------------------------------------------------------------------


def _truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    gradient(64, 64).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


BAD_IMAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (lambda p: None, "not found"),
    "directory": (lambda p: p.mkdir(), "found a directory"),
    "not-an-image": (lambda p: p.write_text("hello, not pixels"), "cannot read image"),
    "truncated-jpeg": (_truncated_jpeg, "cannot read image"),
    "zero-bytes": (lambda p: p.write_bytes(b""), "empty file"),
    "1x1": (lambda p: gradient(1, 1).save(p, "PNG"), "too small"),
}


@pytest.mark.parametrize("case", BAD_IMAGES, ids=list(BAD_IMAGES))
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_files(folder: Path, case: str, role: str) -> None:
    make, message = BAD_IMAGES[case]
    bad = folder / "bad.jpg"
    make(bad)
    images = [bad, folder / "style.png"] if role == "content" else [folder / "content.png", bad]
    out = folder / "out"
    assert_one_clear_line(*siayn("stylize", *images, "-o", out, *FAST), message)
    assert files_under(out) == []


def test_a_bad_image_in_the_last_run_stops_before_the_first_run(folder: Path) -> None:
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    config = write_config(folder, """
        first: {content: content.png, style: style.png}
        second: {content: content.png, style: broken.png}
    """)
    out = folder / "out"
    assert_one_clear_line(*siayn("stylize", "-c", config, "-o", out, *FAST), "broken.png")
    assert files_under(out) == []


def test_pixel_limit_with_max_pixels_option(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIAYN_MAX_IMAGE_PIXELS", raising=False)
    out = folder / "out"
    images = [folder / "content.png", folder / "style.png"]
    code, stdout, stderr = siayn("stylize", *images, "-o", out, *FAST, "--max-pixels", "500")
    assert_one_clear_line(code, stdout, stderr, "too large")
    assert "--max-pixels" in stderr and files_under(out) == []
    monkeypatch.setenv("SIAYN_MAX_IMAGE_PIXELS", "500")
    assert_one_clear_line(*siayn("stylize", *images, "-o", out, *FAST), "too large")
    assert_one_clear_line(*siayn("stylize", *images, "-o", out, *FAST, "--max-pixels", "0"), "--max-pixels")
    code, _, stderr = siayn("stylize", *images, "-o", out, *FAST, "--max-pixels", "5000")
    assert code == 0, stderr
    assert os.environ["SIAYN_MAX_IMAGE_PIXELS"] == "500"  # the option only lasts for the command


# --- unusual images that must work --------------------------------------------------------


def test_every_image_kind_works_through_stylize(folder: Path) -> None:
    base = gradient(32, 24)
    base.convert("L").save(folder / "gray.png")
    base.convert("RGBA").save(folder / "rgba.png")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    base.convert("P").save(folder / "palette.png")
    Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype("<u2")).save(folder / "deep.png")
    frames = [base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: 24 wide, 32 high
    base.save(folder / "rotated.jpg", exif=exif)
    names = ["gray.png", "rgba.png", "cmyk.jpg", "palette.png", "deep.png", "anim.gif", "rotated.jpg"]
    runs = "".join(f"{name.split('.')[0]}: {{content: {name}, style: {names[-1 - i]}}}\n" for i, name in enumerate(names))
    config = write_config(folder, runs)
    out = folder / "out"
    code, stdout, stderr = siayn("stylize", "-c", config, "-o", out, *FAST)
    assert code == 0, stderr
    results = [Path(line) for line in stdout.split()]
    assert len(results) == len(names)
    sizes = {path.parent.name: Image.open(path).size for path in results}
    assert sizes.pop("rotated") == (24, 32)  # EXIF orientation honoured
    assert set(sizes.values()) == {(32, 24)}


# --- bad configs --------------------------------------------------------------------------


BAD_SETTINGS: dict[str, tuple[str, str]] = {
    "unknown-key": ("num_stesp: 3", "unknown key 'num_stesp' for run 'bad' in"),
    "unknown-key-suggestion": ("style_wieght: 3", "(did you mean 'style_weight'?)"),
    "wrong-type": ("num_steps: many", "key 'num_steps' of run 'bad'"),
    "wrong-type-list": ("style_layers: {a: 1}", "key 'style_layers' of run 'bad'"),
    "negative-steps": ("num_steps: -5", "must be at least 1"),
    "zero-steps": ("num_steps: 0", "must be at least 1"),
    "zero-scaler": ("scaler: 0", "key 'scaler' of run 'bad'"),
    "negative-scaler": ("scaler: -1", "must be at least"),
    "negative-save-every": ("save_every: -1", "key 'save_every'"),
    "zero-min-size": ("min_size: 0", "key 'min_size'"),
    "zero-tile-size": ("tile_size: 0", "key 'tile_size'"),
    "negative-stage-steps": ("stage_steps: [3, -1]", "key 'stage_steps'"),
    "zero-scale-factor": ("scale_factor: 0", "key 'scale_factor'"),
    "zero-gif-size": ("postprocess: [{name: gif, max_size: 0}]", "option 'max_size'"),
    "negative-mask-scaler": ("postprocess: [{name: mask-create, scaler: -2}]", "option 'scaler'"),
    "negative-lr": ("lr: -0.5", "key 'lr'"),
    "nan-weight": ("style_weight: .nan", "key 'style_weight' of run 'bad' in"),
    "inf-weight": ("content_weight: .inf", "must be a finite number"),
    "inf-tv-weight": ("tv_weight: -.inf", "must be a finite number"),
    "nan-in-weight-list": ("style_weight: [1, .nan]", "must be a finite number"),
    "empty-style-list": ("style: []", "names no style image"),
    "style-weight-lengths": ("style_weight: [1, 2, 3]", "has 3 weights for 1 style images"),
    "layer-weight-lengths": ("style_layers_weights: [1, 2]", "one per layer"),
    "unknown-style-layer": ("style_layers: [relu1_1, relu9_1]", "unknown layer 'relu9_1'"),
    "unknown-content-layer": ("content_layers: [conv_99]", "unknown layer 'conv_99'"),
    "unknown-backbone": ("backbone: vgg91", "unknown backbone 'vgg91' (did you mean 'vgg19'?)"),
    "unknown-timm-model": ("backbone: 'timm:resnt18'", "key 'backbone' of run 'bad' in"),
    "unknown-optimizer": ("opt: adamm", "unknown optimizer 'adamm' (did you mean 'adam'?)"),
    "unknown-initialiser": ("init_method: contnet", "unknown initialiser 'contnet'"),
    "unknown-loss": ("style_loss: gramm", "unknown loss 'gramm'"),
    "unknown-postprocessor": ("postprocess: [denoize]", "unknown postprocessor 'denoize'"),
    "bad-component-option": ("backbone_options: {pooling: median}", "option 'pooling'"),
    "unknown-component-option": ("opt_options: {momentum: 3}", "unknown option 'momentum'"),
    "missing-style-image": ("style: nowhere.png", "style image of run 'bad'"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS, ids=list(BAD_SETTINGS))
def test_bad_config_values(folder: Path, case: str) -> None:
    setting, message = BAD_SETTINGS[case]
    config = write_config(folder, f"""
        good: {{content: content.png, style: style.png, {TINY}}}
        bad:
          content: content.png
          style: style.png
          {TINY.replace(", ", chr(10) + " " * 10)}
          {setting}
    """)  # PyYAML keeps the last of two equal keys: the setting wins
    out = folder / "out"
    assert_one_clear_line(*siayn("stylize", "-c", config, "-o", out, "--quiet"), message)
    assert files_under(out) == []  # the good run before it did not start either


def test_yaml_syntax_error_names_the_line(folder: Path) -> None:
    config = write_config(folder, "first:\n  content: content.png\n  style: [style.png\n  num_steps: 3\n")
    code, stdout, stderr = siayn("stylize", "-c", config, "-o", folder / "out", *FAST)
    assert_one_clear_line(code, stdout, stderr, "YAML syntax error in")
    assert "at line 4" in stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("num_stpes=3", "did you mean 'num_steps'?"),
        ("num_steps=-1", "must be at least 1"),
        ("num_steps=0", "must be at least 1"),
        ("scaler=0", "--set scaler must be at least"),
        ("style_weight=.inf", "must be a finite number"),
        ("content_weight=nan", "must be a finite number"),
        ("style_weight=[1, 2]", "has 2 weights for 1 style images"),
        ("style=[]", "names no style image"),
        ("backbone_options.poling=avg", "unknown option 'poling'"),
    ],
)
def test_bad_overrides(folder: Path, override: str, message: str) -> None:
    out = folder / "out"
    config = write_config(folder, "r: {content: content.png, style: style.png}\n")
    code, stdout, stderr = siayn("stylize", "-c", config, "-o", out, *FAST, "--set", override)
    assert_one_clear_line(code, stdout, stderr, message)
    assert files_under(out) == []


# --- outputs ------------------------------------------------------------------------------


def test_output_folder_under_a_file(folder: Path) -> None:
    blocker = folder / "taken"
    blocker.write_text("a file, not a folder")
    images = [folder / "content.png", folder / "style.png"]
    assert_one_clear_line(*siayn("stylize", *images, "-o", blocker / "out", *FAST), "is a file, not a folder")
    assert_one_clear_line(*siayn("stylize", *images, "-o", blocker, *FAST), "cannot write to output folder")
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_read_only_output_folder(folder: Path) -> None:
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, stdout, stderr = siayn("stylize", folder / "content.png", folder / "style.png", "-o", locked / "out", *FAST)
        assert_one_clear_line(code, stdout, stderr, "not writable")
    finally:
        locked.chmod(0o755)


def test_unwritable_output_check_uses_access(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root user meets in a read-only folder (root may write anywhere)."""
    real_access = os.access
    locked = folder / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real_access(path, mode))
    code, stdout, stderr = siayn("stylize", folder / "content.png", folder / "style.png", "-o", locked / "out", *FAST)
    assert_one_clear_line(code, stdout, stderr, "is not writable")
    assert not (locked / "out").exists()


# --- siayn postprocess --------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "not-an-image", "truncated-jpeg", "zero-bytes", "1x1"])
def test_postprocess_bad_images(folder: Path, case: str) -> None:
    make, message = BAD_IMAGES[case]
    make(folder / "bad.jpg")
    config = write_config(folder, "clean: {use_denoise: true, img_path: bad.jpg}\n")
    assert_one_clear_line(*siayn("postprocess", "--config", config), message)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["content.png", "style.png", "config.yaml"]
                                                              + (["bad.jpg"] if case != "missing" else []))


def test_postprocess_pixel_limit_and_output_folder(folder: Path) -> None:
    config = write_config(folder, "clean: {use_denoise: true, img_path: content.png}\n")
    assert_one_clear_line(*siayn("postprocess", "--config", config, "--max-pixels", "100"), "too large")
    (folder / "taken").write_text("x")
    assert_one_clear_line(*siayn("postprocess", "--config", config, "--output", folder / "taken" / "o"),
                          "is a file, not a folder")
    code, stdout, stderr = siayn("postprocess", "--config", config, "--max-pixels", "1000", "--output", folder / "o")
    assert code == 0, stderr
    assert [p.name for p in (folder / "o").iterdir()] == ["content.denoise.png"]


def test_postprocess_yaml_and_key_errors(folder: Path) -> None:
    config = write_config(folder, "clean:\n  use_denoise: true\n  img_path: [content.png\n")
    assert_one_clear_line(*siayn("postprocess", "--config", config), "at line")
    config = write_config(folder, "clean: {use_denoise: true, img_pth: content.png}\n")
    assert_one_clear_line(*siayn("postprocess", "--config", config), "did you mean 'img_path'?")
    config = write_config(folder, "clean: {use_denoise: true, img_path: content.png, p5: .nan}\n")
    assert_one_clear_line(*siayn("postprocess", "--config", config), "p5")


def test_odd_file_names_stay_one_line(folder: Path) -> None:
    out = folder / "out"
    weird = folder / "two\nlines.png"
    weird.write_text("not an image")
    assert_one_clear_line(*siayn("stylize", weird, folder / "style.png", "-o", out, *FAST), "two\\nlines.png")
    assert_one_clear_line(*siayn("stylize", "x" * 300 + ".png", folder / "style.png", "-o", out, *FAST), "not found")
    assert files_under(out) == []


def test_results_are_never_overwritten(folder: Path) -> None:
    """A second stylize run goes to <run>-2/, a second postprocessing to <name>.<step>-2.png."""
    out = folder / "out"
    images = [folder / "content.png", folder / "style.png"]
    first = siayn("stylize", *images, "-o", out, *FAST)[1].strip()
    before = Path(first).read_bytes()
    second = siayn("stylize", *images, "-o", out, *FAST, "--set", "init_method=random")[1].strip()
    assert Path(second).parent.name == "default-2" and Path(first).read_bytes() == before
    config = write_config(folder, "clean: {use_denoise: true, img_path: content.png}\n")
    for _ in range(2):
        assert siayn("postprocess", "--config", config, "--quiet")[0] == 0
    assert sorted(p.name for p in folder.glob("content.denoise*")) == ["content.denoise-2.png", "content.denoise.png"]


def test_a_failed_write_is_a_clear_error_and_leaves_nothing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while saving: one line, exit 2, no file under the result's name."""
    import errno

    from PIL import Image as PILImage

    def full_disk(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half a PNG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", full_disk)
    out = folder / "out"
    code, stdout, stderr = siayn("stylize", folder / "content.png", folder / "style.png", "-o", out, *FAST)
    assert_one_clear_line(code, stdout, stderr, "No space left on device")
    assert "cannot write" in stderr and files_under(out) == []
