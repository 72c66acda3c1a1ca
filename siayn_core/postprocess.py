"""Running postprocessors: after a stylize run (its ``postprocess:`` list, ``--post NAME``)
and standalone (``siayn postprocess``, which reads the original SIAYN's postprocessing config format).

A step is a postprocessor name with its options: ``"denoise"`` or
``{"name": "denoise", "strength": 5}``. Steps are chained: each one processes the previous
one's result.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from .configfile import expand_user, load_runs, resolve_file, select_runs
from .errors import SiaynError
from .options import build, option
from .protocols import PostprocessContext, Postprocessor
from .registry import Registry
from .image_io import IMAGE_SUFFIXES
from .resources import POSTPROCESS_CONFIG_NAME, bundled_config, examples_dir

KIND = "postprocessor"

#: Files :func:`image_files` picks up (GIFs are left out: they are outputs, not frames).
FRAME_SUFFIXES = IMAGE_SUFFIXES - {".gif"}

# --- steps ----------------------------------------------------------------------------------


def parse_steps(steps: Sequence[Any], *, where: str = "postprocess") -> list[tuple[str, dict[str, Any]]]:
    """``["denoise", {"name": "mask", "feather": 3}]`` -> ``[("denoise", {}), ("mask", {...})]``.

    :param where: names the owner in error messages, e.g. ``run 'test1' in cfg.yaml``.
    """
    if isinstance(steps, (str, Mapping)):
        steps = [steps]
    parsed = []
    for number, step in enumerate(steps, start=1):
        if isinstance(step, str) and step.strip():
            parsed.append((step.strip(), {}))
        elif isinstance(step, Mapping) and isinstance(step.get("name"), str) and step["name"].strip():
            options = {str(key): value for key, value in step.items() if key != "name"}
            parsed.append((step["name"].strip(), options))
        else:
            raise SiaynError(
                f"postprocess step {number} of {where} must be a postprocessor name or a mapping "
                f"with 'name' and its options, got {step!r}"
            )
    return parsed


def build_postprocessors(
    steps: Sequence[Any], *, registry: Registry, where: str = "postprocess"
) -> list[tuple[str, Postprocessor]]:
    """Create every step's postprocessor, validating names and options before any work.

    :returns: ``(component name, postprocessor)`` pairs, in order.
    """
    built = []
    for name, options in parse_steps(steps, where=where):
        try:
            component = registry.get(KIND, name)
            built.append((component.name, registry.create(KIND, name, options)))
        except SiaynError as error:
            raise SiaynError(f"{error} (in {where})") from None
    return built


def apply_postprocessors(
    image: Image.Image,
    steps: Sequence[Any],
    *,
    registry: Registry,
    context: PostprocessContext,
    where: str = "postprocess",
) -> list[tuple[str, Image.Image]]:
    """Apply ``steps`` in order to ``image``, each to the previous step's result.

    :param steps: names or ``{"name": ..., **options}`` mappings (see :func:`parse_steps`).
    :param context: what the postprocessors may need (content and style paths, run folder,
        output folder, folders to look up file names in); files they write besides
        images are appended to ``context.files``.
    :returns: ``(component name, image after that step)`` for each step that made an image;
        a step that only writes a file (``gif``) returns its input and is left out.
    """
    results: list[tuple[str, Image.Image]] = []
    current = image.convert("RGB")
    for name, postprocessor in build_postprocessors(steps, registry=registry, where=where):
        processed = postprocessor(current, context)
        if processed is current:
            continue
        if not isinstance(processed, Image.Image):
            raise TypeError(f"postprocessor {name!r} returned {type(processed).__name__}, not a PIL image")
        current = processed.convert("RGB")
        results.append((name, current))
    return results


# --- files ----------------------------------------------------------------------------------


def unique_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if no file is there yet, else the first free ``stem-2.ext``, ``stem-3.ext``..."""
    path = Path(path)
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate


def step_output_path(source: Path, step_names: Sequence[str], directory: Path | None = None) -> Path:
    """Where a result of ``source`` goes: ``<dir>/<stem>.<step>[.<step>...].png``, numbered
    if taken (nothing is overwritten)."""
    directory = source.parent if directory is None else directory
    return unique_path(directory / f"{source.stem}.{'.'.join(step_names)}.png")


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


def search_dirs(config_path: Path | None) -> tuple[Path, ...]:
    """Where bare file names in a config are looked up after the working directory: the
    config's folder, its ``data/content`` and ``data/style`` (the original SIAYN's layout), then the
    bundled examples."""
    dirs: list[Path] = []
    if config_path is not None:
        base = config_path.resolve().parent
        dirs += [base, base / "data" / "content", base / "data" / "style"]
    dirs.append(examples_dir())
    return tuple(dirs)


# --- the original SIAYN's postprocessing config -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PostprocessRunOptions:
    """One run of a postprocessing config: the original SIAYN's keys, plus ``image``/``postprocess``
    (any chain of postprocessors, third-party ones included) and ``output``."""

    use_denoise: bool = option(False, help="denoise 'img_path' with OpenCV non-local means")
    p3: int | None = option(None, help="denoise: template patch size in pixels (empty: 7)", minimum=1)
    p4: int | None = option(None, help="denoise: search window size in pixels (empty: 21)", minimum=1)
    p5: float | None = option(None, help="denoise: filter strength for luminance (empty: 7)", minimum=0)
    p6: float | None = option(None, help="denoise: filter strength for colour (empty: 15)", minimum=0)
    img_path: str | None = option(None, help="denoise: the image to denoise")
    use_mask: bool = option(False, help="keep the style of 'styled' only where 'mask' is white")
    mask: str | None = option(
        None, help="mask: mask image, white = styled (empty: made from 'content' with GrabCut)"
    )
    content: str | None = option(None, help="mask: the content image 'styled' was made from")
    styled: str | None = option(None, help="mask: the stylized image")
    use_histogram: bool = option(False, help="match the colour histogram of 'source' to 'target'")
    source: str | None = option(None, help="histogram: the image to recolour")
    target: str | None = option(None, help="histogram: the image whose histogram to match")
    use_mask_creation: bool = option(False, help="make a foreground mask of 'p_image' (GrabCut)")
    p_image: str | None = option(None, help="mask creation: the image to segment")
    scaler: float | None = option(
        None, help="mask creation: scale factor of the image and mask (empty: 1)", minimum=0.01
    )
    use_gif_creation: bool = option(False, help="make a GIF of the images in folder 'path'")
    path: str | None = option(None, help="gif: the folder of frames; the GIF is written there")
    out_name: str | None = option(None, help="gif: file name without '.gif' (empty: transformation)")
    fps: float | None = option(None, help="gif: frames per second (empty: 5)", minimum=0.1)
    image: str | None = option(None, help="the image the 'postprocess' list is applied to")
    postprocess: list[Any] = option(
        [], help="postprocessors applied in order to 'image', each a name or {name: ..., options}; "
        "'content' and 'target' are their content and style images"
    )
    output: str | None = option(
        None, help="folder for every result of this run (empty: next to each input)"
    )


@dataclasses.dataclass(frozen=True)
class PostprocessJob:
    """One input of a run and the chain of steps applied to it."""

    input: Path
    steps: tuple[Mapping[str, Any], ...]
    context: PostprocessContext
    output_dir: Path | None = None


@dataclasses.dataclass(frozen=True)
class PostprocessRun:
    """A validated run of a postprocessing config."""

    name: str
    source: Path | None
    options: PostprocessRunOptions
    jobs: tuple[PostprocessJob, ...]

    @property
    def where(self) -> str:
        """``run 'test1' in cfg.yaml``, for messages."""
        return f"run {self.name!r}" + (f" in {self.source}" if self.source else "")


def load_postprocess_runs(
    config_path: str | os.PathLike[str] | None,
    run_names: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    *,
    registry: Registry,
    output: str | os.PathLike[str] | None = None,
) -> list[PostprocessRun]:
    """Read, resolve and validate the runs of a postprocessing config (the original SIAYN's format).

    :param config_path: the YAML file; ``None`` reads the bundled ``postprocessing_default.yaml``.
    :param overrides: ``--set`` values, applied to every selected run.
    :param output: ``--output``: one folder for every result (overrides the ``output`` key).
    :raises SiaynError: naming the key, run and file for unknown keys, wrong types, missing
        files, unknown postprocessors or bad options.
    """
    if config_path is None:
        config_path = bundled_config(POSTPROCESS_CONFIG_NAME)
        if not config_path.is_file():
            raise SiaynError(f"the default config {config_path} is missing; pass --config FILE")
    path = Path(config_path)
    selected = select_runs(load_runs(path), run_names, source=str(path))
    runs = []
    for name, settings in selected.items():
        settings = {**settings, **(overrides or {})}
        if output is not None:
            settings["output"] = str(output)
        where = f"run {name!r} in {path}"
        options = build(PostprocessRunOptions, settings, where=where)
        run = PostprocessRun(name, path, options, tuple(_jobs(options, search_dirs(path), where)))
        for job in run.jobs:
            build_postprocessors(job.steps, registry=registry, where=where)
        runs.append(run)
    return runs


def _jobs(o: PostprocessRunOptions, dirs: tuple[Path, ...], where: str) -> list[PostprocessJob]:
    def find(key: str, what: str) -> Path:
        value = getattr(o, key)
        if not value:
            raise SiaynError(f"{where}: {key!r} is required ({what})")
        return resolve_file(value, dirs, what=f"{what} ({key!r} of {where})").resolve()

    def maybe(key: str, what: str) -> Path | None:
        return find(key, what) if getattr(o, key) else None

    def given(**values: Any) -> dict[str, Any]:
        return {key: value for key, value in values.items() if value is not None}

    output_dir = expand_user(o.output) if o.output else None
    base = PostprocessContext(search_dirs=dirs)
    jobs = []
    if o.use_denoise:
        options = given(template_window=o.p3, search_window=o.p4, strength=o.p5, color_strength=o.p6)
        jobs.append(PostprocessJob(find("img_path", "image to denoise"), ({"name": "denoise", **options},),
                                   base, output_dir))
    if o.use_mask:
        mask = maybe("mask", "mask image")
        context = dataclasses.replace(base, content=find("content", "content image"), files=[])
        jobs.append(PostprocessJob(find("styled", "stylized image"),
                                   ({"name": "mask", **given(mask=mask and str(mask))},), context, output_dir))
    if o.use_histogram:
        step = {"name": "histogram", "target": str(find("target", "histogram target image"))}
        jobs.append(PostprocessJob(find("source", "image to recolour"), (step,), base, output_dir))
    if o.use_mask_creation:
        step = {"name": "mask-create", **given(scaler=o.scaler)}
        jobs.append(PostprocessJob(find("p_image", "image to segment"), (step,), base, output_dir))
    if o.use_gif_creation:
        folder = find("path", "folder of frames")
        step = {"name": "gif", "frames": str(folder), **given(out_name=o.out_name, fps=o.fps)}
        context = dataclasses.replace(base, output_dir=output_dir or folder, files=[])
        jobs.append(PostprocessJob(folder, (step,), context, output_dir))
    if o.postprocess:
        image = find("image", "image the 'postprocess' list is applied to")
        content = maybe("content", "content image")
        target = maybe("target", "style image")
        context = PostprocessContext(
            content=content, styles=(target,) if target else (), output_dir=output_dir or image.parent,
            search_dirs=dirs,
        )
        jobs.append(PostprocessJob(image, tuple(_as_steps(o.postprocess, where)), context, output_dir))
    elif o.image:
        raise SiaynError(f"{where}: 'image' is set but 'postprocess' lists no postprocessor")
    if not jobs:
        raise SiaynError(
            f"{where} does nothing: set use_denoise, use_mask, use_histogram, use_mask_creation, "
            "use_gif_creation or a 'postprocess' list"
        )
    return jobs


def _as_steps(steps: Sequence[Any], where: str) -> list[dict[str, Any]]:
    return [{"name": name, **options} for name, options in parse_steps(steps, where=where)]


def run_postprocess(
    run: PostprocessRun,
    *,
    registry: Registry,
    on_written: Callable[[str, Path], None] | None = None,
) -> list[tuple[str, Path]]:
    """Carry out every job of ``run``, writing each result next to its input (or into the
    run's ``output`` folder) as ``<stem>.<step>.png``; nothing is overwritten.

    :param on_written: called with ``(step name, path)`` as each file is written.
    :returns: ``(step name, path)`` for every file written, GIFs included.
    """
    from .image_io import read_image, write_image

    written: list[tuple[str, Path]] = []

    def record(name: str, path: Path) -> None:
        written.append((name, path))
        if on_written is not None:
            on_written(name, path)

    for job in run.jobs:
        context = dataclasses.replace(job.context, files=[])
        if job.input.is_dir():
            frames = image_files(job.input)
            if not frames:
                raise SiaynError(f"no images in {job.input} ({run.where})")
            image = read_image(frames[-1])
        else:
            image = read_image(job.input)
        results = apply_postprocessors(image, job.steps, registry=registry, context=context, where=run.where)
        names: list[str] = []
        for name, result in results:
            names.append(name)
            record(name, write_image(result, step_output_path(job.input, names, job.output_dir)))
        for path in context.files:
            record(Path(path).suffix.lstrip(".") or "file", Path(path))
    return written
