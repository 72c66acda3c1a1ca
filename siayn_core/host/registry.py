"""Name -> component tables, filled by the plugins' ``register`` callbacks."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..plugin.errors import PluginError, SiaynError, unknown_name_message
from ..plugin.hookspecs import HOOK_FOR_KIND
from ..plugin.options import OptionSpec, build, describe

KINDS: tuple[str, ...] = tuple(HOOK_FOR_KIND)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


@dataclasses.dataclass(frozen=True)
class Component:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def options_type(self) -> type | None:
        """The options dataclass the factory's first parameter is annotated with, if any."""
        return options_type_of(self.factory)

    def options(self) -> list[OptionSpec]:
        """The component's options, in declaration order."""
        return describe(self.options_type)

    def validate(self, options: Mapping[str, Any] | None = None) -> Any:
        """The options dataclass instance built from ``options`` (None for a component
        without options); raises SiaynError without building the component."""
        options = dict(options or {})
        options_type = self.options_type
        if options_type is None:
            if options:
                raise SiaynError(f"{self.kind} {self.name!r} takes no options, got {', '.join(options)}")
            return None
        return build(options_type, options, where=f"{self.kind} {self.name!r}")

    def create(self, options: Mapping[str, Any] | None = None) -> Any:
        """Build the component, validating ``options`` against its options dataclass."""
        validated = self.validate(options)
        return self.factory() if validated is None else self.factory(validated)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as ``siayn components list --json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "aliases": list(self.aliases),
            "plugin": self.plugin,
            "description": self.description,
            "options": [spec.as_dict() for spec in self.options()],
        }


def options_type_of(factory: Callable[..., Any]) -> type | None:
    """The dataclass annotated on ``factory``'s first parameter (``__init__``'s for a class)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        parameters = list(inspect.signature(factory).parameters.values())
        hints = typing.get_type_hints(target)
    except (TypeError, ValueError, NameError):
        return None
    if not parameters:
        return None
    annotation = hints.get(parameters[0].name)
    return annotation if dataclasses.is_dataclass(annotation) else None


class Registry:
    """Every component of every kind, looked up by name or alias (case-insensitive)."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self._by_name: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def add(self, component: Component) -> None:
        """Add a component; a name or alias already taken is a :class:`PluginError`."""
        table = self._by_name[component.kind]
        for key in (component.name, *component.aliases):
            existing = table.get(key)
            if existing is not None and existing is not component:
                raise PluginError(
                    f"{component.kind} name {key!r} is registered by both plugin "
                    f"{existing.plugin!r} and plugin {component.plugin!r}; block one with "
                    f"--plugin no:{component.plugin} or SIAYN_DISABLE_PLUGINS={component.plugin}"
                )
        for key in (component.name, *component.aliases):
            table[key] = component
        self._components[component.kind][component.name] = component

    def get(self, kind: str, name: str) -> Component:
        """The component called ``name`` (or ``name:argument``; see :meth:`create`)."""
        if kind not in self._components:
            raise SiaynError(unknown_name_message("component kind", kind, KINDS))
        base = name.split(":", 1)[0].strip().lower()
        component = self._by_name[kind].get(base)
        if component is None:
            raise SiaynError(unknown_name_message(kind, name, self.names(kind)))
        return component

    def create(self, kind: str, name: str, options: Mapping[str, Any] | None = None) -> Any:
        """Build a component by name.

        ``NAME:ARGUMENT`` (e.g. ``timm:resnet50``) sets the component's first option to
        ``ARGUMENT``.
        """
        component, options = self._with_argument(kind, name, options)
        return component.create(options)

    def validate(self, kind: str, name: str, options: Mapping[str, Any] | None = None) -> Component:
        """Check that ``name`` exists and accepts ``options``, without building it."""
        component, options = self._with_argument(kind, name, options)
        component.validate(options)
        return component

    def _with_argument(
        self, kind: str, name: str, options: Mapping[str, Any] | None
    ) -> tuple[Component, dict[str, Any]]:
        component = self.get(kind, name)
        options = dict(options or {})
        if ":" in name:
            specs = component.options()
            if not specs:
                raise SiaynError(f"{kind} {component.name!r} takes no argument after ':'")
            options.setdefault(specs[0].name, name.split(":", 1)[1])
        return component, options

    def names(self, kind: str) -> list[str]:
        """The primary names of ``kind``, sorted."""
        return sorted(self._components[kind])

    def components(self, kind: str | None = None) -> list[Component]:
        """All components (of one kind), sorted by kind then name."""
        kinds = KINDS if kind is None else (kind,)
        return [self._components[k][n] for k in kinds for n in sorted(self._components[k])]


def validate_registration(name: Any, factory: Any, aliases: Any, description: Any) -> None:
    """Reject a malformed ``register(...)`` call from a plugin."""
    for key in (name, *aliases):
        if not isinstance(key, str) or not _NAME.match(key):
            raise ValueError(f"invalid component name {key!r}: use lower-case letters, digits, '-', '_' or '.'")
    if not callable(factory):
        raise ValueError(f"factory for {name!r} is not callable")
    if not isinstance(description, str):
        raise ValueError(f"description for {name!r} must be a string")
