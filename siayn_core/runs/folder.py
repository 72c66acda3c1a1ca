"""A stylize run's folder: the only code that knows its layout (its ``run.json`` format is
:mod:`siayn_core.runs.record`'s).

:func:`run_stylize` runs one :class:`~siayn_core.config.schema.RunSpec` through the engine and
writes ``<output>/<run>/<content>!-!<style>.png``, ``run.json`` and the frames; a run
stopped by a signal is marked ``"interrupted"`` (:func:`mark_record`) and one stopped by
Ctrl-C, SIGTERM or a diverging loss is resumed from its folder (:func:`load_resume_point`).

Resuming reads the resolved config, the seed and the loss of every step back from
``run.json`` and goes on from the next step: the same settings, the step numbers (and frame
names) running on, the multi-scale schedule continuing at the stage that step belongs to.
The optimizer's state is not kept: L-BFGS rebuilds its curvature history and Adam its
moment estimates from the saved image, so a resumed run is not bit-identical to one that
never stopped.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.schema import RunSpec

from ..config.files import expand_user, parse_overrides
from ..config.loader import apply_overrides, overridden_keys
from ..config.resolve import ImageReader, resolve_run, with_pictures
from ..engine.painter import Painters, stylize
from ..engine.outcomes import Callback, DivergedError, Iterate, StylizeResult, chain
from ..plugin.errors import SiaynError
from ..io.images import read_image, resize, to_pil, write_image
from .record import RUN_FILE, read_record, stylize_record, write_record

if TYPE_CHECKING:
    from PIL import Image

    from ..host.registry import Registry

#: Joins the content and style names in a result's file name, as the original SIAYN did.
NAME_SEPARATOR = "!-!"


@dataclass(frozen=True)
class RunOutput:
    """The files :func:`run_stylize` wrote.

    :param run_dir: ``<output>/<run>`` (or ``<output>/<run>-2``... when that was taken).
    :param image: the stylized image, before any postprocessing.
    :param metadata: ``run.json``.
    :param processed: the postprocessed images, in the order of the run's ``postprocess`` list.
    :param frames: the folder of intermediate frames, when ``save_every`` is set.
    """

    run: str
    run_dir: Path
    image: Path
    metadata: Path
    result: StylizeResult
    processed: list[Path] = field(default_factory=list)
    frames: Path | None = None


def result_stem(content: Path, styles: Sequence[Path]) -> str:
    """``<content>!-!<style1>+<style2>``: the original SIAYN's result name, several styles joined by ``+``."""
    return f"{content.stem}{NAME_SEPARATOR}{'+'.join(style.stem for style in styles)}"


def claim_run_dir(output_dir: Path, name: str, *, overwrite: bool) -> Path:
    """The folder for a run's files: ``<output>/<name>``, or ``<name>-2``, ``-3``... when it
    already holds files, so no earlier result is replaced (unless ``overwrite``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    candidate, number = output_dir / name, 1
    while True:
        if overwrite and number == 1:
            candidate.mkdir(exist_ok=True)
            return candidate
        try:
            candidate.mkdir()  # atomic: two processes never claim the same folder
            return candidate
        except FileExistsError:
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate
        number += 1
        candidate = output_dir / f"{name}-{number}"


class FrameWriter:
    """A callback saving the image every ``every`` steps (and at the last) as
    ``frame_<step>.png``, zero-padded so that names sort in step order."""

    def __init__(
        self, directory: Path, every: int, num_steps: int, size: tuple[int, int] | None = None, *, fresh: bool = True
    ) -> None:
        self.directory = directory
        self.every = every
        self.size = size  # frames of coarse multi-scale stages are enlarged to the output size
        self.width = max(4, len(str(num_steps)))
        if fresh and directory.is_dir():  # an overwritten run: old frames would mix into the new GIF
            shutil.rmtree(directory)

    def __call__(self, iterate: Iterate) -> None:
        if iterate.step % self.every == 0 or iterate.step == iterate.num_steps:
            # write_image creates the folder with the first frame
            frame = to_pil(iterate.image)
            if self.size is not None and frame.size != self.size:
                frame = resize(frame, self.size)
            write_image(frame, self.directory / f"frame_{iterate.step:0{self.width}d}.png")



def run_stylize(
    spec: RunSpec,
    *,
    registry: Registry,
    output_dir: str | Path,
    device: str = "auto",
    seed: int | None = None,
    callback: Callback | None = None,
    overwrite: bool = False,
    resume: ResumePoint | None = None,
    painters: Painters | None = None,
) -> RunOutput:
    """Run one config run and write its files under ``output_dir``.

    Writes ``<output>/<run>/<content>!-!<style>.png``, ``run.json`` and, with
    ``save_every``, ``frames/frame_<step>.png``. An existing run folder is never reused:
    the next free ``<run>-2``, ``<run>-3``... is taken instead, unless ``overwrite``.

    :param callback: called after every step (a progress bar, a GUI preview); True stops the run.
    :param resume: go on with a stopped run (:func:`load_resume_point`) in its own folder,
        from its saved image and step; ``spec`` and ``output_dir`` are then ignored.
    :param painters: built components to reuse across runs (the GUI's, a batch worker's);
        by default they are built for this run.
    :raises DivergedError: after saving the last image with a finite loss and ``run.json``
        (marked ``"diverged": true``).
    """
    if resume is not None:
        spec = resume.spec
    options = spec.options
    spec = with_pictures(spec)
    pictures = spec.pictures
    assert pictures is not None
    run_dir = resume.run_dir if resume else claim_run_dir(Path(output_dir), spec.name, overwrite=overwrite)
    image_path = resume.image_path if resume else run_dir / f"{result_stem(spec.content, spec.styles)}.png"
    frames = (
        FrameWriter(run_dir / "frames", options.save_every, options.num_steps, spec.size, fresh=resume is None)
        if options.save_every
        else None
    )
    try:
        result = stylize(
            pictures.content,
            pictures.styles,
            options,
            registry=registry,
            device=device,
            seed=seed,
            callback=chain([frames, callback]),
            start=resume.image if resume else None,
            steps_done=resume.steps_done if resume else 0,
            masks=pictures.masks,
            content_mask=pictures.content_mask,
            fine_style=pictures.fine_style,
            painter=None if painters is None else painters.for_options(options),
        )
    except DivergedError as error:
        if error.result is None:
            with suppress(OSError):
                run_dir.rmdir()
            raise
        saved = _save(spec, run_dir, image_path, frames, error.result, resume, diverged=str(error))
        raise DivergedError(
            f"{error}; kept the image of step {error.result.steps} (the last with a finite loss): "
            f"{saved.image}",
            error.result,
            loss=error.loss,
            step=error.step,
        ) from None
    except BaseException:
        with suppress(OSError):
            run_dir.rmdir()  # only if the failed run left it empty: the next run may use it
        raise
    output = _save(spec, run_dir, image_path, frames, result, resume)
    # run.json is written with the image, then again with the postprocessed files, so a
    # run killed while postprocessing still has both.
    output = dataclasses.replace(
        output, processed=postprocess_result(to_pil(result.image), spec, image_path, registry=registry)
    )
    if output.processed:
        write_record(stylize_record(spec, output, resumed_from=resume.steps_done if resume else None),
                     output.metadata)
    return output


def _save(
    spec: RunSpec,
    run_dir: Path,
    image_path: Path,
    frames: FrameWriter | None,
    result: StylizeResult,
    resume: ResumePoint | None,
    *,
    diverged: str | None = None,
) -> RunOutput:
    """Write a run's image and run.json (atomically); a resumed run's losses include the
    steps taken before it stopped."""
    if resume is not None:
        result.losses = [*resume.losses, *result.losses]
        result.steps = len(result.losses)
    write_image(to_pil(result.image), image_path)
    output = RunOutput(
        run=spec.name,
        run_dir=run_dir,
        image=image_path,
        metadata=run_dir / RUN_FILE,
        result=result,
        frames=frames.directory if frames else None,
    )
    record = stylize_record(spec, output, resumed_from=resume.steps_done if resume else None, diverged=diverged)
    write_record(record, output.metadata)
    return output


def postprocess_result(image: Image.Image, spec: RunSpec, image_path: Path, *, registry: Registry) -> list[Path]:
    """Apply the run's ``postprocess`` list; each step's image is saved next to the
    unprocessed one as ``<name>.<step>[.<step>...].png``. Returns every file written."""
    if not spec.options.postprocess:
        return []
    from ..postprocess.chain import save_postprocessed, search_dirs
    from ..plugin.protocols import PostprocessContext

    run_dir = image_path.parent
    context = PostprocessContext(
        content=spec.content,
        styles=spec.styles,
        run_dir=run_dir,
        output_dir=run_dir,
        search_dirs=search_dirs(spec.source),
    )
    return save_postprocessed(image, spec.options.postprocess, image_path, registry=registry, context=context,
                              where=spec.where)


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
    run_json = run_dir / RUN_FILE
    record = read_record(run_json)
    if record.get("kind") == "video":
        raise SiaynError(f"cannot resume {run_dir}: it holds a clip's frames; the same `siayn video` command goes on")
    config, steps, losses = record.get("config"), record.get("steps"), record.get("losses")
    if not isinstance(config, Mapping) or not isinstance(steps, int) or not isinstance(losses, list):
        raise SiaynError(f"cannot resume from {run_json}: it lacks the run's config, steps or losses")
    name = str(record.get("run") or run_dir.name)
    where = f"run {name!r} in {run_json}"
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    source = Path(record["source"]) if isinstance(record.get("source"), str) else None
    spec = resolve_run(name, apply_overrides(config, overrides), where=where, registry=registry,
                       reader=ImageReader(), config_file=source, from_command_line=overridden_keys(overrides))
    if steps >= spec.options.num_steps:
        raise SiaynError(
            f"{where} has taken all its {spec.options.num_steps} steps: nothing to resume "
            f"(add --set num_steps=N with N above {steps} to go on)"
        )
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
