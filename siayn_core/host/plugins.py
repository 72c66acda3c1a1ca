"""The plugin manager: entry points, ``--plugin`` modules, blocking, load errors.

Plugins are found in the ``siayn`` entry-point group (built-in ones too) and in modules
the user names with ``--plugin MODULE``. Environment variables:

``SIAYN_LOAD_PLUGINS``
    comma list: load only these entry points.
``SIAYN_DISABLE_PLUGINS``
    comma list of plugins not to load.
``SIAYN_STRICT_PLUGINS=1``
    a plugin that fails to load is fatal instead of reported and skipped.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import pluggy

from ..plugin import hookspecs
from ..plugin.errors import PluginError, first_line
from .registry import Component, Registry, validate_registration

ENTRY_POINT_GROUP = "siayn"
logger = logging.getLogger("siayn")


@dataclasses.dataclass
class PluginInfo:
    """What ``siayn plugins list`` shows about one plugin."""

    name: str
    package: str | None = None
    version: str | None = None
    hooks: list[str] = dataclasses.field(default_factory=list)
    components: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view with keys name, package, version, hooks, components, error."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PluginHost:
    """The loaded plugins and the registry they filled."""

    manager: pluggy.PluginManager
    registry: Registry
    plugins: list[PluginInfo]

    @property
    def errors(self) -> list[PluginInfo]:
        """The plugins that failed to load and were skipped."""
        return [info for info in self.plugins if info.error]


def _env_list(env: Mapping[str, str], key: str) -> list[str] | None:
    raw = env.get(key)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {first_line(error)}" if str(error).strip() else type(error).__name__


def load_plugins(
    extra_modules: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    on_error: Callable[[PluginInfo], None] | None = None,
) -> PluginHost:
    """Load every plugin and build the registry.

    :param extra_modules: dotted module paths to register as plugins for this call;
        ``no:NAME`` blocks plugin ``NAME`` instead. A module that cannot be imported is a
        :class:`PluginError` (an installed entry point that fails is reported and skipped).
    :param env: the environment to read the ``SIAYN_*`` variables from (default ``os.environ``).
    :param on_error: called for each plugin that failed and was skipped (default: a warning
        through the ``siayn`` logger).
    :raises PluginError: on a name collision, an extra module that cannot be imported, or
        any load error in strict mode.
    """
    env = os.environ if env is None else env
    strict = env.get("SIAYN_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}
    blocked = set(_env_list(env, "SIAYN_DISABLE_PLUGINS") or [])
    modules = []
    for spec in extra_modules:
        if spec.startswith("no:"):
            blocked.add(spec[3:])
        else:
            modules.append(spec)
    only = _env_list(env, "SIAYN_LOAD_PLUGINS")

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    loaded: list[tuple[PluginInfo, ModuleType]] = []

    def fail(info: PluginInfo, error: BaseException) -> None:
        info.error = _describe_error(error)
        if strict:
            raise PluginError(
                f"plugin {info.name!r} failed to load: {info.error} (SIAYN_STRICT_PLUGINS is set)"
            ) from error
        (on_error or _warn)(info)

    for entry_point in _entry_points():
        if entry_point.name in blocked or (only is not None and entry_point.name not in only):
            continue
        dist = entry_point.dist
        info = PluginInfo(
            name=entry_point.name,
            package=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        infos.append(info)
        try:
            loaded.append((info, entry_point.load()))
        except Exception as error:  # a broken plugin must not break every command
            fail(info, error)

    for module_name in modules:
        if module_name in blocked:
            continue
        info = PluginInfo(name=module_name, package=_package_of(module_name))
        if info.package:
            info.version = importlib.metadata.version(info.package)
        infos.append(info)
        try:
            loaded.append((info, importlib.import_module(module_name)))
        except Exception as error:
            # The user asked for this module by name: running on without it would hide the typo.
            raise PluginError(
                f"--plugin {module_name}: the module cannot be imported: {_describe_error(error)}"
            ) from None

    registry = Registry()
    for info, module in loaded:
        try:
            components = _collect(info, module, manager)
        except Exception as error:
            if manager.is_registered(module):
                manager.unregister(module)
            fail(info, error)
            continue
        for component in components:
            registry.add(component)
            info.components.setdefault(component.kind, []).append(component.name)
    return PluginHost(manager=manager, registry=registry, plugins=infos)


def _collect(info: PluginInfo, module: ModuleType, manager: pluggy.PluginManager) -> list[Component]:
    """Register ``module`` with pluggy and call each of its hooks, gathering components.

    Hooks are called one plugin at a time (not through ``manager.hook``) so that every
    component and every error is attributed to the plugin it came from.
    """
    if manager.is_registered(module) or manager.has_plugin(info.name):
        raise PluginError(f"plugin {info.name!r} is loaded twice")
    manager.register(module, name=info.name)
    components: list[Component] = []
    for kind, hook_name in hookspecs.HOOK_FOR_KIND.items():
        impls = [i for i in getattr(manager.hook, hook_name).get_hookimpls() if i.plugin is module]
        for impl in impls:
            info.hooks.append(hook_name)
            register = _register_callback(kind, info.name, components)
            arguments = {"register": register}
            impl.function(*[arguments[name] for name in impl.argnames])
    return components


def _register_callback(kind: str, plugin: str, sink: list[Component]) -> hookspecs.Register:
    def register(
        name: str,
        factory: Callable[..., Any],
        *,
        aliases: Iterable[str] = (),
        description: str = "",
    ) -> None:
        aliases = tuple(aliases)
        validate_registration(name, factory, aliases, description)
        sink.append(Component(kind, name, factory, plugin, aliases, description))

    return register


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    seen: set[str] = set()
    result = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in seen:  # the same distribution found twice on sys.path
            seen.add(entry_point.name)
            result.append(entry_point)
    return sorted(result, key=lambda ep: ep.name)


def _package_of(module_name: str) -> str | None:
    top = module_name.split(".", 1)[0]
    packages = importlib.metadata.packages_distributions().get(top)
    return packages[0] if packages else None


def _warn(info: PluginInfo) -> None:
    logger.warning("plugin %r failed to load and was skipped: %s", info.name, info.error)
