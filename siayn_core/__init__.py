"""SIAYN ("Style Is All You Need"): neural style transfer by image optimization, built from plugins.

The public API is ``__all__``, in two parts: :data:`PLUGIN_API`, everything a plugin may
use, and :data:`LIBRARY_API`, what a script calls (``stylize("photo.jpg", "starry.jpg",
size=512)``). Names backed by torch are imported on first use, so ``import siayn_core``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import PluginError, SiaynError, closest, first_line, unknown_name_message
from .hookspecs import Register, hookimpl, hookspec
from .options import OptionSpec, option
from .plugins import PluginHost, PluginInfo, load_plugins
from .protocols import (
    Backbone,
    FeatureExtractor,
    Initialiser,
    Loss,
    Masker,
    OptimizerFactory,
    PostprocessContext,
    PostprocessFormat,
    PostprocessJob,
    Postprocessor,
    PostprocessRequest,
    TileableLoss,
)
from .registry import KINDS, Component, Registry

__version__ = "0.1.0"

# The plugin surface: what a backbone, loss, initialiser, optimizer, masker, postprocessor,
# postprocess format or batch executor uses.
PLUGIN_API = [
    "KINDS",
    "Backbone",
    "BatchJob",
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
    "PluginError",
    "PostprocessContext",
    "PostprocessFormat",
    "PostprocessJob",
    "PostprocessRequest",
    "Postprocessor",
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
    "BatchJob": ".batch_jobs",
    "Executor": ".batch_jobs",
    "Job": ".batch_jobs",
    "JobOutcome": ".batch_jobs",
    "run_job": ".batch_jobs",
    "DEVICES": ".devices",
    "FrozenExtractor": ".extractor",
    "IMAGE_SUFFIXES": ".image_io",
    "hub_checkpoint_path": ".hub",
    "resolve_device": ".devices",
    "StylizeOptions": ".config",
    "read_image": ".image_io",
    "resize": ".image_io",
    "scaled_size": ".image_io",
    "stylize": ".api",
    "to_tensor": ".image_io",
    "to_pil": ".image_io",
    "write_image": ".image_io",
    "write_text": ".image_io",
    "atomic_path": ".image_io",
    "image_files": ".postprocess",
    "unique_path": ".postprocess",
}

__all__ = [*PLUGIN_API, *LIBRARY_API]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'siayn_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
