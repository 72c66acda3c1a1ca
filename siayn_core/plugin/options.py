"""Typed component options: one dataclass per component, read by the config loader,
the CLI, ``siayn components list`` and the GUI.

Declare options with :func:`option`::

    @dataclass(frozen=True)
    class VGGOptions:
        weights: str = option("imagenet", help="'imagenet', 'none' or a path to a state dict")
        normalize: bool = option(True, help="normalize input with the weights' mean/std")

Values from YAML or ``--set`` arrive as strings or loose YAML scalars; :func:`coerce`
turns them into the declared type (``"1e5"`` -> ``100000.0``) or raises a
:class:`~siayn_core.SiaynError` naming the option.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from .errors import SiaynError, unknown_name_message
from .paths import expand_user


def option(
    default: Any,
    *,
    help: str,
    choices: Sequence[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """A dataclass field carrying a help text and optional bounds or choices."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None,
                "minimum": minimum, "maximum": maximum}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """The public description of one option."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "name": self.name,
            "type": self.type,
            "default": _jsonable(self.default),
            "help": self.help,
            "choices": list(self.choices) if self.choices else None,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


def describe(options_type: type | None) -> list[OptionSpec]:
    """The option specs of an options dataclass (empty for ``None``)."""
    if options_type is None:
        return []
    hints = typing.get_type_hints(options_type)
    specs = []
    for f in dataclasses.fields(options_type):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        specs.append(
            OptionSpec(
                name=f.name,
                type=type_name(hints[f.name]),
                default=default,
                help=f.metadata.get("help", ""),
                choices=f.metadata.get("choices"),
                minimum=f.metadata.get("minimum"),
                maximum=f.metadata.get("maximum"),
            )
        )
    return specs


def build(options_type: type, values: Mapping[str, Any], *, where: str) -> Any:
    """Instantiate ``options_type`` from loose values, validating every key.

    :param where: names the owner in error messages, e.g. ``"backbone 'vgg19'"``.
    """
    hints = typing.get_type_hints(options_type)
    fields = {f.name: f for f in dataclasses.fields(options_type)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise SiaynError(unknown_name_message("option", key, fields, owner=where))
        f = fields[key]
        label = f"option {key!r} of {where}"
        value = coerce(value, hints[key], name=label)
        check_bounds(value, f.metadata, name=label)
        kwargs[key] = value
    return options_type(**kwargs)


def check_bounds(value: Any, metadata: Mapping[str, Any], *, name: str) -> None:
    """Enforce the ``choices``/``minimum``/``maximum`` declared with :func:`option`."""
    choices = metadata.get("choices")
    if choices and value not in choices:
        raise SiaynError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    values = value if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        if metadata.get("minimum") is not None and item < metadata["minimum"]:
            raise SiaynError(f"{name} must be at least {metadata['minimum']}, got {item!r}")
        if metadata.get("maximum") is not None and item > metadata["maximum"]:
            raise SiaynError(f"{name} must be at most {metadata['maximum']}, got {item!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"null", "none", "~", ""}


def coerce(value: Any, annotation: Any, *, name: str) -> Any:
    """Convert a loose YAML/CLI value to ``annotation``; raise SiaynError naming ``name``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, name=name)
            except SiaynError:
                continue
        raise SiaynError(f"{name} must be {type_name(annotation)}, got {value!r}")
    if origin is Literal:
        lowered = {str(a).lower(): a for a in args}
        if isinstance(value, str) and value.lower() in lowered:
            return lowered[value.lower()]
        if value in args:
            return value
        raise SiaynError(f"{name} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (dict, Mapping) or annotation is dict:
        if not isinstance(value, Mapping):
            raise SiaynError(f"{name} must be a mapping of KEY: VALUE, got {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {
            coerce(k, key_type, name=f"{name} key"): coerce(v, value_type, name=f"{name}[{k!r}]")
            for k, v in value.items()
        }
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        item_type = args[0] if args else Any
        if isinstance(value, str):
            value = [part.strip() for part in value.strip("[]()").split(",") if part.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        items = [coerce(v, item_type, name=f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise SiaynError(f"{name} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise SiaynError(f"{name} must be a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number.is_integer():
                return int(number)
        raise SiaynError(f"{name} must be a whole number, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise SiaynError(f"{name} must be a number, got {value!r}")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise SiaynError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise SiaynError(f"{name} must be a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise SiaynError(f"{name} must be text, got {value!r}")
    if annotation is Path:
        if isinstance(value, (str, Path)) and str(value):
            return expand_user(value)
        raise SiaynError(f"{name} must be a path, got {value!r}")
    if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
        return build(annotation, value, where=name)
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise SiaynError(f"{name} must be {type_name(annotation)}, got {value!r}")


def type_name(annotation: Any) -> str:
    """A short human name for a type annotation: ``float | None``, ``list[str]``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
