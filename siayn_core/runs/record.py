"""``run.json``: the only code that knows its format, for a stylize run and a clip alike.

Both records share their top-level fields where they mean the same thing: ``kind``
(``"stylize"`` or ``"video"``), ``config`` (every setting, resolved, with the ``seed``),
``output``, ``postprocessed``, ``size``, ``seconds``, ``device``, ``precision`` (what the
backbone ran in), ``steps``, ``seed``, ``components`` and ``versions``. A stylize run adds
its ``run`` name, ``source`` config, ``frames`` folder, ``stopped`` flag and per-step
``losses`` (and, when it applies, ``resumed_from``, ``diverged``/``error`` or
``interrupted``). A clip adds its ``video`` settings, ``fps``, ``frame_count``, ``shots``
and, once finished, ``frames``: each frame's entry from its shot's record; its ``seconds``
and ``steps`` are its frames' sums, its ``device`` and ``precision`` its frames' (each
named once), and its ``config.content`` is the clip.

:func:`stylize_record` and :func:`video_record` build the records, :func:`write_record`
writes one, :func:`read_record` reads one back and :func:`mark_record` adds fields to a
written one.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..io.json_files import write_json
from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    from ..config.schema import RunSpec, StylizeOptions
    from ..engine.outcomes import StylizeResult

#: A run's record, in its folder.
RUN_FILE = "run.json"


class WrittenRun(Protocol):
    """What :func:`stylize_record` reads of the files a stylize run wrote
    (:class:`~siayn_core.runs.folder.RunOutput`)."""

    @property
    def image(self) -> Path: ...

    @property
    def result(self) -> StylizeResult: ...

    @property
    def processed(self) -> Sequence[Path]: ...

    @property
    def frames(self) -> Path | None: ...


def stylize_record(
    spec: RunSpec, output: WrittenRun, *, resumed_from: int | None = None, diverged: str | None = None
) -> dict[str, Any]:
    """A stylize run's ``run.json``: the resolved config, the files, timings and losses.

    :param resumed_from: the steps taken before a resumed run went on.
    :param diverged: the message of a run stopped by a diverging loss.
    """
    result = output.result
    config = dataclasses.asdict(spec.options)
    # Absolute, so that `--resume` finds the images from any working directory.
    config["content"] = str(spec.content.resolve())
    config["style"] = [str(path.resolve()) for path in spec.styles]
    if spec.masks:
        config["style_masks"] = [str(path.resolve()) for path in spec.masks]
    for key in ("content_mask", "fine_style"):
        if getattr(spec, key) is not None:
            config[key] = str(getattr(spec, key).resolve())
    config["seed"] = result.seed
    record: dict[str, Any] = {
        "kind": "stylize",
        "run": spec.name,
        "source": str(spec.source) if spec.source else None,
        "config": config,
        "output": str(output.image),
        "postprocessed": [str(path) for path in output.processed],
        "frames": str(output.frames) if output.frames else None,
        "size": [int(result.image.shape[-1]), int(result.image.shape[-2])],
        "seconds": round(result.seconds, 3),
        "device": result.device,
        "precision": result.precision,
        "steps": result.steps,
        "stopped": result.stopped,
        "seed": result.seed,
        "components": result.components,
        "losses": result.losses,
        "versions": library_versions(),
    }
    if resumed_from is not None:
        record["resumed_from"] = resumed_from
    if diverged is not None:
        record.update(diverged=True, error=diverged)
    return record


def video_settings(
    *,
    clip: Path,
    styles: Sequence[Path],
    options: StylizeOptions,
    video: Mapping[str, Any],
    fps: float,
    size: Sequence[int],
) -> dict[str, Any]:
    """What makes a clip's run that run: the clip, the styles and every setting but the seed.
    The same command goes on with a run folder whose record has the same (:func:`continues_video`)."""
    config = dataclasses.asdict(options)
    config["content"] = str(clip.resolve())
    config["style"] = [str(path.resolve()) for path in styles]
    del config["seed"]  # the record's own: drawn once, kept by a run that goes on
    # JSON's own types (lists for tuples), so that a record read back compares equal.
    return json.loads(json.dumps({"config": config, "video": dict(video), "fps": fps, "size": list(size)}))


def continues_video(record: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """Whether ``record`` (a ``run.json`` read back) is of a clip's run with these
    :func:`video_settings`, whatever its seed."""
    config = record.get("config")
    if record.get("kind") != "video" or not isinstance(config, Mapping):
        return False
    earlier = {**record, "config": {key: value for key, value in config.items() if key != "seed"}}
    return all(earlier.get(key) == value for key, value in settings.items())


def video_record(
    settings: Mapping[str, Any],
    *,
    seed: int,
    frame_count: int,
    shots: Sequence[Sequence[int]],
    components: Mapping[str, Any],
    frames: Sequence[Mapping[str, Any]] = (),
    output: Path | None = None,
    processed: Sequence[Path] = (),
) -> dict[str, Any]:
    """A clip's ``run.json``: its :func:`video_settings`, seed and shots and, once finished,
    its mp4 (``output``), every frame's entry and the files its postprocessors wrote.

    :param frames: each frame's entry from its shot's record, with its ``seconds``, ``steps``,
        ``device`` and ``precision``.
    """
    devices = dict.fromkeys(str(frame["device"]) for frame in frames if frame.get("device"))
    precisions = dict.fromkeys(str(frame["precision"]) for frame in frames if frame.get("precision"))
    return {
        "kind": "video",
        **settings,
        "config": {**settings["config"], "seed": seed},
        "frame_count": frame_count,
        "shots": [[int(shot[0]), int(shot[1])] for shot in shots],
        "output": str(output) if output else None,
        "postprocessed": [str(path) for path in processed],
        "frames": [dict(frame) for frame in frames],
        "seconds": round(sum(float(frame.get("seconds") or 0.0) for frame in frames), 3),
        "device": ", ".join(devices) or None,
        "precision": ", ".join(precisions) or None,
        "steps": sum(int(frame.get("steps") or 0) for frame in frames),
        "seed": seed,
        "components": dict(components),
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    """Versions of SIAYN, Python and the libraries a result depends on."""
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for distribution in ("siayn", "torch", "torchvision", "pillow", "numpy"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions


def write_record(record: Mapping[str, Any], run_json: Path) -> Path:
    """Write a record built here to ``run_json``, atomically."""
    return write_json(record, run_json)


def read_record(run_json: Path) -> dict[str, Any]:
    """A ``run.json`` as a dict, or SiaynError saying why it cannot be read."""
    try:
        record = json.loads(run_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiaynError(f"no run.json in {run_json.parent}: not the folder of a stylize run") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SiaynError(f"cannot read {run_json}: {error}") from None
    if not isinstance(record, dict):
        raise SiaynError(f"cannot read {run_json}: expected a JSON object")
    return record


def mark_record(run_json: Path, **fields: Any) -> dict[str, Any]:
    """Add ``fields`` to a written ``run.json`` (atomically); returns the new record."""
    record = {**read_record(run_json), **fields}
    write_record(record, run_json)
    return record
