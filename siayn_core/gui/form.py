"""The GUI's form, described without Gradio: which widget shows each option, how a default
is displayed and how a widget's value is read back.

Every field comes from an options dataclass (``StylizeOptions``, or a component's options
from the registry), so a plugin's new components and options show up in the GUI without
any GUI code: the dropdown of a component kind lists the registry's names, and the options
of the selected component appear under it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from ..plugin.errors import SiaynError
from ..plugin.options import OptionSpec, describe

if typing.TYPE_CHECKING:
    from ..host.registry import Registry

#: ``checkbox``: bool; ``integer`` / ``number``: int / float (``slider``: a float between
#: bounds at most :data:`SLIDER_SPAN` times apart); ``dropdown``: a fixed set of
#: choices; ``text``: str, a comma-separated list, or an optional number (empty: None); ``image``:
#: a file upload (a Path, or a str whose help names an image); ``yaml``: anything else,
#: written as YAML.
Widget = Literal["checkbox", "integer", "number", "slider", "dropdown", "text", "image", "yaml"]

#: The widest ratio of a float option's bounds that a slider shows well.
SLIDER_SPAN = 16.0


@dataclasses.dataclass(frozen=True)
class FormField:
    """One option as the GUI shows it."""

    name: str
    widget: Widget
    help: str
    default: Any
    annotation: Any
    optional: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def label(self) -> str:
        """``style_weight`` -> ``style weight``."""
        return self.name.replace("_", " ")

    @property
    def placeholder(self) -> str | None:
        """What an empty text field shows."""
        if self.widget == "yaml":
            return "YAML, e.g. [1, 2] or {key: value}"
        inner, _ = _strip_optional(self.annotation)
        if _is_list(inner):
            return "comma-separated" + (" (empty: none)" if self.optional else "")
        if self.optional:
            return "empty: none"
        return None

    def display(self, value: Any = dataclasses.MISSING) -> Any:
        """``value`` (default: the field's default) as the widget shows it."""
        value = self.default if value is dataclasses.MISSING else value
        if self.widget in ("checkbox", "integer", "number", "slider"):
            return value
        if self.widget == "dropdown":
            return "" if value is None else value
        if self.widget == "image":
            return str(value) if value else None
        if self.widget == "yaml":
            return "" if value is None else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        if value is None:
            return ""
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value))
        return str(value)

    def read(self, raw: Any) -> Any:
        """The loose value a widget holds, ready for :func:`siayn_core.plugin.options.coerce`."""
        if self.widget == "checkbox":
            return bool(raw)
        if self.widget in ("integer", "number", "slider"):
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return None
            if isinstance(raw, float) and self.widget == "integer" and math.isfinite(raw) and raw.is_integer():
                return int(raw)
            return raw
        if self.widget == "image":
            if isinstance(raw, Mapping):  # a file component may hand over its FileData
                raw = raw.get("path")
            return str(raw) if raw else None
        text = "" if raw is None else str(raw)
        if self.widget == "yaml":
            if not text.strip():
                return None
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise SiaynError(f"{self.name}: cannot read {text!r} as YAML ({error})") from None
        if not text.strip() and self.optional:
            return None
        return text  # coerce turns "a, b" into a list where the option is one


def form_fields(options_type: type | None, *, skip: Sequence[str] = ()) -> list[FormField]:
    """A :class:`FormField` for every option of ``options_type`` except ``skip``."""
    if options_type is None:
        return []
    hints = typing.get_type_hints(options_type)
    return [field_for(spec, hints[spec.name]) for spec in describe(options_type) if spec.name not in skip]


def field_for(spec: OptionSpec, annotation: Any) -> FormField:
    """The widget for one option, chosen from its type, choices and help text."""
    inner, optional = _strip_optional(annotation)
    common = dict(
        name=spec.name, help=spec.help, default=spec.default, annotation=annotation, optional=optional,
        minimum=spec.minimum, maximum=spec.maximum,
    )
    if typing.get_origin(inner) is Literal:
        return FormField(widget="dropdown", choices=_with_empty(typing.get_args(inner), optional), **common)
    if spec.choices:
        return FormField(widget="dropdown", choices=_with_empty(spec.choices, optional), **common)
    if inner is bool:
        return FormField(widget="checkbox", **common)
    if inner in (int, float) and optional:
        return FormField(widget="text", **common)  # a number field cannot be left empty
    if inner is int:
        return FormField(widget="integer", **common)
    if inner is float and spec.minimum and spec.maximum and spec.maximum / spec.minimum <= SLIDER_SPAN:
        return FormField(widget="slider", **common)
    if inner is float:
        return FormField(widget="number", **common)
    if inner is Path or (inner is str and _names_an_image(spec.help)):
        return FormField(widget="image", **common)
    if inner is str or (_is_list(inner) and _item_type(inner) in (str, int, float)):
        return FormField(widget="text", **common)
    return FormField(widget="yaml", **common)


def changed_values(fields: Sequence[FormField], raws: Sequence[Any]) -> dict[str, Any]:
    """The options whose widget differs from the default, as loose values.

    Keeping only changed values leaves the rest to the engine's own defaults and keeps
    the saved config short.
    """
    values = {}
    for field, raw in zip(fields, raws, strict=True):
        value = field.read(raw)
        if value != field.read(field.display()):
            values[field.name] = value
    return values


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return Union[tuple(args)], optional  # e.g. float | list[float]: shown as YAML
    return annotation, False


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (list, tuple, Sequence) or annotation in (list, tuple)


def _item_type(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[0] if args else str


def _with_empty(choices: Sequence[Any], optional: bool) -> tuple[Any, ...]:
    return (("",) if optional else ()) + tuple(choices)


def _names_an_image(help_text: str) -> bool:
    words = help_text.lower().replace(",", " ").replace(";", " ").split()
    return "image" in words[:4]


# --- the whole form -------------------------------------------------------------------------

#: StylizeOptions keys the GUI fills from its own widgets: the uploaded images, their
#: weights and masks, the postprocessing section, and the folders names are looked up in
#: (images are uploaded, never looked up by name).
OWN_WIDGET_KEYS = ("content", "style", "style_weight", "style_masks", "postprocess", "content_dir", "style_dir")


@dataclasses.dataclass(frozen=True)
class ComponentChoice:
    """A StylizeOptions key that names a component (``backbone``, ``opt``...): a dropdown of
    the registry's names, with the options of each component shown when it is selected."""

    key: str
    kind: str
    options_key: str
    help: str
    default: str
    names: tuple[str, ...]
    fields: Mapping[str, tuple[FormField, ...]]

    @property
    def label(self) -> str:
        """``init_method`` -> ``init method``."""
        return self.key.replace("_", " ")


@dataclasses.dataclass(frozen=True)
class Form:
    """Everything the GUI asks for, in the order of :class:`StylizeOptions`."""

    entries: tuple[FormField | ComponentChoice, ...]
    style_weight: FormField
    postprocessors: Mapping[str, tuple[FormField, ...]]
    postprocessor_help: Mapping[str, str]
    max_styles: int

    @property
    def choices(self) -> list[ComponentChoice]:
        """The component dropdowns."""
        return [entry for entry in self.entries if isinstance(entry, ComponentChoice)]

    @property
    def fields(self) -> list[FormField]:
        """The plain option fields."""
        return [entry for entry in self.entries if isinstance(entry, FormField)]


def build_form(registry: Registry, *, max_styles: int = 4) -> Form:
    """Read the form from :class:`StylizeOptions` and the registry's components."""
    from ..config.schema import COMPONENT_KEYS, SHORTCUTS, StylizeOptions

    specs = {spec.name: spec for spec in describe(StylizeOptions)}
    hints = typing.get_type_hints(StylizeOptions)
    options_keys = {options_key for _, options_key in COMPONENT_KEYS.values()}
    entries: list[FormField | ComponentChoice] = []
    for name, spec in specs.items():
        if name in OWN_WIDGET_KEYS or name in options_keys:
            continue
        if name in COMPONENT_KEYS:
            kind, options_key = COMPONENT_KEYS[name]
            covered = {option for key, option in SHORTCUTS.values() if key == options_key}
            fields = {
                component.name: tuple(form_fields(component.options_type, skip=covered))
                for component in registry.components(kind)
            }
            entries.append(ComponentChoice(
                key=name, kind=kind, options_key=options_key, help=spec.help, default=str(spec.default),
                names=tuple(registry.names(kind)), fields=fields,
            ))
        else:
            entries.append(field_for(spec, hints[name]))
    weight_spec = specs["style_weight"]
    style_weight = FormField(
        name="style_weight", widget="number", annotation=float, default=weight_spec.default,
        minimum=weight_spec.minimum, maximum=weight_spec.maximum,
        help="weight of the style loss, shared by the style images in proportion to their own weights",
    )
    postprocessors = {
        component.name: tuple(form_fields(component.options_type)) for component in registry.components("postprocessor")
    }
    descriptions = {component.name: component.description for component in registry.components("postprocessor")}
    return Form(tuple(entries), style_weight, postprocessors, descriptions, max_styles)


def selected_component(registry: Registry, choice: ComponentChoice, name: str | None) -> str | None:
    """The primary name of the component a dropdown value selects (``LFBGS`` -> ``lbfgs``,
    ``timm:resnet50`` -> ``timm``), or None when no component has that name."""
    if not name or not str(name).strip():
        return None
    try:
        return registry.get(choice.kind, str(name)).name
    except SiaynError:
        return None


# --- reading the form back --------------------------------------------------------------------

#: Keys of the values the GUI hands to :func:`run_settings`:
#: ``("content",)``, ``("style", i)``, ``("style_weight", i)``, ``("style_mask", i)``, ``("option", name)``,
#: ``("component", key)``, ``("component", key, component, option)``, ``("postprocess",)``
#: (the ticked postprocessor names, in order) and ``("postprocess", name, option)``.
Key = tuple[Any, ...]


def default_values(form: Form) -> dict[Key, Any]:
    """Every widget's value as the form first shows it (no images chosen)."""
    values: dict[Key, Any] = {("content",): None, ("postprocess",): []}
    for index in range(form.max_styles):
        values[("style", index)] = None
        values[("style_weight", index)] = 1.0
        values[("style_mask", index)] = None
    values[("option", "style_weight")] = form.style_weight.display()
    for entry in form.entries:
        if isinstance(entry, ComponentChoice):
            values[("component", entry.key)] = entry.default
            for component, fields in entry.fields.items():
                for field in fields:
                    values[("component", entry.key, component, field.name)] = field.display()
        else:
            values[("option", entry.name)] = entry.display()
    for name, fields in form.postprocessors.items():
        for field in fields:
            values[("postprocess", name, field.name)] = field.display()
    return values


def chosen_recipe(form: Form, values: Mapping[Key, Any]) -> Mapping[str, Any]:
    """What the form's ``recipe`` gives (:data:`~siayn_core.config.schema.RECIPES`): the values
    it gives the keys whose widgets are left at their defaults."""
    from ..config.schema import RECIPES

    field = next((entry for entry in form.fields if entry.name == "recipe"), None)
    if field is None:
        return {}
    return RECIPES.get(str(field.read(values.get(("option", "recipe"), field.display()))), {})


def run_settings(form: Form, values: Mapping[Key, Any], registry: Registry) -> dict[str, Any]:
    """The loose StylizeOptions settings the form's values describe (validated later by
    :func:`siayn_core.config.schema.build_options`, exactly as a config file's are).

    :raises SiaynError: when no content or no style image is chosen, or a weight is bad.
    """
    content = form_image(values.get(("content",)))
    if content is None:
        raise SiaynError("choose a content image (upload one or pick an example)")
    styles: list[str] = []
    shares: list[float] = []
    masks: list[str | None] = []
    for index in range(form.max_styles):
        style = form_image(values.get(("style", index)))
        if style is None:
            continue
        masks.append(form_image(values.get(("style_mask", index))))
        share = values.get(("style_weight", index))
        share = 1.0 if share is None else float(share)
        if not math.isfinite(share) or share < 0:
            raise SiaynError(f"the weight of style image {index + 1} must be 0 or more, got {share}")
        styles.append(style)
        shares.append(share)
    if not styles:
        raise SiaynError("add at least one style image (upload one or pick an example)")
    if sum(shares) <= 0:
        raise SiaynError("at least one style image needs a weight above 0")

    settings: dict[str, Any] = {"content": content, "style": styles}
    if any(masks):
        if not all(masks):
            missing = ", ".join(str(number) for number, mask in enumerate(masks, 1) if not mask)
            raise SiaynError(f"give every style image a mask, or none: style image {missing} has none")
        settings["style_masks"] = masks
    recipe = chosen_recipe(form, values)
    total = form.style_weight.read(values.get(("option", "style_weight"), form.style_weight.display()))
    if total is None or (total == form.style_weight.read(form.style_weight.display()) and "style_weight" in recipe):
        total = recipe.get("style_weight", form.style_weight.default)  # the recipe's, unless the form changed it
    total = float(total)
    if len(styles) == 1:
        settings["style_weight"] = total
    elif any(masks):  # each style paints its own region with the whole weight
        settings["style_weight"] = [total * share for share in shares]
    else:
        settings["style_weight"] = [total * share / sum(shares) for share in shares]

    for entry in form.entries:
        if isinstance(entry, FormField):
            settings.update(changed_values([entry], [values.get(("option", entry.name), entry.display())]))
            continue
        chosen = values.get(("component", entry.key)) or entry.default
        if entry.key in recipe and str(chosen).strip() == entry.default:
            continue  # a dropdown left at its default leaves the recipe's component, with its options
        settings[entry.key] = str(chosen).strip()
        component = selected_component(registry, entry, chosen)
        fields = entry.fields.get(component, ()) if component else ()
        raws = [values.get(("component", entry.key, component, f.name), f.display()) for f in fields]
        options = changed_values(fields, raws)
        if options:
            settings[entry.options_key] = options

    steps = postprocess_steps(form, values)
    if steps:
        settings["postprocess"] = steps
    return settings


def postprocess_steps(form: Form, values: Mapping[Key, Any]) -> list[dict[str, Any]]:
    """The ticked postprocessors in the order ticked, each ``{"name": ..., **changed options}``."""
    steps = []
    for name in values.get(("postprocess",)) or []:
        fields = form.postprocessors.get(name, ())
        raws = [values.get(("postprocess", name, f.name), f.display()) for f in fields]
        steps.append({"name": name, **changed_values(fields, raws)})
    return steps


def form_image(value: Any) -> str | None:
    """The file path an image widget holds (a path, or Gradio's file data), or None."""
    if isinstance(value, Mapping):
        value = value.get("path")
    if value is None or not str(value).strip():
        return None
    return str(value)
