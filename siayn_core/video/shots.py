"""A clip's shots: where it cuts (:func:`find_shots`), and one shot stylized frame by frame
(:class:`ShotJob`, a :class:`~siayn_core.batch.jobs.Job` that any executor can run).

Each frame after a shot's first starts from the previous stylized frame warped onto it by
the optical flow and is held there by the temporal loss where the forward and backward
flows agree (Ruder et al., "Artistic style transfer for videos", GCPR 2016). A shot's first
frame starts afresh, so shots depend on nothing but their own frames and run in parallel.

A shot's record (``shots/<first frame>.json``) is :class:`ShotJob`'s alone
(:attr:`ShotJob.record`, :meth:`ShotJob.record_frame`, :meth:`ShotJob.finished`): a JSON
list of its finished frames in order, each with its ``file``, ``seconds``, ``steps``, last
``loss`` and ``device``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..io.json_files import write_json

if TYPE_CHECKING:
    from ..config.schema import StylizeOptions
    from ..engine.outcomes import StylizeResult
    from ..engine.painter import Painters
    from ..host.registry import Registry
    from .options import VideoOptions

INPUT_DIR = "input"
FRAMES_DIR = "frames"
SHOTS_DIR = "shots"


def frame_name(index: int) -> str:
    """The file of frame ``index`` (from 0), in ``input/`` and ``frames/``: ``frame_00001.png``."""
    return f"frame_{index + 1:05d}.png"


def stylized_frame(folder: Path, index: int) -> Path:
    """The stylized frame ``index`` (from 0) of the run folder ``folder``."""
    return folder / FRAMES_DIR / frame_name(index)


def find_shots(frames: Sequence[Image.Image], threshold: float | None) -> list[range]:
    """The clip's shots, as ranges of frame indices: a cut wherever the mean difference of
    two consecutive frames' HSV values (0-255) exceeds ``threshold``; None: one shot."""
    import cv2

    if threshold is None or len(frames) < 2:
        return [range(len(frames))]
    hsv = [cv2.cvtColor(np.asarray(frame.convert("RGB")), cv2.COLOR_RGB2HSV).astype(np.float32) for frame in frames]
    cuts = [index for index in range(1, len(frames)) if np.abs(hsv[index] - hsv[index - 1]).mean() > threshold]
    starts = [0, *cuts]
    return [range(start, stop) for start, stop in zip(starts, [*cuts, len(frames)])]


@dataclass(frozen=True)
class ShotJob:
    """The frames ``first`` to ``stop - 1`` of the clip staged in ``folder`` (``input/``), to
    be stylized into ``folder/frames/``; frame ``i`` uses the seed ``seed + i``."""

    name: str
    folder: Path
    first: int
    stop: int
    styles: tuple[Path, ...]
    options: StylizeOptions
    video: VideoOptions
    seed: int
    device: str = "auto"
    plugins: tuple[str, ...] = ()
    threads: int | None = None

    def with_threads(self, threads: int | None) -> ShotJob:
        """This shot with ``threads`` CPU threads, unless its own number was chosen."""
        return self if self.threads is not None else dataclasses.replace(self, threads=threads)

    def execute(self, registry: Registry, painters: Painters) -> tuple[Path, Path, int | None]:
        """Stylize the shot's frames not done yet; returns its last frame, the clip's folder and seed."""
        return run_shot(self, registry=registry, painters=painters), self.folder, self.seed

    @property
    def record(self) -> Path:
        """The shot's own record: each finished frame's seconds, steps and last loss."""
        return self.folder / SHOTS_DIR / f"{self.first + 1:05d}.json"

    def record_frame(self, done: list[dict[str, Any]], index: int, result: StylizeResult) -> None:
        """Add frame ``index``'s entry to ``done``, the shot's finished frames, and write the record."""
        done.append({"file": frame_name(index), "seconds": round(result.seconds, 3), "steps": result.steps,
                     "loss": result.losses[-1] if result.losses else None, "device": result.device,
                     "precision": result.precision})
        write_json(done, self.record)

    def finished(self) -> list[dict[str, Any]]:
        """The records of the shot's frames done so far, in order (a frame counts once its file exists)."""
        try:
            frames = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        done: list[dict[str, Any]] = []
        for index, entry in zip(range(self.first, self.stop), frames if isinstance(frames, list) else []):
            if not isinstance(entry, dict) or entry.get("file") != frame_name(index) or not stylized_frame(self.folder, index).is_file():
                break
            done.append(entry)
        return done


def run_shot(job: ShotJob, *, registry: Registry, painters: Painters | None = None,
             on_frame: Callable[[int], bool | None] | None = None) -> Path:
    """Stylize ``job``'s frames from the first not done, writing each frame and the shot's
    record as it ends; ``on_frame(index)`` after each frame may return True to stop there.

    :param painters: built components shared with other shots (the backbone is loaded, and
        each style's targets computed, once per stage size for all the frames).
    """
    from ..engine.painter import Painters
    from ..io.images import read_image, to_pil, write_image

    painters = Painters(registry, job.device) if painters is None else painters
    done = job.finished()
    styles = [read_image(path) for path in job.styles]
    temporal_loss = registry.create("loss", job.video.temporal_loss)
    first_options = dataclasses.replace(job.options, size=None, scaler=1.0, postprocess=[])
    later_options = dataclasses.replace(first_options, num_steps=job.video.later_steps
                                        or max(1, job.options.num_steps // 2))
    before: Image.Image | None = None
    stylized: Image.Image | None = None
    for index in range(job.first + len(done), job.stop):
        frame = read_image(job.folder / INPUT_DIR / frame_name(index))
        if index == job.first:
            result = _stylize(frame, styles, first_options, painters, job, index)
        else:
            if before is None or stylized is None:  # going on with a shot stopped before this frame
                before = read_image(job.folder / INPUT_DIR / frame_name(index - 1))
                stylized = read_image(stylized_frame(job.folder, index - 1))
            result = _stylize(frame, styles, later_options, painters, job, index,
                              after=(before, stylized, temporal_loss))
        picture = to_pil(result.image)
        write_image(picture, stylized_frame(job.folder, index))
        before, stylized = frame, picture
        job.record_frame(done, index, result)
        if on_frame is not None and on_frame(index):
            break
    return stylized_frame(job.folder, job.first + len(done) - 1)


def _stylize(
    frame: Image.Image,
    styles: Sequence[Image.Image],
    options: StylizeOptions,
    painters: Painters,
    job: ShotJob,
    index: int,
    *,
    after: tuple[Image.Image, Image.Image, Any] | None = None,
) -> StylizeResult:
    """One frame: on its own, or ``after`` the previous frame (its input, its stylized
    version, the temporal loss): started from that warped onto it, held there by the loss."""
    painter = painters.for_options(options)
    if after is None:
        return painter.paint(frame, styles, options, seed=job.seed + index)
    from ..engine.temporal import TemporalTerm

    before, stylized, loss = after
    warped, trusted = warp_previous(before, frame, stylized)
    weight = job.video.temporal_weight
    temporal = TemporalTerm(warped, trusted, loss, weight) if weight else None
    return painter.paint(frame, styles, options, seed=job.seed + index, start=warped, temporal=temporal)


def warp_previous(before: Image.Image, after: Image.Image, stylized: Image.Image) -> tuple[Image.Image, Image.Image]:
    """The stylized frame ``before`` became, warped onto frame ``after`` (all at ``after``'s
    size), and the mask (mode ``L``) of the pixels where the forward and backward flows agree.
    Pixels that have just come into view take ``after``'s own, as a fresh frame starts."""
    from .flow import consistency, dense_flow, inside, warp
    from ..io.images import resize

    size = after.size
    before = resize(before, size)
    backward, forward = dense_flow(after, before), dense_flow(before, after)
    pixels = np.asarray(resize(stylized, size).convert("RGB"), dtype=np.float32)
    seen = inside(backward)
    warped = np.where(seen[..., None], warp(pixels, backward), np.asarray(after.convert("RGB"), np.float32))
    trusted = consistency(backward, forward) * seen
    return (Image.fromarray(np.clip(warped + 0.5, 0, 255).astype(np.uint8), "RGB"),
            Image.fromarray((trusted * 255).astype(np.uint8), "L"))


def flicker(frames: Sequence[Image.Image], outputs: Sequence[Image.Image]) -> float:
    """The mean warped difference between consecutive ``outputs`` (8-bit levels) where the
    flows of the input ``frames`` (resized to the outputs' size) agree: what a viewer sees as
    flicker, and what the temporal loss keeps down."""
    from ..io.images import resize

    differences = []
    size = outputs[0].size
    for index in range(1, len(frames)):
        warped, trusted = warp_previous(frames[index - 1], resize(frames[index], size), outputs[index - 1])
        weights = np.asarray(trusted, np.float32)[..., None] / 255
        gap = np.abs(np.asarray(outputs[index].convert("RGB"), np.float32) - np.asarray(warped, np.float32))
        differences.append(float((gap * weights).sum() / max(weights.sum() * 3, 1.0)))
    return float(np.mean(differences))
