"""``siayn video``: a stylized clip without flicker."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from ..engine.devices import DEVICES
from ..plugin.errors import SiaynError
from ..config.checks import check_writable_dir, pixel_limit
from .common import EXIT_INTERRUPTED, load_host, plugin_option
from .progress import CountBar


@click.command()
@click.argument("clip", required=False, type=click.Path(path_type=Path), metavar="IN")
@click.argument("styles", nargs=-1, type=click.Path(path_type=Path), metavar="STYLE...")
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="A video config (YAML): a 'video:' mapping (input, output, temporal_weight, ...) beside the "
              "frames' stylize options; IN, STYLE... and the options here win over it.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, metavar="OUT.mp4",
              help="The stylized clip; its frames and run.json go to OUT.frames/. Default: IN's name + -stylized.mp4.")
@click.option("--size", type=click.IntRange(min=16), default=None, metavar="PX",
              help="Longer side of the frames in px (default: the clip's, capped at 256 px).")
@click.option("--fps", type=click.FloatRange(min=0.1), default=None, metavar="F",
              help="Frame rate of the output (default: the clip's; 24 for a folder of frames).")
@click.option("--temporal-weight", type=click.FloatRange(min=0), default=None, metavar="W",
              help="How strongly each frame keeps the previous one where the flow holds (default 2e4).")
@click.option("--later-steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Steps of each frame after a shot's first (default: half of num_steps).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A stylize option for every frame, e.g. --set num_steps=100, or a video option, "
              "e.g. --set video.cut_threshold=null (repeatable).")
@click.option("--post", "post_steps", multiple=True, metavar="NAME",
              help="Apply postprocessor NAME to the finished clip, e.g. --post gif (repeatable).")
@click.option("--executor", "-e", default=None, metavar="NAME",
              help="Run the clip's shots in parallel on an executor (local, ray, a plugin's); "
              "default: one after another here.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="local: N shots at once in worker processes; ray: the local Ray runtime's CPUs.")
@click.option("--device", type=click.Choice(DEVICES, case_sensitive=False), default="auto", show_default=True)
@click.option("--seed", type=int, default=None, help="Random seed of the first frame (frame i: seed + i).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the output path.")
@plugin_option
def video(clip: Path | None, styles: tuple[Path, ...], config_path: Path | None, output: Path | None,
          size: int | None, fps: float | None, temporal_weight: float | None, later_steps: int | None,
          overrides: tuple[str, ...], post_steps: tuple[str, ...], executor: str | None, workers: int | None,
          device: str, seed: int | None, quiet: bool, plugins: tuple[str, ...]) -> None:
    """Stylize the clip IN (an mp4 or other video file, a GIF, or a folder of frames) in the
    style of STYLE... without flicker: each frame starts from the previous stylized frame
    warped by the optical flow and keeps it where the flow holds (Ruder et al. 2016). A new
    shot (a scene cut) starts afresh, so shots can run in parallel (--executor).

    Stopped (Ctrl-C), the same command goes on from the last finished frame.
    """
    from ..config.loader import apply_overrides, check_override_keys, overridden_keys
    from ..config.files import parse_overrides
    from ..runs.interrupts import StopOnSignal
    from ..plugin.options import build
    from ..video.clip import resolve_clip_run, stylize_clip
    from ..io.clips import read_clip
    from ..video.options import VideoConfig, VideoOptions, read_video_config

    config = read_video_config(config_path) if config_path else VideoConfig(None, None, {}, {}, [])
    clip = clip or config.clip
    style_paths = list(styles) or config.styles
    if clip is None or not style_paths:
        raise SiaynError("siayn video needs a clip and a style: siayn video IN STYLE... (or a config naming them)")
    target = output or config.output or clip.with_name(f"{clip.stem}-stylized.mp4")
    if target.suffix.lower() != ".mp4":
        raise SiaynError(f"--output {target}: siayn video writes an mp4 (OUT.mp4); --post gif adds a GIF")
    parsed = parse_overrides(overrides)
    video_overrides = {key.removeprefix("video."): value for key, value in parsed.items() if key.startswith("video.")}
    parsed = {key: value for key, value in parsed.items() if not key.startswith("video.")}
    check_override_keys(parsed)
    with pixel_limit(None):
        check_writable_dir(target.parent if str(target.parent) else Path("."))
        given = {**config.video, **video_overrides, **{key: value for key, value in
                 (("temporal_weight", temporal_weight), ("later_steps", later_steps), ("fps", fps))
                 if value is not None}}
        video_options = build(VideoOptions, given, where="siayn video")
        frames = read_clip(clip, fps=video_options.fps)
        settings: dict[str, Any] = {**config.settings, "style": [str(path) for path in style_paths]}
        settings["size"] = size or settings.get("size")
        if post_steps:
            settings["postprocess"] = [*(settings.get("postprocess") or []), *post_steps]
        host = load_host(plugins)
        spec = resolve_clip_run(apply_overrides(settings, parsed), frames, where="siayn video",
                                registry=host.registry, from_command_line=overridden_keys(parsed))
        options = spec.options
        runner = None
        if executor is not None or workers is not None:
            runner = host.registry.create("executor", executor or "local",
                                          {} if workers is None else {"workers": workers})
        with ExitStack() as stack:
            # Here a signal stops after the current frame; an executor's shots stop at once.
            stop = stack.enter_context(StopOnSignal(after="frame")) if runner is None else None
            bar = None if quiet else stack.enter_context(CountBar("frames", len(frames.frames)))

            def frame_done(done: int, total: int) -> bool:
                if bar is not None:
                    bar.update(done)
                return stop is not None and stop.triggered

            result = stylize_clip(frames, style_paths, options, video_options, target, registry=host.registry,
                                  executor=runner, device=device, seed=seed, plugins=plugins, on_frame=frame_done)
    if result.video is None:
        click.echo(f"siayn: stopped after {result.frames} of {result.total} frames; the same command goes on "
                   f"from there ({result.frames_dir})", err=True)
        sys.exit(EXIT_INTERRUPTED)
    click.echo(str(result.video))
    for path in result.processed:
        click.echo(str(path))
