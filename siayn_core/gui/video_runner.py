"""The GUI's video runs: the form's styles and options on every frame of an uploaded clip,
through :func:`siayn_core.video.clip.stylize_clip`, as ``siayn video`` runs them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin.errors import SiaynError
from .form import FormField, Key, form_fields, form_image, run_settings
from .runner import Update, Worker, progress_text

if TYPE_CHECKING:
    from ..video.clip import VideoOutput
    from .runner import GuiBackend

#: The folder name of every GUI video run under the output folder (``gui-video``, ``gui-video-2``...).
VIDEO_RUN_NAME = "gui-video"


def video_fields() -> list[FormField]:
    """The form's fields for a clip's own options (:class:`~siayn_core.video.options.VideoOptions`)."""
    from ..video.options import VideoOptions

    return form_fields(VideoOptions)


def run_video(backend: GuiBackend, values: Mapping[Key, Any], *, session: str = "local") -> Iterator[Update]:
    """Stylize the clip in ``values[("clip",)]`` with the form's styles and options, yielding an
    :class:`Update` as each frame ends and a last one with the mp4 and ``run.json``.

    Stop ends the run after the current frame. The clip's own options are
    ``values[("video", name)]``; without a ``size``, the longer side is capped as for
    ``siayn video``.

    :raises SiaynError: for no clip, a clip that cannot be read, or a bad form value.
    """
    from ..plugin.options import build
    from ..runs.folder import claim_run_dir
    from ..video.clip import resolve_clip_run, stylize_clip
    from ..io.clips import read_clip
    from ..video.options import VideoOptions

    clip = form_image(values.get(("clip",)))
    if clip is None:
        raise SiaynError("choose a clip to stylize (a video file or a GIF)")
    # The clip's frames take the content image's place.
    settings = run_settings(backend.form, {**values, ("content",): clip}, backend.registry)
    del settings["content"]
    given = {field.name: field.read(values.get(("video", field.name), field.display())) for field in video_fields()}
    video = build(VideoOptions, {name: value for name, value in given.items() if value is not None},
                  where="the video options")
    frames = read_clip(Path(clip), fps=video.fps)
    options = resolve_clip_run(settings, frames, where="the form", registry=backend.registry).options
    target = claim_run_dir(backend.output_dir, VIDEO_RUN_NAME, overwrite=False) / f"{Path(clip).stem}-stylized.mp4"
    flag = backend.flags.begin(session)
    started = time.monotonic()

    def on_frame(done: int, total: int) -> bool:
        worker.post((done, total))
        return flag.is_set()

    def work() -> VideoOutput:
        return stylize_clip(frames, [Path(style) for style in options.style], options, video, target,
                            registry=backend.registry, device=backend.device, on_frame=on_frame)

    worker = Worker(work, name="siayn-gui-video")
    try:
        yield Update(image=None, status=f"Preparing {len(frames.frames)} frames…")
        for finished, payload in worker.messages():
            if finished:
                yield finished_video_update(payload, time.monotonic() - started)
                return
            done, total = payload
            yield frame_update(target, done, total, time.monotonic() - started, stopping=flag.is_set())
    finally:
        flag.set()
        backend.flags.end(session, flag)


def frame_update(target: Path, done: int, total: int, elapsed: float, *, stopping: bool) -> Update:
    """The page while a clip runs: its newest frame, and frames done, time and time left."""
    from ..video.clip import frames_dir_for
    from ..video.shots import stylized_frame

    status = ("Stopping after this frame… " if stopping else "") + progress_text(done, total, elapsed, unit="Frame")
    newest = stylized_frame(frames_dir_for(target), done - 1) if done else None
    return Update(image=newest, status=status, progress=done / max(1, total))


def finished_video_update(output: VideoOutput, seconds: float) -> Update:
    """The last update of a clip's run: the mp4, the clip's postprocessed files and ``run.json``."""
    from ..video.shots import stylized_frame

    last = stylized_frame(output.frames_dir, output.frames - 1) if output.frames else None
    if output.video is None:
        return Update(image=last, status=f"**Stopped** after {output.frames} of {output.total} frames.  \n"
                      f"Its frames are in `{output.frames_dir}`.", progress=output.frames / max(1, output.total),
                      files=(output.metadata,), done=True)
    status = (f"**Finished** {output.total} frames in {seconds:.1f} s at {output.fps:.3g} fps.  \n"
              f"Saved in `{output.video.parent}`.")
    results = [(last, "last frame"), *((path, path.name) for path in output.processed)] if last else []
    return Update(image=last, status=status, progress=1.0, files=(output.video, *output.processed, output.metadata),
                  results=tuple(results), done=True)
