"""Every kind of input image either works or fails with one clear SiaynError."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from siayn_core import SiaynError
from siayn_core.io.images import atomic_path, read_image, to_pil, to_tensor, write_image


def gradient(size: tuple[int, int] = (40, 30)) -> Image.Image:
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1), "RGB")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p, "image not found"),
        (lambda p: (p.mkdir(), p)[1], "found a directory"),
        (lambda p: (p.write_text("not an image"), p)[1], "cannot read image"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p: (gradient((1, 1)).save(p, "PNG"), p)[1], "too small"),
    ],
    ids=["missing", "directory", "text", "zero-bytes", "1x1"],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, make, match: str) -> None:
    path = make(tmp_path / "input.png")
    with pytest.raises(SiaynError, match=match) as error:
        read_image(path)
    assert "\n" not in str(error.value)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    gradient((64, 64)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(SiaynError, match="cannot read image.*cut.jpg"):
        read_image(path)


def test_pixel_limit_and_how_to_raise_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    gradient((100, 100)).save(path)
    monkeypatch.setenv("SIAYN_MAX_IMAGE_PIXELS", "5000")
    with pytest.raises(SiaynError, match="too large.*SIAYN_MAX_IMAGE_PIXELS"):
        read_image(path)
    assert Image.MAX_IMAGE_PIXELS != 5000  # the limit does not leak into other Pillow users
    monkeypatch.setenv("SIAYN_MAX_IMAGE_PIXELS", "20000")
    assert read_image(path).size == (100, 100)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "LA", "I;16", "1"])
def test_every_common_mode_becomes_rgb(tmp_path: Path, mode: str) -> None:
    source = gradient()
    if mode == "I;16":
        array = np.asarray(source.convert("L"), dtype=np.uint16) * 257
        converted = Image.fromarray(array.astype("<u2"))
    else:
        converted = source.convert(mode)
    path = tmp_path / ("in.tiff" if mode == "CMYK" else "in.png")
    converted.save(path)
    image = read_image(path)
    assert image.mode == "RGB" and image.size == source.size
    if mode == "I;16":  # 16-bit values are scaled down, not clipped
        expected = np.asarray(source.convert("L"), dtype=int)
        assert np.abs(np.asarray(image)[..., 0].astype(int) - expected).max() <= 1


def test_transparent_pixels_become_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(path)
    assert read_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    red, green, blue = read_image(path).getpixel((8, 8))
    assert red > 200 and blue < 50


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    gradient((40, 20)).save(path, exif=exif)
    assert read_image(path).size == (20, 40)


def test_tensor_round_trip_and_clamping() -> None:
    image = gradient()
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 30, 40) and 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(to_pil(tensor)), np.asarray(image))
    assert np.asarray(to_pil(tensor * 3 - 1)).max() == 255  # out-of-range values are clamped


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    write_image(gradient(), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        image = read_image(path)
    except SiaynError:
        return
    assert image.mode == "RGB"


def _mutated_png(data: bytes, position: int, value: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([value]) + data[position + 1 :]


_PNG = io.BytesIO()
gradient((24, 24)).save(_PNG, "PNG")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(0, 255), cut=st.integers(0, 400))
def test_corrupted_pngs_never_escape_as_other_errors(tmp_path: Path, position: int, value: int, cut: int) -> None:
    data = _mutated_png(_PNG.getvalue(), position, value)
    path = tmp_path / "fuzz.png"
    path.write_bytes(data[: len(data) - cut])
    try:
        read_image(path)
    except SiaynError:
        pass


def test_pixel_limit_is_an_argument_and_stays_in_its_thread(tmp_path: Path) -> None:
    import threading

    from siayn_core.config.checks import pixel_limit

    path = tmp_path / "big.png"
    gradient((100, 100)).save(path)
    with pytest.raises(SiaynError, match="too large"):
        read_image(path, max_pixels=5000)
    seen: list[tuple[int, int]] = []
    with pixel_limit(5000):
        with pytest.raises(SiaynError, match="too large"):
            read_image(path)
        other = threading.Thread(target=lambda: seen.append(read_image(path).size))
        other.start()
        other.join()
    assert seen == [(100, 100)]  # another thread's reads keep their own limit
    assert "SIAYN_MAX_IMAGE_PIXELS" not in os.environ or os.environ["SIAYN_MAX_IMAGE_PIXELS"] != "5000"
