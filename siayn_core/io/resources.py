"""Files shipped inside the package: the example images and the default configs.

In an installed wheel the configs sit in ``siayn_core/configs``; in a source checkout they
are the repository's top-level ``configs/`` folder, read in place.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

STYLIZE_CONFIG_NAME = "style_transfer_default.yaml"
POSTPROCESS_CONFIG_NAME = "postprocessing_default.yaml"


def examples_dir() -> Path:
    """The folder of the example images shipped inside the package."""
    return Path(str(importlib.resources.files("siayn_core") / "examples"))


def bundled_config(name: str) -> Path:
    """The bundled config file ``name`` (say, :data:`STYLIZE_CONFIG_NAME`)."""
    packaged = Path(str(importlib.resources.files("siayn_core") / "configs" / name))
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "configs" / name
