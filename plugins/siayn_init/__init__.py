"""Built-in initialisers: the image the optimization starts from.

``random`` (Gaussian noise), ``content`` (the content image) and ``style`` (a style image
resized to the output size). The implementations live in :mod:`siayn_init.starts`, imported
by the factories so that loading this plugin does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siayn_core import hookimpl, option


@dataclass(frozen=True)
class RandomOptions:
    """Options of the ``random`` initialiser."""

    mean: float = option(0.5, help="mean of the Gaussian noise (0 black, 1 white)", minimum=0.0, maximum=1.0)
    std: float = option(0.25, help="standard deviation of the noise; values are clamped to [0, 1]", minimum=0.0)


@dataclass(frozen=True)
class ContentOptions:
    """Options of the ``content`` initialiser."""

    noise: float = option(
        0.0, help="standard deviation of Gaussian noise added to the content image (0: none)", minimum=0.0
    )


@dataclass(frozen=True)
class StyleOptions:
    """Options of the ``style`` initialiser."""

    index: int = option(0, help="which style image to start from (0: the first)", minimum=0)


def make_random(options: RandomOptions) -> Any:
    """Build the ``random`` initialiser."""
    from .starts import GaussianNoise

    return GaussianNoise(mean=options.mean, std=options.std)


def make_content(options: ContentOptions) -> Any:
    """Build the ``content`` initialiser."""
    from .starts import FromContent

    return FromContent(noise=options.noise)


def make_style(options: StyleOptions) -> Any:
    """Build the ``style`` initialiser."""
    from .starts import FromStyle

    return FromStyle(index=options.index)


@hookimpl
def register_initialisers(register):  # type: ignore[no-untyped-def]
    register("random", make_random, aliases=("noise",), description="Gaussian noise.")
    register("content", make_content, description="The content image (converges fastest).")
    register("style", make_style, description="A style image, resized to the output size.")
