"""``siayn postprocess`` configs: named runs, each a chain of postprocessors on an image
and whatever the installed postprocess formats read from it.

The core reads ``image``, ``postprocess``, ``content``, ``target`` and ``output``. Every other
key belongs to a postprocess format (a plugin component, such as the original SIAYN's keys);
each format is given the run's values for the keys its options declare and returns jobs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config.files import expand_user, load_runs, select_runs
from ..plugin.errors import SiaynError, unknown_name_message
from ..plugin.options import build, option
from ..postprocess.chain import (
    apply_postprocessors,
    build_postprocessors,
    search_dirs,
    step_output_path,
)
from ..plugin.protocols import PostprocessJob, PostprocessRequest
from ..host.registry import Component, Registry
from ..io.images import image_files
from ..io.resources import POSTPROCESS_CONFIG_NAME, bundled_config

FORMAT_KIND = "postprocess-format"


@dataclasses.dataclass(frozen=True)
class ChainOptions:
    """The keys every postprocessing config has: a chain of postprocessors on one image."""

    image: str | None = option(None, help="the image the 'postprocess' list is applied to")
    postprocess: list[Any] = option(
        [], help="postprocessors applied in order to 'image', each a name or {name: ..., options}; "
        "'content' and 'target' are their content and style images"
    )
    content: str | None = option(None, help="the content image the stylized image was made from")
    target: str | None = option(None, help="the style image")
    output: str | None = option(
        None, help="folder for every result of this run (empty: next to each input)"
    )


@dataclasses.dataclass(frozen=True)
class PostprocessRun:
    """A validated run of a postprocessing config."""

    name: str
    source: Path | None
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
    """Read, resolve and validate the runs of a postprocessing config.

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
    formats = registry.components(FORMAT_KIND)
    selected = select_runs(load_runs(path), run_names, source=str(path))
    runs = []
    for name, settings in selected.items():
        settings = {**settings, **(overrides or {})}
        if output is not None:
            settings["output"] = str(output)
        where = f"run {name!r} in {path}"
        jobs = tuple(_jobs(settings, formats, search_dirs(path), where))
        for job in jobs:
            build_postprocessors(job.steps, registry=registry, where=where)
        runs.append(PostprocessRun(name, path, jobs))
    return runs


def _jobs(
    settings: Mapping[str, Any], formats: Sequence[Component], dirs: tuple[Path, ...], where: str
) -> list[PostprocessJob]:
    keys = {field.name for field in dataclasses.fields(ChainOptions)}
    for component in formats:
        keys.update(spec.name for spec in component.options())
    for key in settings:
        if key not in keys:
            raise SiaynError(unknown_name_message("option", key, keys, owner=where))

    chain = build(ChainOptions, _values_for(ChainOptions, settings), where=where)
    request = PostprocessRequest(where, dirs, expand_user(chain.output) if chain.output else None)
    jobs: list[PostprocessJob] = []
    for component in formats:
        options_type = component.options_type
        if options_type is None:
            postprocess_format = component.factory()
        else:
            postprocess_format = component.factory(build(options_type, _values_for(options_type, settings), where=where))
        jobs += postprocess_format(request)
    if chain.postprocess:
        image = request.require("image", chain.image, what="image the 'postprocess' list is applied to")
        content = request.optional("content", chain.content, what="content image")
        target = request.optional("target", chain.target, what="style image")
        jobs.append(request.job(image, chain.postprocess, content=content, styles=(target,) if target else ()))
    elif chain.image:
        raise SiaynError(f"{where}: 'image' is set but 'postprocess' lists no postprocessor")
    if not jobs:
        switches = [spec.name for component in formats for spec in component.options() if spec.type == "bool"]
        choices = ", ".join(switches) + (" or " if switches else "") + "a 'postprocess' list"
        raise SiaynError(f"{where} does nothing: set {choices}")
    return jobs


def _values_for(options_type: type, settings: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(options_type)}
    return {key: value for key, value in settings.items() if key in names}


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
    from ..io.images import read_image, write_image

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

