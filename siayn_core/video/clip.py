"""Stylizing a clip without flicker (Ruder et al., "Artistic style transfer for videos",
GCPR 2016): the clip is cut into shots, and each shot's frames are stylized one after
another, each starting from the previous one warped by the optical flow
(:mod:`siayn_core.video.shots`).

A clip's run folder (``<OUT>.frames/``) holds the clip's frames at the output size
(``input/``), the stylized frames (``frames/``), each shot's record (``shots/``) and
``run.json`` (the clip, the settings, the seed, the shots and, once finished, every frame's
seconds and losses; written and read by :mod:`siayn_core.runs.record`, which knows its
format). The same command again goes on from each shot's last finished frame;
frame ``i``'s seed is the clip's seed plus ``i`` and each frame starts from the saved 8-bit
previous frame, so a resumed clip has the same frames as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin.errors import SiaynError
from ..runs.record import RUN_FILE, continues_video, read_record, video_record, video_settings, write_record
from .options import VideoOptions
from .shots import INPUT_DIR, ShotJob, find_shots, frame_name, run_shot, stylized_frame

if TYPE_CHECKING:
    from ..batch.jobs import Executor, JobOutcome
    from ..config.schema import RunSpec, StylizeOptions
    from ..host.registry import Registry
    from ..io.clips import Clip


@dataclass(frozen=True)
class VideoOutput:
    """What :func:`stylize_clip` wrote: the mp4 (None when stopped early), the frames' folder,
    its ``run.json``, the frames finished, the frames in all, the frame rate and the files
    the clip's postprocessors wrote."""

    video: Path | None
    frames_dir: Path
    metadata: Path
    frames: int
    total: int
    fps: float
    processed: tuple[Path, ...] = ()


def default_clip_size(clip: Clip) -> int:
    """The longer side of a clip's output without ``size``: its own, capped as a photo's is
    (``DEFAULT_PHOTO_SIZE``)."""
    from ..config.loader import DEFAULT_PHOTO_SIZE

    return min(DEFAULT_PHOTO_SIZE, max(clip.frames[0].size))


def resolve_clip_run(
    settings: Mapping[str, Any], clip: Clip, *, where: str, registry: Registry,
    from_command_line: Collection[str] = (),
) -> RunSpec:
    """A clip's stylize settings through the one resolver, the clip's first frame in the
    photo's place: the options validated, the styles decoded, the frames' output size computed
    and checked against the pixel limit, the components checked. Without ``size``, the longer
    side is :func:`default_clip_size`."""
    from ..config.resolve import ImageReader, resolve_run

    reader = ImageReader()
    first_frame = Path(f"<first frame of {clip.source.name}>")
    reader.supply(first_frame, clip.frames[0])
    settings = {**settings, "content": str(first_frame)}
    settings["size"] = settings.get("size") or default_clip_size(clip)
    return resolve_run("video", settings, where=where, registry=registry, reader=reader,
                       from_command_line=from_command_line)


def frames_dir_for(target: Path) -> Path:
    """``out/clip.mp4`` -> ``out/clip.frames``: where the clip's frames and run.json live."""
    return target.with_suffix(".frames")


def stylize_clip(
    clip: Clip,
    styles: Sequence[Path],
    options: StylizeOptions,
    video: VideoOptions,
    target: Path,
    *,
    registry: Registry,
    executor: Executor | None = None,
    device: str = "auto",
    seed: int | None = None,
    plugins: tuple[str, ...] = (),
    threads: int | None = None,
    on_frame: Callable[[int, int], bool | None] | None = None,
) -> VideoOutput:
    """Stylize every frame of ``clip`` and write the mp4 ``target``, then apply
    ``options.postprocess`` once to the clip (a ``gif`` step animates its frames).

    :param executor: runs the shots (in parallel, on a cluster); None: one after another here.
    :param on_frame: called with (frames done, frames in all) as frames end (with an
        executor: as shots end); here, True stops after that frame (the next call goes on).
    :raises SiaynError: for a failed shot, or a frames folder holding another clip's run.
    """
    from ..engine.objective import component_record
    from ..io.images import output_size, read_image, resize, write_image
    from ..io.clips import write_mp4

    folder = frames_dir_for(target)
    run_json = folder / RUN_FILE
    size = output_size(clip.frames[0].size, longer_side=options.size, scale=options.scaler)
    settings = video_settings(clip=clip.source, styles=styles, options=options, video=dataclasses.asdict(video),
                              fps=clip.fps, size=size)
    components = component_record(options, registry)
    earlier = _resume_record(run_json, settings, target)
    if earlier is None:
        staged = [resize(frame, size) for frame in clip.frames]
        for index, frame in enumerate(staged):
            write_image(frame, folder / INPUT_DIR / frame_name(index))
        clip_seed = secrets.randbits(31) if seed is None else seed
        total, cuts = len(staged), [[shot.start, shot.stop] for shot in find_shots(staged, video.cut_threshold)]
        write_record(video_record(settings, seed=clip_seed, frame_count=total, shots=cuts, components=components),
                     run_json)
    else:
        clip_seed, total, cuts = int(earlier["seed"]), int(earlier["frame_count"]), earlier["shots"]
    shots = [ShotJob(name=f"shot {number}", folder=folder, first=first, stop=stop, styles=tuple(styles),
                     options=options, video=video, seed=clip_seed, device=device, plugins=plugins,
                     threads=threads) for number, (first, stop) in enumerate(cuts, start=1)]

    def frames_done() -> int:
        return sum(len(shot.finished()) for shot in shots)

    pending = [shot for shot in shots if len(shot.finished()) < shot.stop - shot.first]
    if executor is None:
        _run_here(pending, registry, lambda: bool(on_frame and on_frame(frames_done(), total)))
    else:
        _run_on(executor, pending, lambda: on_frame and on_frame(frames_done(), total))
    done = frames_done()
    if done < total:
        return VideoOutput(None, folder, run_json, done, total, clip.fps)
    frames = [read_image(stylized_frame(folder, index)) for index in range(total)]
    write_mp4(frames, clip.fps, target)
    entries = [entry for shot in shots for entry in shot.finished()]

    def finished_record(processed: Sequence[Path] = ()) -> dict[str, Any]:
        return video_record(settings, seed=clip_seed, frame_count=total, shots=cuts, components=components,
                            frames=entries, output=target.resolve(), processed=processed)

    # run.json is written with the mp4, then again with the postprocessed files, so a
    # clip stopped while postprocessing still has both.
    write_record(finished_record(), run_json)
    processed = _postprocess(frames[-1], options, folder, target, clip.fps, registry)
    if processed:
        write_record(finished_record(processed), run_json)
    return VideoOutput(target, folder, run_json, total, total, clip.fps, tuple(processed))


def _run_here(shots: Sequence[ShotJob], registry: Registry, after_frame: Callable[[], bool]) -> None:
    """The shots one after another in this process, until ``after_frame`` says stop."""
    stopped = False

    def frame_done(index: int) -> bool:
        nonlocal stopped
        stopped = after_frame()
        return stopped

    if not shots:
        return
    from ..engine.painter import Painters

    painters = Painters(registry, shots[0].device)
    for shot in shots:
        run_shot(shot, registry=registry, painters=painters, on_frame=frame_done)
        if stopped:
            return


def _run_on(executor: Executor, shots: Sequence[ShotJob], after_shot: Callable[[], object]) -> None:
    """The shots on ``executor``; SiaynError naming the failed ones once all have ended."""
    failed: list[JobOutcome] = []

    def report(outcome: JobOutcome) -> None:
        if outcome.status != "done":
            failed.append(outcome)
        after_shot()

    executor.run(shots, report)
    if failed:
        raise SiaynError("; ".join(f"{outcome.name} failed: {outcome.error}" for outcome in failed)
                         + " (the same command goes on from the frames done)")


def _postprocess(last: Any, options: StylizeOptions, folder: Path, target: Path, fps: float,
                 registry: Registry) -> list[Path]:
    """The clip's ``postprocess`` steps, once, on its last frame: images go to ``folder``,
    files (a GIF of ``frames/``) next to ``target``."""
    if not options.postprocess:
        return []
    from ..postprocess.chain import save_postprocessed
    from ..plugin.protocols import PostprocessContext

    context = PostprocessContext(run_dir=folder, output_dir=target.parent, frame_rate=fps)
    return save_postprocessed(last, options.postprocess, folder / f"{target.stem}.png",
                              registry=registry, context=context, where=f"the clip {target.name}")


def _resume_record(run_json: Path, settings: dict[str, Any], target: Path) -> dict[str, Any] | None:
    """The record of an unfinished run of the same clip and settings (:func:`video_settings`)
    in ``run_json``'s folder, to go on with; None for a fresh start. Refuses to overwrite a
    finished clip or another clip's frames."""
    folder = run_json.parent
    if not run_json.is_file():
        if target.exists():
            raise SiaynError(f"{target} exists: choose another output (-o) so that it is not overwritten")
        if folder.exists() and any(folder.iterdir()):
            raise SiaynError(f"{folder} holds files that are not a clip's run: choose another output (-o)")
        return None
    record = read_record(run_json)
    if not continues_video(record, settings):
        raise SiaynError(f"{folder} holds the frames of another clip or other settings: choose another output (-o)")
    if record.get("output") and target.exists():
        raise SiaynError(f"{target} is finished: choose another output (-o) for a new clip")
    return record
