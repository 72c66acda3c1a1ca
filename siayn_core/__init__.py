"""SIAYN ("Style Is All You Need"): neural style transfer by image optimization, built from plugins.

The public API is ``__all__``, in two parts: :data:`PLUGIN_API`, everything a plugin may
use, and :data:`LIBRARY_API`, what a script calls (``stylize("photo.jpg", "starry.jpg",
size=512)``). Names backed by torch are imported on first use, so ``import siayn_core``
stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

from .plugin.errors import PluginError, SiaynError, closest, first_line, unknown_name_message
from .plugin.hookspecs import Register, hookimpl, hookspec
from .plugin.options import OptionSpec, option
from .plugin.hypercolumns import PIXELS, SamplePositions, draw_positions, read_hypercolumns
from .plugin.stages import StageContext
from .host.plugins import PluginHost, PluginInfo, load_plugins
from .plugin.protocols import (
    Backbone,
    CarryingOptimizerFactory,
    FeatureExtractor,
    Initialiser,
    Loss,
    Masker,
    OptimizerFactory,
    Parametrization,
    ParametrizedImage,
    PostprocessContext,
    PostprocessFormat,
    PostprocessJob,
    Postprocessor,
    PostprocessRequest,
    ProjectingOptimizer,
    TileableLoss,
)
from .plugin.pixels import PixelImage, Pixels
from .host.registry import KINDS, Component, Registry

__version__ = "0.1.0"

# The plugin surface: what a backbone, loss, initialiser, optimizer, parametrization, masker,
# postprocessor, postprocess format or batch executor uses.
PLUGIN_API = [
    "KINDS",
    "Backbone",
    "BatchJob",
    "CarryingOptimizerFactory",
    "Component",
    "Executor",
    "FeatureExtractor",
    "FrozenExtractor",
    "Initialiser",
    "Job",
    "JobOutcome",
    "Loss",
    "Masker",
    "OptimizerFactory",
    "OptionSpec",
    "Parametrization",
    "ParametrizedImage",
    "PixelImage",
    "Pixels",
    "PluginError",
    "PostprocessContext",
    "PostprocessFormat",
    "PostprocessJob",
    "PostprocessRequest",
    "Postprocessor",
    "ProjectingOptimizer",
    "Register",
    "SiaynError",
    "TileableLoss",
    "closest",
    "first_line",
    "hookimpl",
    "hookspec",
    "option",
    "run_job",
    "unknown_name_message",
    # hypercolumns: several layers read at shared positions
    "PIXELS",
    "SamplePositions",
    "draw_positions",
    "read_hypercolumns",
    # targets computed anew at each stage of a run
    "StageContext",
    # devices and weights, resolved as the engine resolves them
    "DEVICES",
    "hub_checkpoint_path",
    "resolve_device",
    # image helpers, so that plugins read, size and write pictures as the core does
    "IMAGE_SUFFIXES",
    "atomic_path",
    "image_files",
    "read_image",
    "resize",
    "scaled_size",
    "to_pil",
    "to_tensor",
    "write_image",
    "write_text",
    "unique_path",
]

# The library surface: what a script or notebook calls.
LIBRARY_API = [
    "PluginHost",
    "PluginInfo",
    "Registry",
    "StylizeOptions",
    "__version__",
    "load_plugins",
    "stylize",
]

# Public names whose modules import torch or other heavy libraries: loaded on first access.
_LAZY: dict[str, str] = {
    "BatchJob": ".batch.jobs",
    "Executor": ".batch.jobs",
    "Job": ".batch.jobs",
    "JobOutcome": ".batch.jobs",
    "run_job": ".batch.jobs",
    "DEVICES": ".engine.devices",
    "FrozenExtractor": ".plugin.extractor",
    "IMAGE_SUFFIXES": ".io.images",
    "hub_checkpoint_path": ".io.hub",
    "resolve_device": ".engine.devices",
    "StylizeOptions": ".config.schema",
    "read_image": ".io.images",
    "resize": ".io.images",
    "scaled_size": ".io.images",
    "stylize": ".api",
    "to_tensor": ".io.images",
    "to_pil": ".io.images",
    "write_image": ".io.images",
    "write_text": ".io.images",
    "atomic_path": ".io.images",
    "image_files": ".io.images",
    "unique_path": ".io.images",
}

__all__ = [*PLUGIN_API, *LIBRARY_API]


# Module paths published before the core had layer subpackages, kept importable as aliases.
MOVED_MODULES: dict[str, str] = {
    "siayn_core.batch_jobs": "siayn_core.batch.jobs",
    "siayn_core.hookspecs": "siayn_core.plugin.hookspecs",
    "siayn_core.options": "siayn_core.plugin.options",
    "siayn_core.protocols": "siayn_core.plugin.protocols",
    "siayn_core.registry": "siayn_core.host.registry",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path (:data:`MOVED_MODULES`) as the module it moved to."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module it moved to has run already: give it back its own spec, which the
        import system replaced with the alias's (its relative imports resolve from it)."""
        alias = module.__spec__
        if alias is not None and isinstance(alias.loader_state, importlib.machinery.ModuleSpec):
            module.__spec__ = alias.loader_state


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'siayn_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
