"""Reading stylize configs: a YAML file of named runs (the original SIAYN's format), ``--run``
selection and ``--set`` overrides, into validated :class:`~siayn_core.config.schema.RunSpec` objects.

Image names are looked up in ``content_dir`` / ``style_dir`` (relative to the config file),
then next to the config file, then among the bundled example images; paths work too.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .schema import RunSpec, StylizeOptions

from .build import build_options, option_fields, option_types, with_recipe
from .files import load_runs, parse_overrides, resolve_file, select_runs
from ..plugin.errors import SiaynError, unknown_name_message
from ..io.resources import STYLIZE_CONFIG_NAME, bundled_config, examples_dir

if TYPE_CHECKING:
    from ..host.registry import Registry

#: ``siayn stylize PHOTO STYLE`` without ``--size`` or ``scaler``: the output keeps the
#: photo's size, its longer side capped at this many px.
DEFAULT_PHOTO_SIZE = 256


def load_stylize_runs(
    config_path: str | Path | None = None,
    run_names: Sequence[str] = (),
    overrides: Mapping[str, Any] | Sequence[str] = (),
    *,
    content: str | Path | None = None,
    styles: Sequence[str | Path] = (),
    postprocess: Sequence[Any] = (),
    registry: Registry | None = None,
    photo_size: int | None = DEFAULT_PHOTO_SIZE,
) -> list[RunSpec]:
    """Read, select, override and validate the runs of a stylize config.

    :param config_path: the YAML file; None reads the default config.
    :param run_names: runs to keep (``--run``); empty keeps all.
    :param overrides: ``--set`` values applied to every selected run, as a mapping or as
        ``KEY=VALUE`` strings; ``KEY.OPTION=VALUE`` sets one entry of a ``*_options`` mapping.
    :param content: a content image replacing each run's ``content`` (the CLI's positional use).
    :param styles: style images replacing each run's ``style``.
    :param postprocess: steps appended to each run's ``postprocess`` list (``--post``).
    :param registry: when given, component names and their options are checked now, so a typo
        in the last run is reported before the first one starts.
    :param photo_size: with ``content``, and neither ``size`` nor ``scaler`` set by ``overrides``:
        the output keeps the photo's own size, its longer side capped at this many px (the
        config's ``scaler`` was written for its own images, not for this photo).
    :raises SiaynError: naming the key, the run and the file.
    """
    path = Path(config_path) if config_path is not None else bundled_config(STYLIZE_CONFIG_NAME)
    runs = select_runs(load_runs(path), list(run_names), source=str(path))
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    check_override_keys(overrides)
    from_command_line = overridden_keys(overrides)
    specs = []
    for name, settings in runs.items():
        settings = apply_overrides(with_recipe(settings), overrides)
        cap = None
        if content is not None:
            settings["content"] = str(content)
            if photo_size is not None and not {"size", "scaler"} & set(overrides):
                settings["scaler"], settings["size"] = 1.0, None
                cap = photo_size
        if styles:
            settings["style"] = [str(style) for style in styles]
        if postprocess:
            settings["postprocess"] = [*(settings.get("postprocess") or []), *postprocess]
        specs.append(resolve_run(name, settings, path, registry, from_command_line, size_cap=cap))
    return specs


def apply_overrides(settings: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with ``overrides`` applied; ``a.b`` keys set entry ``b`` of mapping ``a``."""
    merged = dict(settings)
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if dot:
            inner = merged.get(head)
            merged[head] = {**(inner if isinstance(inner, Mapping) else {}), rest: value}
        else:
            merged[key] = value
    return merged


def overridden_keys(overrides: Mapping[str, Any]) -> set[str]:
    """The settings ``--set`` values replace whole (``a=...``; ``a.b=...`` only merges an entry)."""
    return {key for key in overrides if "." not in key}


def check_override_keys(overrides: Mapping[str, Any]) -> None:
    """Refuse a ``--set`` key that is no stylize option, or a ``.OPTION`` on a key that takes none."""
    fields = option_fields()
    for key in overrides:
        head, dot, _ = key.partition(".")
        if head not in fields:
            raise SiaynError(unknown_name_message("key", head, fields, owner="--set"))
        if dot and typing.get_origin(option_types()[head]) is not dict:
            raise SiaynError(f"--set {key}: {head!r} is not a mapping of options, so it takes no '.{key[len(head) + 1:]}'")


def resolve_run(
    name: str,
    settings: Mapping[str, Any],
    source: Path,
    registry: Registry | None,
    from_command_line: Collection[str],
    *,
    size_cap: int | None = None,
) -> RunSpec:
    """One run's ``settings`` (read from ``source``) as a validated :class:`RunSpec`, its
    image names looked up next to ``source`` and among the bundled images.

    :param from_command_line: the keys ``--set`` replaced (they win over the recipe).
    :param size_cap: the longest side the output may have when the photo came from the command line.
    """
    where = f"run {name!r} in {source}"
    options = build_options(settings, where=where, from_command_line=from_command_line)
    base = source.resolve().parent
    content_dirs = [base / options.content_dir, base, examples_dir()]
    style_dirs = [base / options.style_dir, base, examples_dir()]
    content_path = resolve_file(options.content, content_dirs, what=f"content image of {where}")
    style_paths = tuple(
        resolve_file(style, style_dirs, what=f"style image of {where}") for style in options.style
    )
    side = side_images(options, [*style_dirs, *content_dirs], where=where)
    capped = False
    if size_cap is not None:
        from ..io.images import read_image

        if max(read_image(content_path).size) > size_cap:
            options, capped = dataclasses.replace(options, size=size_cap), True
    spec = RunSpec(name=name, options=options, content=content_path, styles=style_paths, source=source,
                   capped=capped, **side)
    if registry is not None:
        from .components import check_components

        check_components(options, registry, where=where)
    return spec


def side_images(options: StylizeOptions, search_dirs: Sequence[Path], *, where: str) -> dict[str, Any]:
    """The :class:`RunSpec` fields of the files a run names besides its photo and styles:
    ``masks`` (style_masks), ``content_mask`` and ``fine_style``, each looked up in ``search_dirs``."""
    def find(name: str, what: str) -> Path:
        return resolve_file(name, search_dirs, what=f"{what} of {where}")

    named = [] if options.style_masks in (None, ["auto"]) else options.style_masks
    return {
        "masks": tuple(find(name, "style mask") for name in named),
        "content_mask": find(options.content_mask, "content mask") if options.content_mask else None,
        "fine_style": find(options.fine_style, "fine style image") if options.fine_style else None,
    }
