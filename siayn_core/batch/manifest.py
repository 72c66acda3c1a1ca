"""Reading a batch manifest into :class:`~siayn_core.batch.jobs.BatchJob` objects.

A manifest is YAML::

    contents: [album/, extra.jpg]        # files, folders (their images) or globs
    styles: ["paintings/*.jpg"]
    grid:                                # optional: the product of these lists makes the runs
      style_weight: [1.0e+4, 1.0e+5]
    num_steps: 200                       # any other key: a stylize option for every run

Each photo meets each style (one style per run) at each point of the grid. A stylize config
of named runs is a manifest too: each of its runs is one job. Paths are relative to the
manifest's folder.
"""

from __future__ import annotations

import glob
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .jobs import BatchJob
from ..config.build import option_fields, with_recipe
from ..config.loader import apply_overrides, check_override_keys, load_stylize_runs, overridden_keys
from ..config.resolve import ImageReader, resolve_run
from ..config.files import expand_user, parse_overrides, read_yaml
from ..plugin.errors import SiaynError, unknown_name_message
from ..io.resources import examples_dir

if TYPE_CHECKING:
    from ..host.registry import Registry

#: The keys a manifest has besides stylize options.
MANIFEST_KEYS = ("contents", "styles", "grid")


def load_manifest(
    path: str | Path,
    *,
    output_dir: Path,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    seed: int | None = None,
    device: str = "auto",
    plugins: tuple[str, ...] = (),
    threads: int | None = None,
) -> list[BatchJob]:
    """The jobs of the manifest (or stylize config) at ``path``, validated.

    :param overrides: ``--set KEY=VALUE`` strings applied to every run, over the grid.
    :param threads: torch's CPU threads in each run; None lets the executor choose.
    :raises SiaynError: naming the key and the file, before any run starts.
    """
    path = expand_user(path)
    data = read_yaml(path)
    common = {"output_dir": output_dir, "seed": seed, "device": device, "plugins": plugins, "threads": threads}
    if not isinstance(data, Mapping) or ("contents" not in data and "styles" not in data):
        specs = load_stylize_runs(path, overrides=overrides, registry=registry)
        return [BatchJob(name=spec.name, spec=spec, row=spec.content.stem, column=spec.name, **common)
                for spec in specs]
    parsed = parse_overrides(overrides)
    check_override_keys(parsed)
    return _grid_jobs(path, _check_manifest(path, data), parsed, registry, common)


def _check_manifest(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("contents", "styles"):
        if key not in data:
            raise SiaynError(f"manifest {path} has no {key!r}: list the {key[:-1]} images (files, folders or globs)")
    fields = option_fields()
    for key in data:
        if key not in MANIFEST_KEYS and key not in fields:
            raise SiaynError(unknown_name_message("key", str(key), [*MANIFEST_KEYS, *fields], owner=f"manifest {path}"))
    grid = data.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise SiaynError(f"'grid' in manifest {path} must map option names to lists of values")
    for key, values in grid.items():
        if key not in fields:
            raise SiaynError(unknown_name_message("grid key", str(key), fields, owner=f"manifest {path}"))
        if not isinstance(values, list) or not values:
            raise SiaynError(f"grid key {key!r} in manifest {path} must be a non-empty list of values, got {values!r}")
    return dict(data)


def _grid_jobs(
    path: Path, data: dict[str, Any], overrides: dict[str, Any], registry: Registry | None, common: dict[str, Any]
) -> list[BatchJob]:
    base = path.resolve().parent
    contents = expand_images(data["contents"], base, what="contents", source=path)
    styles = expand_images(data["styles"], base, what="styles", source=path)
    defaults = {key: value for key, value in data.items() if key not in MANIFEST_KEYS}
    grid: dict[str, list[Any]] = dict(data.get("grid") or {})
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    from_command_line = overridden_keys(overrides)
    combos = [(content, style, point) for content in contents for style in styles for point in points]
    labels = [f"{content.stem}__{style.stem}" + "".join(f"__{key}={value}" for key, value in point.items())
              for content, style, point in combos]
    jobs = []
    reader = ImageReader()
    for name, (content, style, point) in zip(job_names(labels), combos):
        settings = with_recipe({**defaults, "content": str(content), "style": [str(style)], **point})
        spec = resolve_run(name, apply_overrides(settings, overrides), where=f"run {name!r} in {path}",
                           registry=registry, reader=reader, config_file=path, from_command_line=from_command_line,
                           defer_unreadable=True)
        column = ", ".join([style.stem, *(f"{key}={value}" for key, value in point.items())])
        jobs.append(BatchJob(name=name, spec=spec, row=content.stem, column=column, **common))
    return jobs


def expand_images(entries: Any, base: Path, *, what: str, source: Path) -> list[Path]:
    """The image files ``entries`` name (one string or a list): files, folders (the images
    inside, in natural order) or globs, relative to ``base``, or a bundled example's name;
    each file once."""
    from ..io.images import image_files

    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, str) for entry in entries):
        raise SiaynError(f"{what!r} in manifest {source} must be a file, folder or glob, or a list of them")
    found: list[Path] = []
    for entry in entries:
        candidate = expand_user(entry)
        candidate = candidate if candidate.is_absolute() else base / candidate
        if glob.has_magic(entry):
            matches = [Path(match) for match in sorted(glob.glob(str(candidate), recursive=True))]
            matches = [match for match in matches if match.is_file()]
            if not matches:
                raise SiaynError(f"{what} entry {entry!r} in manifest {source} matches no file")
            found += matches
        elif candidate.is_dir():
            matches = image_files(candidate)
            if not matches:
                raise SiaynError(f"{what} folder {entry!r} in manifest {source} holds no images")
            found += matches
        elif candidate.is_file():
            found.append(candidate)
        elif (examples_dir() / entry).is_file():
            found.append(examples_dir() / entry)
        else:
            raise SiaynError(f"{what} entry {entry!r} in manifest {source} not found (looked in {base})")
    return list(dict.fromkeys(found))


def job_names(labels: Sequence[str]) -> list[str]:
    """``labels`` made unique as folder names: a repeated label gets ``-2``, ``-3``..."""
    seen: dict[str, int] = {}
    names = []
    for label in labels:
        count = seen[label] = seen.get(label, 0) + 1
        names.append(label if count == 1 else f"{label}-{count}")
    return names
