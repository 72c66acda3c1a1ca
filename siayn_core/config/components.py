"""What a run's options say about its components: each component's options (with the
top-level shortcuts ``lr`` and ``norm`` filled in), and checks against the registry that
build nothing, so a typo in the last run is reported before the first one starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import COMPONENT_KEYS, RECIPES, SHORTCUTS, StylizeOptions
from ..plugin.errors import SiaynError
from ..plugin.hypercolumns import PIXELS

if TYPE_CHECKING:
    from ..host.registry import Registry


def component_options(options: StylizeOptions, key: str, registry: Registry) -> dict[str, Any]:
    """The options for the component named by ``key`` (e.g. ``"opt"``): its ``*_options``
    mapping, with the top-level shortcuts (``lr``, ``norm``) and the recipe's component
    defaults filled in where it declares them."""
    kind, options_key = COMPONENT_KEYS[key]
    values = dict(getattr(options, options_key))
    component = registry.get(kind, getattr(options, key))
    declared = {spec.name for spec in component.options()}
    for target_key, option_name, value in _component_defaults(options):
        if target_key == options_key and option_name in declared and value is not None:
            values.setdefault(option_name, value)
    return values


def _component_defaults(options: StylizeOptions) -> list[tuple[str, str, Any]]:
    """``(options key, option, value)`` of the shortcuts' values and the recipe's component defaults."""
    filled = [(target_key, name, getattr(options, shortcut)) for shortcut, (target_key, name) in SHORTCUTS.items()]
    for recipe_key, value in RECIPES[options.recipe].items():
        target_key, dot, name = recipe_key.partition(".")
        if dot:
            filled.append((target_key, name, value))
    return filled


def check_components(options: StylizeOptions, registry: Registry, *, where: str) -> None:
    """Check that every component a run names exists and accepts its options, without
    building anything (no weights are loaded)."""
    for key, (kind, options_key) in COMPONENT_KEYS.items():
        name = getattr(options, key)
        try:
            registry.validate(kind, name, component_options(options, key, registry))
        except SiaynError as error:
            raise SiaynError(f"key {key!r} of {where}: {error}") from None
    check_layers(options, registry, where=where)
    from ..postprocess.chain import build_postprocessors

    build_postprocessors(options.postprocess, registry=registry, where=where)


def check_layers(options: StylizeOptions, registry: Registry, *, where: str) -> None:
    """Check that the backbone has every content and style layer, before any run starts.

    Asks the backbone component's :meth:`~siayn_core.Backbone.layer_index`: backbones
    build their network (and load weights) only in ``extractor``, so nothing heavy runs.
    The pseudo-layer ``pixels`` (the image, for hypercolumn losses) is not the backbone's.
    """
    values = component_options(options, "backbone", registry)
    try:
        backbone = registry.create("backbone", options.backbone, values)
    except SiaynError as error:  # e.g. timm has no such model
        raise SiaynError(f"key 'backbone' of {where}: {error}") from None
    for key in ("content_layers", "style_layers"):
        for layer in getattr(options, key):
            if layer == PIXELS:
                continue
            try:
                backbone.layer_index(layer)
            except SiaynError as error:
                raise SiaynError(f"key {key!r} of {where}: {error}") from None
