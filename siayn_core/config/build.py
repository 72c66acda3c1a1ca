"""Loose settings (YAML values, ``--set`` values, keywords) validated into
:class:`~siayn_core.config.schema.StylizeOptions`: :func:`build_options`, with the checks that look
at more than one value and the style weights they imply."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .schema import ORIGINAL_KEYS, RECIPES, StylizeOptions
from ..plugin.errors import SiaynError, unknown_name_message
from ..plugin.options import check_bounds, coerce


def option_fields() -> dict[str, dataclasses.Field[Any]]:
    """The fields of :class:`StylizeOptions` by name."""
    return {f.name: f for f in dataclasses.fields(StylizeOptions)}


def option_types() -> dict[str, Any]:
    """The type annotation of each :class:`StylizeOptions` field, by name."""
    return typing.get_type_hints(StylizeOptions)


def build_options(
    settings: Mapping[str, Any], *, where: str, from_command_line: Collection[str] = ()
) -> StylizeOptions:
    """Validate loose settings (YAML values, ``--set`` values) into :class:`StylizeOptions`.

    :param where: names the owner in messages, e.g. ``run 'test1' in seed.yaml``.
    :param from_command_line: keys whose value came from ``--set``: a bad one is reported
        as ``--set KEY``, not as a key of the file.
    """
    fields = option_fields()
    hints = option_types()
    values: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in fields:
            raise SiaynError(unknown_name_message("key", str(key), fields, owner=where))
        annotation = hints[key]
        if value is None and typing.get_origin(annotation) in (dict, list):
            value = type(fields[key].default_factory())()  # `key:` left empty in YAML
        if key == "style" and isinstance(value, (str, Path)):
            value = [value]  # one name, which may itself contain a comma
        label = f"--set {key}" if key in from_command_line else f"key {key!r} of {where}"
        if key == "style_resize":
            value = _style_resize_mode(value)
        if is_numeric(annotation):
            check_finite(value, name=label)
        value = coerce(value, annotation, name=label)
        check_bounds(value, fields[key].metadata, name=label)
        values[key] = value
    recipe = values.get("recipe", fields["recipe"].default)
    for key, value in RECIPES[recipe].items():
        if "." not in key:
            values.setdefault(key, value)
    try:
        options = StylizeOptions(**values)
    except TypeError as error:  # pragma: no cover - every key was checked above
        raise SiaynError(f"{where}: {error}") from None
    check_consistency(options, where=where)
    return options


def with_recipe(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings``, with ``recipe: original`` added when they are the original SIAYN's
    (every one of :data:`ORIGINAL_KEYS` and no ``recipe``): their weights were set for it."""
    settings = dict(settings)
    if "recipe" not in settings and ORIGINAL_KEYS <= settings.keys():
        settings["recipe"] = "original"
    return settings


def yield_to_recipe(settings: Mapping[str, Any], recipe: Any) -> dict[str, Any]:
    """``settings`` without the values ``recipe`` gives, for a recipe chosen where it wins over
    them (``--set recipe=...`` over a config file's run): the keys it sets, the entries of
    ``*_options`` it fills, and the options of a component it replaces, which were the file's
    component's."""
    from .schema import COMPONENT_KEYS

    values = RECIPES.get(str(recipe), {})
    kept = dict(settings)
    for key, value in values.items():
        head, dot, name = key.partition(".")
        if dot:
            inner = kept.get(head)
            if isinstance(inner, Mapping) and name in inner:
                kept[head] = {entry: item for entry, item in inner.items() if entry != name}
            continue
        if key in kept and key in COMPONENT_KEYS and str(kept[key]).lower() != str(value).lower():
            kept.pop(COMPONENT_KEYS[key][1], None)
        kept.pop(key, None)
    return kept


def _style_resize_mode(value: Any) -> Any:
    """The mode the original SIAYN's ``style_resize: true/false`` meant; other values as given."""
    try:
        flag = coerce(value, bool, name="style_resize")
    except SiaynError:
        return value
    return "stretch" if flag else "none"


def is_numeric(annotation: Any) -> bool:
    """Whether a setting's type holds numbers (``float``, ``list[float] | None``...)."""
    if annotation in (int, float):
        return True
    return any(is_numeric(arg) for arg in typing.get_args(annotation))


def check_finite(value: Any, *, name: str) -> None:
    """NaN and infinity are never valid settings: say so, rather than a type mismatch."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            continue
        try:
            number = float(item)
        except (ValueError, OverflowError):
            continue
        if not math.isfinite(number):
            raise SiaynError(f"{name} must be a finite number, got {value!r}")


def check_consistency(options: StylizeOptions, *, where: str) -> None:
    """SiaynError naming the key of ``where`` whose value does not fit the others."""
    count = len(options.style)
    if not count:
        raise SiaynError(f"key 'style' of {where} names no style image")
    if isinstance(options.style_weight, list) and len(options.style_weight) != count:
        raise SiaynError(
            f"key 'style_weight' of {where} has {len(options.style_weight)} weights for "
            f"{count} style images; give one weight per style, or a single number"
        )
    if options.style_layers_weights is not None and len(options.style_layers_weights) != len(options.style_layers):
        raise SiaynError(
            f"key 'style_layers_weights' of {where} has {len(options.style_layers_weights)} weights for "
            f"{len(options.style_layers)} style layers; give one per layer, or null"
        )
    if not options.content_layers and options.content_weight > 0:
        raise SiaynError(f"key 'content_layers' of {where} is empty; name at least one layer")
    if not options.style_layers and style_weights(options, count) != [0.0] * count:
        raise SiaynError(f"key 'style_layers' of {where} is empty; name at least one layer")
    _check_masks(options, where=where)
    if options.fine_style and not set(options.fine_layers) <= set(options.style_layers):
        extra = ", ".join(layer for layer in options.fine_layers if layer not in options.style_layers)
        raise SiaynError(f"key 'fine_layers' of {where} names {extra}, not among style_layers: "
                         "the fine style takes some of the style layers")
    from ..postprocess.chain import parse_steps

    parse_steps(options.postprocess, where=where)


def _check_masks(options: StylizeOptions, *, where: str) -> None:
    masks, count = options.style_masks, len(options.style)
    if masks is None:
        if options.style_mask_colors is not None:
            raise SiaynError(f"key 'style_mask_colors' of {where} needs a colour-key image in style_masks")
        return
    if masks == ["auto"]:
        if count != 2:
            raise SiaynError(f"key 'style_masks' of {where} is auto, which needs two styles (foreground, "
                             f"background); the run has {count}")
    elif len(masks) not in (1, count):
        raise SiaynError(f"key 'style_masks' of {where} has {len(masks)} masks for {count} styles: "
                         "give one mask per style, or one colour-key image")
    if options.style_mask_colors is not None and (len(masks) != 1 or masks == ["auto"] or count < 2):
        raise SiaynError(f"key 'style_mask_colors' of {where} needs one colour-key image in style_masks "
                         "and two styles or more")


def style_weights(options: StylizeOptions, count: int) -> list[float]:
    """The weight of each style image: the list as given, or one number shared equally;
    with ``style_masks`` each style has its own region, so each gets the whole number."""
    if isinstance(options.style_weight, list):
        if len(options.style_weight) != count:
            raise SiaynError(
                f"style_weight has {len(options.style_weight)} weights for {count} style images; "
                "give one weight per style, or a single number"
            )
        return list(options.style_weight)
    if options.style_masks is not None:
        return [options.style_weight] * count
    return [options.style_weight / count] * count
