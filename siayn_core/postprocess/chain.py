"""Running postprocessors on an image: after a stylize run (its ``postprocess:`` list,
``--post NAME``) and for ``siayn postprocess`` (whose configs
:mod:`siayn_core.runs.postprocess_configs` reads).

A step is a postprocessor name with its options: ``"denoise"`` or
``{"name": "denoise", "strength": 5}``. Steps are chained: each one processes the previous
one's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..plugin.errors import SiaynError
from ..io.images import unique_path, write_image
from ..plugin.protocols import PostprocessContext, Postprocessor
from ..host.registry import Registry
from ..io.resources import examples_dir

KIND = "postprocessor"

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


def save_postprocessed(
    image: Image.Image,
    steps: Sequence[Any],
    image_path: Path,
    *,
    registry: Registry,
    context: PostprocessContext,
    where: str = "postprocess",
) -> list[Path]:
    """Apply ``steps`` to ``image`` (the file ``image_path``) and save each step's image next
    to it as ``<name>.<step>[.<step>...].png``. Returns every file written, the files the
    steps wrote themselves (``context.files``) last."""
    written, names = [], []
    for name, processed in apply_postprocessors(image, steps, registry=registry, context=context, where=where):
        names.append(name)
        written.append(write_image(processed, step_output_path(image_path, names, image_path.parent)))
    return written + [Path(path) for path in context.files]


# --- files ----------------------------------------------------------------------------------


def step_output_path(source: Path, step_names: Sequence[str], directory: Path | None = None) -> Path:
    """Where a result of ``source`` goes: ``<dir>/<stem>.<step>[.<step>...].png``, numbered
    if taken (nothing is overwritten)."""
    directory = source.parent if directory is None else directory
    return unique_path(directory / f"{source.stem}.{'.'.join(step_names)}.png")


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
