"""Reading and writing clips, with OpenCV: a video file (mp4, avi, mov, GIF...) or a folder
of frames in, an mp4 out. The only code that knows video containers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..plugin.errors import SiaynError

#: The frame rate of a folder of frames, unless ``--fps`` says otherwise.
FOLDER_FPS = 24.0


@dataclass
class Clip:
    """A clip's frames (RGB), frame rate and file or folder."""

    frames: list[Image.Image]
    fps: float
    source: Path


def read_clip(path: str | os.PathLike[str], *, fps: float | None = None) -> Clip:
    """The frames of the video file or folder of frames at ``path``; ``fps`` overrides its
    frame rate. Raises SiaynError, in one line, for a missing, unreadable or empty clip."""
    path = Path(path)
    if path.is_dir():
        from .images import image_files, read_image

        frames = [read_image(file) for file in image_files(path)]
        if not frames:
            raise SiaynError(f"cannot read the clip {path}: the folder holds no frames")
        return Clip(frames, fps or FOLDER_FPS, path)
    if not path.is_file():
        raise SiaynError(f"clip not found: {path}")
    import cv2

    with _quiet_stderr():  # FFmpeg prints its own complaints about a broken file there
        capture = cv2.VideoCapture(str(path))
        try:
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
            rate = capture.get(cv2.CAP_PROP_FPS)
        finally:
            capture.release()
    if not frames:
        raise SiaynError(f"cannot read the clip {path}: OpenCV finds no video frames in it (corrupt or not a video)")
    return Clip(frames, fps or (rate if rate and np.isfinite(rate) and rate > 0 else FOLDER_FPS), path)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 sent to the null device within the block, so that native libraries'
    messages do not break the one-line error."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def write_mp4(frames: list[Image.Image], fps: float, target: str | os.PathLike[str]) -> Path:
    """Write ``frames`` as an mp4 (MPEG-4 part 2, which every OpenCV build writes), atomically."""
    import cv2

    from .images import atomic_path

    target = Path(target)
    width, height = frames[0].size
    with atomic_path(target) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise SiaynError(f"cannot write {target}: OpenCV has no mp4 encoder here")
        try:
            for frame in frames:
                writer.write(cv2.cvtColor(np.asarray(frame.convert("RGB").resize((width, height))), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return target
