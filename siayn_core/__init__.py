"""SIAYN ("Style Is All You Need"): neural style transfer by image optimization, built from plugins.

Everything a plugin may use is importable from this package; the names in ``__all__``
are the public API. Names backed by torch are imported on first use, so
``import siayn_core`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import PluginError, SiaynError, closest, unknown_name_message
from .hookspecs import Register, hookimpl, hookspec
from .options import OptionSpec, coerce, describe, option
from .plugins import PluginHost, PluginInfo, load_plugins
from .protocols import (
    Backbone,
    FeatureExtractor,
    Initialiser,
    Loss,
    OptimizerFactory,
    PostprocessContext,
    Postprocessor,
)
from .registry import KINDS, Component, Registry

__version__ = "0.1.0"

# Public names whose modules import torch or other heavy libraries: loaded on first access.
_LAZY: dict[str, str] = {
    "FrozenExtractor": ".extractor",
    "read_image": ".image_io",
    "resize": ".image_io",
    "scaled_size": ".image_io",
    "to_tensor": ".image_io",
    "to_pil": ".image_io",
    "write_image": ".image_io",
    "write_text": ".image_io",
    "atomic_path": ".image_io",
    "image_files": ".postprocess",
    "unique_path": ".postprocess",
}

__all__ = [
    "KINDS",
    "Backbone",
    "Component",
    "FeatureExtractor",
    "Initialiser",
    "Loss",
    "OptimizerFactory",
    "OptionSpec",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PostprocessContext",
    "Postprocessor",
    "Register",
    "Registry",
    "SiaynError",
    "__version__",
    "closest",
    "coerce",
    "describe",
    "hookimpl",
    "hookspec",
    "load_plugins",
    "option",
    "unknown_name_message",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'siayn_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
