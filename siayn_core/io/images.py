"""Reading, converting and atomically writing images; a folder's images in natural order
and a free file name beside existing ones.

Every image that enters SIAYN goes through :func:`read_image`, so every input format
behaves the same way: EXIF orientation honoured, the first frame of an animation,
grayscale / RGBA / CMYK / palette / 16-bit inputs converted to 8-bit RGB.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import threading
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    import torch

#: The smallest side SIAYN accepts for an input image.
MIN_SIDE = 8
#: The file suffixes of images SIAYN reads (Pillow opens each of them).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
#: Files :func:`image_files` picks up (GIFs are left out: they are outputs, not frames).
FRAME_SUFFIXES = IMAGE_SUFFIXES - {".gif"}
#: The default pixel limit (Pillow's own); ``SIAYN_MAX_IMAGE_PIXELS`` raises or lowers it.
DEFAULT_MAX_PIXELS = 89_478_485
MAX_PIXELS_VARIABLE = "SIAYN_MAX_IMAGE_PIXELS"


#: The limit a command set for the images it reads (``--max-pixels``): per thread and task,
#: so one GUI session's limit never changes another's.
command_pixel_limit: contextvars.ContextVar[int | None] = contextvars.ContextVar("command_pixel_limit", default=None)
#: Pillow reads its limit from a module global: swaps of it are serialized.
_PILLOW_LIMIT_LOCK = threading.Lock()


def max_image_pixels() -> int:
    """The largest image, in pixels, that :func:`read_image` opens by default: the command's
    ``--max-pixels``, else ``SIAYN_MAX_IMAGE_PIXELS``, else Pillow's own limit."""
    limit = command_pixel_limit.get()
    if limit is not None:
        return limit
    raw = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(float(raw))
    except ValueError:
        raise SiaynError(f"{MAX_PIXELS_VARIABLE} must be a whole number of pixels, got {raw!r}") from None
    if limit <= 0:
        raise SiaynError(f"{MAX_PIXELS_VARIABLE} must be positive, got {raw!r}")
    return limit


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Image.Image:
    """Open ``path`` as an 8-bit RGB image, or raise SiaynError with a one-line reason.

    :param max_pixels: refuse images larger than this (default: :func:`max_image_pixels`).
    """
    path = Path(path)
    try:
        found = path.exists()
    except OSError as error:  # e.g. a name too long for the file system
        raise SiaynError(f"cannot read image {path}: {error.strerror or error}") from None
    if not found:
        raise SiaynError(f"image not found: {path}")
    if path.is_dir():
        raise SiaynError(f"expected an image file but found a directory: {path}")
    limit = max_image_pixels() if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice its limit: refuse at the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _PILLOW_LIMIT_LOCK:
                previous_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
                try:
                    opened = Image.open(path)  # Pillow checks the size here, from the header
                finally:
                    Image.MAX_IMAGE_PIXELS = previous_limit
            with opened:
                opened.seek(0)
                image = ImageOps.exif_transpose(opened)
                image.load()
                image = to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SiaynError(
            f"image is too large: {path} has more than {limit} pixels; "
            f"raise the limit with --max-pixels or {MAX_PIXELS_VARIABLE}=<pixels> if you trust the file"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        reason = "empty file" if path.stat().st_size == 0 else str(error) or type(error).__name__
        raise SiaynError(f"cannot read image {path}: {reason}") from None
    if min(image.size) < MIN_SIDE:
        raise SiaynError(
            f"image is too small: {path} is {image.width}x{image.height}, "
            f"need at least {MIN_SIDE} px on each side"
        )
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode (including 16-bit and CMYK) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to ``(width, height)`` with a high-quality filter."""
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(width, height)`` multiplied by ``scale``, at least 1 px on each side."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def output_size(size: tuple[int, int], *, longer_side: int | None, scale: float) -> tuple[int, int]:
    """The size of a result made from an image of ``size``: its longer side set to
    ``longer_side`` px when given (aspect ratio kept), else ``size`` times ``scale``."""
    if longer_side is None:
        return scaled_size(size, scale)
    return scaled_size(size, longer_side / max(size))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL RGB image as a ``(1, 3, H, W)`` float tensor in ``[0, 1]``."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` tensor as an RGB image, clamped to ``[0, 1]``."""
    tensor = tensor.detach().float().cpu()
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = (tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array, "RGB")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place only on success.

    A crash or ``kill -9`` leaves either the old file or the complete new one, never a
    truncated file.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as error:  # a read-only folder, a file in the way
        raise SiaynError(f"cannot write {target}: {error.strerror or error}") from None
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp makes the file owner-only; give it the permissions a plain open() would.
        os.chmod(temporary_path, 0o666 & ~file_creation_mask())
        os.replace(temporary_path, target)
    except OSError as error:  # a full disk, a folder made read-only meanwhile
        raise SiaynError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        temporary_path.unlink(missing_ok=True)


def write_image(image: Image.Image, target: str | os.PathLike[str]) -> Path:
    """Save ``image`` atomically; the format follows ``target``'s suffix."""
    target = Path(target)
    with atomic_path(target) as temporary:
        image.save(temporary, format=Image.registered_extensions().get(target.suffix.lower(), "PNG"))
    return target


def write_text(text: str, target: str | os.PathLike[str]) -> Path:
    """Write ``text`` atomically (UTF-8)."""
    target = Path(target)
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target


def unique_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if no file is there yet, else the first free ``stem-2.ext``, ``stem-3.ext``..."""
    path = Path(path)
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate


def _natural_key(path: Path) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name.lower())]


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The images in ``folder`` (not its subfolders) in natural order: ``frame2`` before ``frame10``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SiaynError(f"not a folder of images: {folder}" if folder.exists() else f"folder not found: {folder}")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(files, key=_natural_key)


@functools.cache
def file_creation_mask() -> int:
    """The process's umask, so atomically written files get the permissions ``open`` would give.

    Read from ``/proc`` where there is one: ``os.umask`` can only be read by setting it,
    which would race with other threads creating files.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
