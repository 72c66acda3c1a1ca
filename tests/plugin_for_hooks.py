"""A plugin, written as a third party would, with one small component for every hook.

``tests/test_hooks.py`` loads it with ``--plugin tests.plugin_for_hooks`` and runs each
component where a user would meet it; :data:`CALLS` counts which components were used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image, ImageOps

from siayn_core import Job, JobOutcome, PostprocessRequest, SiaynError, hookimpl, option, run_job

#: Component name -> how often it was used in this process.
CALLS: Counter[str] = Counter()

LAYERS = ("conv1", "relu1", "conv2", "relu2")


class TinyNet:
    """Two seeded random convolutions, named without being built."""

    def layer_names(self) -> Sequence[str]:
        return LAYERS

    def layer_index(self, name: str) -> int:
        if name not in LAYERS:
            raise SiaynError(f"backbone 'hooktest-net' has no layer {name!r}")
        return LAYERS.index(name)

    def extractor(self, layers: Sequence[str]) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        CALLS["hooktest-net"] += 1
        generator = torch.Generator().manual_seed(0)
        first, second = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)
        with torch.no_grad():
            for conv in (first, second):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
        network = torch.nn.Sequential(first, torch.nn.ReLU(), second, torch.nn.ReLU()).eval().requires_grad_(False)

        def extract(image: torch.Tensor) -> dict[str, torch.Tensor]:
            found, x = {}, image
            for name, module in zip(LAYERS, network):
                x = module(x)
                if name in layers:
                    found[name] = x
            return found

        return extract


class AbsoluteDifference:
    """Content loss: the mean absolute difference of the features."""

    combines = "mean"

    def target(self, features: torch.Tensor) -> torch.Tensor:
        return features.detach()

    def __call__(self, features: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        CALLS["hooktest-abs"] += 1
        return (features - target).abs().mean()


@dataclass(frozen=True)
class GreyOptions:
    """Options of ``hooktest-grey``."""

    level: float = option(0.5, help="the grey level the run starts from", minimum=0.0, maximum=1.0)


class Grey:
    """Starts from a flat grey image."""

    def __init__(self, options: GreyOptions) -> None:
        self.level = options.level

    def __call__(self, content: torch.Tensor, styles: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        CALLS["hooktest-grey"] += 1
        return torch.full_like(content, self.level)


class PlainSGD:
    """``torch.optim.SGD`` over the image."""

    def __call__(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        CALLS["hooktest-sgd"] += 1
        return torch.optim.SGD(params, lr=0.01)


class SigmoidImage:
    """The image as the sigmoid of unbounded values, which never leaves (0, 1)."""

    def __init__(self, image: torch.Tensor) -> None:
        self.logits = image.detach().clamp(1e-4, 1 - 1e-4).logit().requires_grad_(True)

    def parameters(self) -> Sequence[torch.Tensor]:
        return [self.logits]

    def render(self) -> torch.Tensor:
        return self.logits.sigmoid()

    def project(self, low: float, high: float) -> bool:
        CALLS["hooktest-sigmoid projections"] += 1
        return True


class Sigmoid:
    """Encodes each stage's start image as logits."""

    def encode(self, image: torch.Tensor) -> SigmoidImage:
        CALLS["hooktest-sigmoid"] += 1
        return SigmoidImage(image)


class Invert:
    """The negative of the image."""

    def __call__(self, image: Image.Image, context: Any) -> Image.Image:
        CALLS["hooktest-invert"] += 1
        return ImageOps.invert(image.convert("RGB"))


class LeftHalf:
    """Calls the left half of any photo its foreground."""

    def __call__(self, image: Image.Image) -> Image.Image:
        CALLS["hooktest-left"] += 1
        mask = Image.new("L", image.size, 0)
        mask.paste(255, (0, 0, image.width // 2, image.height))
        return mask


@dataclass(frozen=True)
class NegativeKeys:
    """Keys of ``hooktest-keys``."""

    negative_of: str | None = option(None, help="an image to invert")


class NegativeFormat:
    """``negative_of: IMAGE`` in a ``siayn postprocess`` config inverts IMAGE."""

    def __init__(self, options: NegativeKeys) -> None:
        self.negative_of = options.negative_of

    def __call__(self, request: PostprocessRequest) -> list[Any]:
        image = request.optional("negative_of", self.negative_of, what="image to invert")
        return [request.job(image, ["hooktest-invert"])] if image else []


class Inline:
    """Runs every job here, last first (any order is allowed)."""

    def run(self, jobs: Sequence[Job], report: Callable[[JobOutcome], None]) -> None:
        for job in reversed(jobs):
            CALLS["hooktest-inline"] += 1
            report(run_job(job))


@hookimpl
def register_backbones(register: Any) -> None:
    register("hooktest-net", TinyNet, description="Two seeded random convolutions.")


@hookimpl
def register_losses(register: Any) -> None:
    register("hooktest-abs", AbsoluteDifference, description="Mean absolute difference of features.")


@hookimpl
def register_initialisers(register: Any) -> None:
    register("hooktest-grey", Grey, description="A flat grey start.")


@hookimpl
def register_optimizers(register: Any) -> None:
    register("hooktest-sgd", PlainSGD, description="Plain SGD.")


@hookimpl
def register_parametrizations(register: Any) -> None:
    register("hooktest-sigmoid", Sigmoid, description="The sigmoid of unbounded values.")


@hookimpl
def register_postprocessors(register: Any) -> None:
    register("hooktest-invert", Invert, aliases=("hooktest-negative",), description="The negative.")


@hookimpl
def register_maskers(register: Any) -> None:
    register("hooktest-left", LeftHalf, description="The left half.")


@hookimpl
def register_postprocess_formats(register: Any) -> None:
    register("hooktest-keys", NegativeFormat, description="negative_of: IMAGE.")


@hookimpl
def register_executors(register: Any) -> None:
    register("hooktest-inline", Inline, description="Here, last job first.")
