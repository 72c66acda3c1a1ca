"""VGG feature extractors: torchvision's ``features`` stack, named, truncated and frozen."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from siayn_core import FrozenExtractor, SiaynError, closest, first_line, hub_checkpoint_path

from . import VGGOptions

#: The original configs' layer names: conv_9, relu_9.
_SEED_NAME = re.compile(r"[a-z]+_\d+")
#: Architecture -> (torchvision's layer configuration key, torchvision's weights enum).
ARCHITECTURES: dict[str, tuple[str, type[tv_vgg.WeightsEnum]]] = {
    "vgg16": ("D", tv_vgg.VGG16_Weights),
    "vgg19": ("E", tv_vgg.VGG19_Weights),
}


def build_features(arch: str, *, pooling: str = "max") -> nn.Sequential:
    """torchvision's VGG ``features`` stack with PyTorch's default initialisation.

    Only the convolutional part is built: the classifier holds most of ``vgg16()``'s
    parameters and is never used.
    """
    config_key, _ = ARCHITECTURES[arch]
    features = tv_vgg.make_layers(tv_vgg.cfgs[config_key])
    if pooling == "avg":
        for index, module in enumerate(features):
            if isinstance(module, nn.MaxPool2d):
                features[index] = nn.AvgPool2d(kernel_size=module.kernel_size, stride=module.stride)
    return features


def init_like_torchvision(features: nn.Sequential) -> None:
    """The random initialisation ``torchvision.models.VGG`` gives its convolutions."""
    for module in features:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)


def layer_table(config: Sequence[int | str]) -> tuple[list[str], dict[str, int]]:
    """Canonical names of the modules torchvision's ``make_layers(config)`` builds, and every
    accepted name -> module index, read from the configuration without building anything.

    ``convB_C``/``reluB_C`` is the C-th convolution (and its ReLU) of block B, ``poolB`` the
    pooling that ends block B; ``conv_N``/``relu_N`` count convolutions over the whole net.
    """
    canonical: list[str] = []
    index_of: dict[str, int] = {}
    block, in_block, convs = 1, 0, 0
    for entry in config:
        if entry == "M":
            layers = [(f"pool{block}", None)]
            block, in_block = block + 1, 0
        else:  # a convolution with this many channels, then its ReLU
            in_block += 1
            convs += 1
            layers = [(f"conv{block}_{in_block}", f"conv_{convs}"), (f"relu{block}_{in_block}", f"relu_{convs}")]
        for name, alias in layers:
            index_of[name] = len(canonical)
            canonical.append(name)
            if alias is not None:
                index_of[alias] = index_of[name]
    return canonical, index_of


class VGGFeatureExtractor(FrozenExtractor):
    """A frozen, truncated VGG that returns the requested layers from one forward pass.

    :ivar features: the truncated ``nn.Sequential`` (nothing after the deepest requested layer).
    :ivar layers: the requested layer names, which key the returned mapping (in this order).
    """

    def __init__(
        self,
        features: nn.Sequential,
        taps: Mapping[int, tuple[str, ...]],
        *,
        layers: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        normalize: bool,
    ) -> None:
        super().__init__(mean=mean, std=std, normalize=normalize)
        self.features = features
        self._taps = dict(taps)
        self.layers = tuple(layers)
        self.freeze()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of the requested layers for ``image`` (``(N, 3, H, W)`` RGB in ``[0, 1]``)."""
        x = self.normalized(image)
        outputs: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            names = self._taps.get(index)
            if names is not None:
                for name in names:
                    outputs[name] = x
        return {name: outputs[name] for name in self.layers}


class VGGBackbone:
    """A torchvision VGG whose layers can be named; weights load on the first :meth:`extractor`."""

    def __init__(self, arch: str, options: VGGOptions) -> None:
        self.arch = arch
        self.options = options
        self._weights_enum = ARCHITECTURES[arch][1].IMAGENET1K_V1
        self._features: nn.Sequential | None = None
        self._canonical, self._index_of = layer_table(tv_vgg.cfgs[ARCHITECTURES[arch][0]])
        self._lookup = {name.lower(): index for name, index in self._index_of.items()}

    def __repr__(self) -> str:
        return f"VGGBackbone({self.arch!r}, {self.options!r})"

    @property
    def mean(self) -> tuple[float, ...]:
        """The per-channel mean the ImageNet weights expect (from torchvision's weights meta)."""
        return tuple(self._weights_enum.transforms().mean)

    @property
    def std(self) -> tuple[float, ...]:
        """The per-channel std the ImageNet weights expect (from torchvision's weights meta)."""
        return tuple(self._weights_enum.transforms().std)

    def layer_names(self) -> list[str]:
        """Canonical layer names, shallowest first (``conv_N``/``relu_N`` are accepted too)."""
        return list(self._canonical)

    def layer_index(self, name: str) -> int:
        """The index in ``features`` of the layer called ``name`` (any accepted spelling)."""
        index = self._lookup.get(name.strip().lower())
        if index is None:
            raise SiaynError(self._unknown_layer_message(name))
        return index

    def _unknown_layer_message(self, name: str) -> str:
        convs = sum(layer.startswith("conv") for layer in self._canonical)
        seed_names = [alias for alias in self._index_of if alias not in self._canonical]
        # Suggest a name spelled the way the user spelled theirs (conv_9 or conv4_2).
        same_style = seed_names if _SEED_NAME.fullmatch(name.strip().lower()) else self._canonical
        suggestion = closest(name, same_style) or closest(name, self._index_of)
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        return (
            f"unknown layer {name!r} for backbone {self.arch!r}{hint}; known: {', '.join(self._canonical)} "
            f"(or conv_1 ... conv_{convs} and relu_1 ... relu_{convs}, counting convolutions)"
        )

    def features(self) -> nn.Sequential:
        """The full, frozen ``features`` stack with the chosen weights (loaded once)."""
        if self._features is None:
            features = build_features(self.arch, pooling=self.options.pooling)
            load_weights(features, self.options.weights, arch=self.arch, weights_enum=self._weights_enum)
            self._features = features.requires_grad_(False).eval()
        return self._features

    def extractor(self, layers: Sequence[str]) -> VGGFeatureExtractor:
        """A frozen extractor in eval mode, truncated after the deepest of ``layers``."""
        if isinstance(layers, str) or not layers:
            raise SiaynError(f"backbone {self.arch!r} needs a non-empty list of layer names, got {layers!r}")
        requested = tuple(dict.fromkeys(layers))
        taps: dict[int, tuple[str, ...]] = {}
        for name in requested:
            index = self.layer_index(name)
            taps[index] = (*taps.get(index, ()), name)
        full = self.features()
        modules = list(full[: max(taps) + 1])
        for index, module in enumerate(modules):
            # An in-place ReLU would overwrite the convolution output just collected.
            if isinstance(module, nn.ReLU) and module.inplace and index - 1 in taps:
                modules[index] = nn.ReLU(inplace=False)
        return VGGFeatureExtractor(
            nn.Sequential(*modules),
            taps,
            layers=requested,
            mean=self.mean,
            std=self.std,
            normalize=self.options.normalize,
        )


def load_weights(features: nn.Sequential, weights: str, *, arch: str, weights_enum: tv_vgg.WeightsEnum) -> None:
    """Fill ``features`` from ``weights``: 'imagenet', 'none' or a state dict file."""
    choice = weights.strip()
    if choice.lower() == "none":
        init_like_torchvision(features)
        return
    if choice.lower() == "imagenet":
        state = imagenet_state_dict(weights_enum, arch=arch)
        source = f"torchvision's {arch} {weights_enum.name} weights"
    else:
        path = Path(choice).expanduser()
        state = read_state_dict(path, arch=arch)
        source = f"weights file {path}"
    load_features_state(features, state, source=source, arch=arch)


def imagenet_state_dict(weights_enum: tv_vgg.WeightsEnum, *, arch: str) -> Mapping[str, torch.Tensor]:
    """torchvision's ImageNet weights, from the torch hub cache or downloaded into it."""
    cached = hub_checkpoint_path(weights_enum.url)
    was_cached = cached.is_file()
    try:
        return weights_enum.get_state_dict(progress=True, map_location="cpu", weights_only=True)
    except OSError as error:  # URLError, HTTPError, socket and disk errors
        if was_cached:
            raise SiaynError(f"could not read the cached {arch} weights {cached}: {first_line(error)}") from None
        raise SiaynError(
            f"could not download the {arch} ImageNet weights from {weights_enum.url} "
            f"({first_line(error)}); download that file and place it at {cached}, "
            f"or set the backbone option weights to a local state dict file"
        ) from None
    except Exception as error:  # torch.load's errors vary with how the file is damaged
        raise SiaynError(
            f"could not read the cached {arch} weights {cached} ({first_line(error)}); "
            f"delete it to download it again"
        ) from None


def read_state_dict(path: Path, *, arch: str) -> Mapping[str, torch.Tensor]:
    """A state dict from a local file, loaded with ``weights_only=True`` (no arbitrary code)."""
    if not path.is_file():
        raise SiaynError(
            f"weights file {path} for backbone {arch!r} does not exist "
            "(weights takes 'imagenet', 'none' or the path of a state dict file)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load's errors vary with what the file holds
        raise SiaynError(f"could not load weights file {path} as a state dict: {first_line(error)}") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SiaynError(f"weights file {path} does not hold a state dict (a mapping of names to tensors)")
    return state


def load_features_state(
    features: nn.Sequential, state: Mapping[str, torch.Tensor], *, source: str, arch: str
) -> None:
    """Load a torchvision-layout state dict (``features.N.weight`` or ``N.weight``) into ``features``."""
    if any(key.startswith("features.") for key in state):
        state = {key.removeprefix("features."): value for key, value in state.items() if key.startswith("features.")}
    expected = set(features.state_dict())
    missing = sorted(expected - set(state), key=_natural)
    unexpected = sorted(set(state) - expected, key=_natural)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {_few(missing)}")
        if unexpected:
            problems.append(f"unexpected {_few(unexpected)}")
        raise SiaynError(
            f"{source} does not match {arch}'s feature layers: {'; '.join(problems)} "
            "(expected torchvision's keys, e.g. 'features.0.weight' or '0.weight')"
        )
    try:
        features.load_state_dict(state)
    except RuntimeError as error:
        shapes = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise SiaynError(f"{source} does not fit {arch}'s feature layers: {'; '.join(shapes[:2]) or error}") from None


def _natural(key: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in key.split("."))


def _few(keys: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


