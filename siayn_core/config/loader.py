"""Reading stylize configs: a YAML file of named runs (the original SIAYN's format), ``--run``
selection and ``--set`` overrides, into validated :class:`~siayn_core.config.schema.RunSpec` objects.

Image names are looked up in ``content_dir`` / ``style_dir`` (relative to the config file),
then next to the config file, then among the bundled example images; paths work too.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.resources import STYLIZE_CONFIG_NAME, bundled_config
from ..plugin.errors import SiaynError, unknown_name_message
from .build import option_fields, option_types, with_recipe, yield_to_recipe
from .files import load_runs, parse_overrides, select_runs
from .resolve import ImageReader, resolve_run
from .schema import RunSpec

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
    reader: ImageReader | None = None,
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
    :param reader: decodes each image once across the runs (a new one by default).
    :raises SiaynError: naming the key, the run and the file.
    """
    reader = ImageReader() if reader is None else reader
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
        specs.append(resolve_run(name, settings, where=f"run {name!r} in {path}", registry=registry, reader=reader,
                                 config_file=path, from_command_line=from_command_line, size_cap=cap))
    return specs


def apply_overrides(settings: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with ``overrides`` applied; ``a.b`` keys set entry ``b`` of mapping ``a``. A
    ``recipe`` among the overrides replaces the values of ``settings`` it gives (the other
    overrides still win over it)."""
    merged = yield_to_recipe(settings, overrides["recipe"]) if "recipe" in overrides else dict(settings)
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
