"""Resuming a stylize run from what its folder holds (``siayn stylize --resume DIR``).

A run stopped by Ctrl-C or SIGTERM (``"interrupted": true``) or by a diverging loss
(``"diverged": true``) keeps its last image and a ``run.json`` with the resolved config, the
seed and the loss of every step taken. Resuming reads them back and goes on from the next
step: the same settings, the same seed, the step numbers (and frame names) running on, the
multi-scale schedule continuing at the stage that step belongs to. The new result replaces
the run's image and ``run.json`` in the same folder.

What is not kept: the optimizer's state. L-BFGS rebuilds its curvature history and Adam
its moment estimates from the saved image, so the first steps after resuming differ
slightly from an uninterrupted run (a resumed run is not bit-identical to one that never
stopped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import RunSpec, apply_overrides, build_options, check_components, overridden_keys
from .configfile import expand_user, parse_overrides, resolve_file
from .errors import SiaynError
from .image_io import read_image
from .interrupts import read_record

if TYPE_CHECKING:
    from PIL import Image

    from .registry import Registry


@dataclass(frozen=True)
class ResumePoint:
    """Where a saved run stopped.

    :param run_dir: the run's folder; the resumed run writes its files there.
    :param spec: the run as it was configured (with any ``--set`` overrides applied).
    :param image: the image saved when the run stopped.
    :param steps_done: the steps taken before it stopped.
    :param losses: the per-step loss records of those steps, from ``run.json``.
    """

    run_dir: Path
    spec: RunSpec
    image: Image.Image
    image_path: Path
    steps_done: int
    losses: list[dict[str, float]]


def load_resume_point(
    run_dir: str | Path,
    *,
    registry: Registry,
    overrides: Mapping[str, Any] | Sequence[str] = (),
) -> ResumePoint:
    """Read a stopped run's folder, or raise SiaynError saying why it cannot be resumed.

    :param overrides: ``--set`` values changing a setting for the rest of the run (a lower
        ``lr`` after a diverged run, more ``num_steps``).
    """
    run_dir = expand_user(run_dir)
    if not run_dir.is_dir():
        raise SiaynError(f"cannot resume {run_dir}: " + ("not a folder" if run_dir.exists() else "folder not found"))
    run_json = run_dir / "run.json"
    record = read_record(run_json)
    config, steps, losses = record.get("config"), record.get("steps"), record.get("losses")
    if not isinstance(config, Mapping) or not isinstance(steps, int) or not isinstance(losses, list):
        raise SiaynError(f"cannot resume from {run_json}: it lacks the run's config, steps or losses")
    name = str(record.get("run") or run_dir.name)
    where = f"run {name!r} in {run_json}"
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    options = build_options(
        apply_overrides(config, overrides), where=where, from_command_line=overridden_keys(overrides)
    )
    if steps >= options.num_steps:
        raise SiaynError(
            f"{where} has taken all its {options.num_steps} steps: nothing to resume "
            f"(add --set num_steps=N with N above {steps} to go on)"
        )
    content = resolve_file(options.content, (), what=f"content image of {where}")
    styles = tuple(resolve_file(style, (), what=f"style image of {where}") for style in options.style)
    source = Path(record["source"]) if isinstance(record.get("source"), str) else None
    spec = RunSpec(name=name, options=options, content=content, styles=styles, source=source)
    check_components(options, registry, where=where)
    # The image sits in the run's folder, wherever that folder was moved since.
    image_path = run_dir / Path(str(record.get("output") or "")).name
    if not image_path.is_file():
        raise SiaynError(f"cannot resume {where}: its image {image_path} is missing")
    return ResumePoint(
        run_dir=run_dir,
        spec=spec,
        image=read_image(image_path),
        image_path=image_path,
        steps_done=steps,
        losses=losses,
    )
