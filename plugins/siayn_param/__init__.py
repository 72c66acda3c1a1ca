"""Built-in parametrizations: what the optimizer moves to change the image.

``pixels`` (each pixel, the default) and ``laplacian`` (the bands of a Laplacian pyramid, as
STROTSS and NNST optimize it). The pyramid lives in :mod:`siayn_param.pyramid`, imported by the
factory so that loading this plugin does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siayn_core import Pixels, hookimpl, option


@dataclass(frozen=True)
class LaplacianOptions:
    """Options of the ``laplacian`` parametrization."""

    levels: int = option(
        5,
        help="bands of the pyramid, the full size first, each coarser one half the size of the one "
        "before (fewer where the image reaches 1 px first); 1 is the pixels",
        minimum=1,
        maximum=16,
    )


def make_laplacian(options: LaplacianOptions) -> Any:
    """Build the ``laplacian`` parametrization."""
    from .pyramid import Laplacian

    return Laplacian(levels=options.levels)


@hookimpl
def register_parametrizations(register):  # type: ignore[no-untyped-def]
    register("pixels", Pixels, description="Each pixel is a parameter (the usual image optimization).")
    register(
        "laplacian",
        make_laplacian,
        aliases=("laplacian-pyramid",),
        description="The bands of a Laplacian pyramid (STROTSS, NNST): coarse forms move as readily as texture.",
    )
