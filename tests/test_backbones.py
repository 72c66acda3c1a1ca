"""The vgg16, vgg19 and timm backbones: layer naming, truncation, freezing, weights loading."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from siayn_core import Backbone, FeatureExtractor, SiaynError, load_plugins

from .conftest import VGG16_WEIGHTS

SEED_LAYERS = ["conv_1", "conv_3", "conv_5", "conv_7", "conv_11", "conv_8"]


@pytest.fixture(scope="module")
def registry():
    return load_plugins(env={"SIAYN_LOAD_PLUGINS": "vgg,timm"}).registry


@pytest.fixture(scope="module")
def random_vgg(registry):
    """Randomly initialised vgg16 and vgg19 backbones, built once for the module."""
    return {arch: registry.create("backbone", arch, {"weights": "none"}) for arch in ("vgg16", "vgg19")}


def image(size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- VGG layer names


@pytest.mark.parametrize(
    ("arch", "count", "same"),
    [
        ("vgg16", 31, {"conv_8": "conv4_1", "conv_7": "conv3_3", "relu_8": "relu4_1", "conv_13": "conv5_3"}),
        ("vgg19", 37, {"conv_8": "conv3_4", "conv_11": "conv4_3", "relu_8": "relu3_4", "conv_16": "conv5_4"}),
    ],
)
def test_vgg_layers_are_named_canonically_and_the_seed_way(random_vgg, arch, count, same) -> None:
    backbone = random_vgg[arch]
    assert isinstance(backbone, Backbone)
    names = backbone.layer_names()
    assert len(names) == count
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-1] == "pool5" and "conv4_2" in names and "relu4_2" in names and "pool3" in names
    for seed_name, canonical in same.items():
        assert backbone.layer_index(seed_name) == backbone.layer_index(canonical) == names.index(canonical)
    assert backbone.layer_index("CONV4_2") == names.index("conv4_2")


def test_vgg_layer_indices_point_at_the_right_modules(random_vgg) -> None:
    backbone = random_vgg["vgg19"]
    features = backbone.features()
    for name in backbone.layer_names():
        module = features[backbone.layer_index(name)]
        expected = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(module, expected), name


def test_unknown_vgg_layer_names_the_layer_backbone_and_a_suggestion(random_vgg) -> None:
    with pytest.raises(SiaynError) as caught:
        random_vgg["vgg16"].extractor(["conv_1", "conv4_4"])
    message = str(caught.value)
    assert "'conv4_4'" in message and "'vgg16'" in message and "(did you mean 'conv4_3'?)" in message
    assert "relu5_3, pool5" in message and "conv_13" in message and "\n" not in message
    with pytest.raises(SiaynError, match=r"'conv_17' .*did you mean 'conv_.*conv_1 \.\.\. conv_16"):
        random_vgg["vgg19"].extractor(["conv_17"])
    with pytest.raises(SiaynError, match="non-empty"):
        random_vgg["vgg16"].extractor([])


# ---------------------------------------------------------------- VGG extractor


def test_vgg_extractor_truncates_freezes_and_returns_the_requested_keys(random_vgg) -> None:
    backbone = random_vgg["vgg19"]
    extractor = backbone.extractor(SEED_LAYERS)
    assert isinstance(extractor, FeatureExtractor)
    assert len(extractor.features) == backbone.layer_index("conv_11") + 1  # nothing after conv4_3
    assert not extractor.training
    assert all(not p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not extractor.training and not any(m.training for m in extractor.modules())

    x = image().requires_grad_(True)
    outputs = extractor(x)
    assert list(outputs) == SEED_LAYERS
    assert outputs["conv_1"].shape == (1, 64, 32, 32)
    assert outputs["conv_11"].shape == (1, 512, 4, 4)
    sum(o.square().mean() for o in outputs.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0

    assert len(backbone.extractor(["conv_1"]).features) == 1
    assert len(backbone.extractor(["relu1_1"]).features) == 2


def test_vgg_conv_and_its_relu_are_both_correct(random_vgg) -> None:
    """An in-place ReLU must not overwrite a requested convolution output."""
    backbone = random_vgg["vgg16"]
    extractor = backbone.extractor(["conv3_3", "relu3_3", "conv_1"])
    x = image(seed=1)
    outputs = extractor(x)
    assert (outputs["conv3_3"] < 0).any()
    assert torch.equal(outputs["relu3_3"], outputs["conv3_3"].clamp(min=0))

    normalized = (x - extractor.mean) / extractor.std
    reference = normalized
    for module in backbone.features()[: backbone.layer_index("conv3_3") + 1]:
        reference = nn.functional.relu(reference) if isinstance(module, nn.ReLU) else module(reference)
    torch.testing.assert_close(outputs["conv3_3"], reference)


def test_vgg_aliases_of_one_layer_share_the_tensor_and_keep_both_keys(random_vgg) -> None:
    outputs = random_vgg["vgg19"].extractor(["conv_8", "conv3_4"])(image())
    assert list(outputs) == ["conv_8", "conv3_4"]
    assert outputs["conv_8"] is outputs["conv3_4"]


def test_vgg_normalization_uses_the_weights_mean_and_std(registry) -> None:
    normalized = registry.create("backbone", "vgg16", {"weights": "none"}).extractor(["conv_1"])
    assert normalized.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert normalized.std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])
    raw = registry.create("backbone", "vgg16", {"weights": "none", "normalize": "false"}).extractor(["conv_1"])
    raw.features.load_state_dict(normalized.features.state_dict())
    x = image()
    expected = normalized.features((x - normalized.mean) / normalized.std)
    torch.testing.assert_close(normalized(x)["conv_1"], expected)
    torch.testing.assert_close(raw(x)["conv_1"], raw.features(x))


def test_vgg_average_pooling_option(registry) -> None:
    backbone = registry.create("backbone", "vgg19", {"weights": "none", "pooling": "avg"})
    extractor = backbone.extractor(["conv5_1"])
    pools = [m for m in extractor.features if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 4 and all(isinstance(m, nn.AvgPool2d) for m in pools)
    with pytest.raises(SiaynError, match="pooling"):
        registry.create("backbone", "vgg19", {"pooling": "median"})


def test_vgg_extractor_moves_and_runs_channels_last(random_vgg) -> None:
    extractor = random_vgg["vgg16"].extractor(["relu2_1", "conv_5"])
    x = image(seed=2)
    expected = extractor(x)
    extractor.to(torch.float64).to(memory_format=torch.channels_last)
    assert extractor.mean.dtype == torch.float64
    outputs = extractor(x.double().contiguous(memory_format=torch.channels_last))
    for name, value in expected.items():
        torch.testing.assert_close(outputs[name].float(), value, rtol=1e-4, atol=1e-4)
    extractor.to(torch.float32).to(memory_format=torch.contiguous_format)


# ---------------------------------------------------------------- VGG weights


def _random_vgg16_state(prefix: str) -> dict[str, torch.Tensor]:
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    return {prefix + key: value for key, value in features.state_dict().items()}


@pytest.mark.parametrize("prefix", ["features.", ""])
def test_vgg_loads_a_local_state_dict_with_or_without_the_features_prefix(registry, tmp_path, prefix) -> None:
    state = _random_vgg16_state(prefix)
    if prefix:  # a whole-model file: the classifier keys are ignored
        state["classifier.0.bias"] = torch.zeros(4096)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    features = registry.create("backbone", "vgg16", {"weights": str(path)}).features()
    torch.testing.assert_close(features[28].weight, state[prefix + "28.weight"], rtol=0, atol=0)
    torch.testing.assert_close(features[0].bias, state[prefix + "0.bias"], rtol=0, atol=0)


def test_vgg_local_weights_are_loaded_weights_only(registry, tmp_path) -> None:
    path = tmp_path / "pickled.pth"
    torch.save({"features.0.weight": torch.zeros(1), "extra": Path("not a tensor")}, path)
    with pytest.raises(SiaynError, match="could not load weights file"):
        registry.create("backbone", "vgg16", {"weights": str(path)}).features()


def test_vgg_local_weights_with_wrong_keys_or_shapes_are_clear_errors(registry, tmp_path) -> None:
    vgg19_state = {
        "features." + key: value
        for key, value in torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"]).state_dict().items()
    }
    path = tmp_path / "vgg19.pth"
    torch.save(vgg19_state, path)
    with pytest.raises(SiaynError, match=r"does not match vgg16's feature layers: missing .*unexpected"):
        registry.create("backbone", "vgg16", {"weights": str(path)}).features()

    state = _random_vgg16_state("")
    state["0.weight"] = torch.zeros(64, 3, 5, 5)
    torch.save(state, path)
    with pytest.raises(SiaynError, match="does not fit vgg16's feature layers: size mismatch"):
        registry.create("backbone", "vgg16", {"weights": str(path)}).features()

    with pytest.raises(SiaynError, match="does not exist"):
        registry.create("backbone", "vgg16", {"weights": str(tmp_path / "missing.pth")}).features()


def test_vgg_imagenet_weights_offline_is_one_clear_error(registry, tmp_path, monkeypatch) -> None:
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(SiaynError) as caught:
        registry.create("backbone", "vgg19", {}).extractor(["conv_1"])
    message = str(caught.value)
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in message
    assert "\n" not in message


def test_vgg16_imagenet_weights_load_through_torchvision(registry, vgg16_torch_home) -> None:
    extractor = registry.create("backbone", "vgg16", {"weights": "imagenet"}).extractor(["conv_8", "relu4_2"])
    reference = torchvision.models.vgg16(weights=None, init_weights=False).features.eval()
    state = torch.load(VGG16_WEIGHTS, map_location="cpu", weights_only=True)
    reference.load_state_dict({key.removeprefix("features."): value for key, value in state.items()})
    x = image(48, seed=3)
    normalized = torchvision.transforms.functional.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    outputs = extractor(x)
    with torch.no_grad():
        torch.testing.assert_close(outputs["conv_8"], reference[:18](normalized))  # conv4_1
        torch.testing.assert_close(outputs["relu4_2"], reference[:21](normalized))


# ---------------------------------------------------------------- timm


@pytest.fixture(scope="module")
def resnet18(registry):
    return registry.create("backbone", "timm:resnet18", {"weights": "none"})


def test_timm_stages_are_named_by_module_and_index(resnet18) -> None:
    assert isinstance(resnet18, Backbone)
    assert resnet18.options.model == "resnet18"
    assert resnet18.layer_names() == ["act1", "layer1", "layer2", "layer3", "layer4"]
    assert resnet18.layer_index("stage2") == resnet18.layer_index("layer2") == 2
    with pytest.raises(SiaynError) as caught:
        resnet18.extractor(["layer5"])
    assert "'layer5'" in str(caught.value) and "did you mean 'layer4'" in str(caught.value)


def test_timm_extractor_truncates_freezes_and_returns_the_requested_keys(resnet18) -> None:
    extractor = resnet18.extractor(["layer2", "stage1", "act1"])
    assert isinstance(extractor, FeatureExtractor)
    modules = dict(extractor.body.named_children())
    assert "layer2" in modules and "layer3" not in modules and "layer4" not in modules
    assert not extractor.training and all(not p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not any(m.training for m in extractor.modules())
    outputs = extractor(image(64))
    assert list(outputs) == ["layer2", "stage1", "act1"]
    assert outputs["act1"].shape == (1, 64, 32, 32)
    assert outputs["stage1"].shape == (1, 64, 16, 16)
    assert outputs["layer2"].shape == (1, 128, 8, 8)
    assert extractor.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])


def test_timm_loads_a_local_checkpoint(registry, tmp_path) -> None:
    import timm

    model = timm.create_model("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(model.state_dict(), path)
    extractor = registry.create("backbone", "timm:resnet18", {"weights": str(path)}).extractor(["layer1"])
    torch.testing.assert_close(extractor.body.conv1.weight, model.conv1.weight, rtol=0, atol=0)
    torch.testing.assert_close(extractor.body.layer1[0].conv1.weight, model.layer1[0].conv1.weight, rtol=0, atol=0)

    with pytest.raises(SiaynError, match=r"weights file .* does not match timm model .resnet34.: missing layer1.2"):
        registry.create("backbone", "timm:resnet34", {"weights": str(path)}).extractor(["layer1"])


def test_timm_pretrained_offline_is_one_clear_error(registry, monkeypatch) -> None:
    from timm.models import _builder

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(_builder, "load_pretrained", offline)
    with pytest.raises(SiaynError) as caught:
        registry.create("backbone", "timm:resnet18", {}).extractor(["layer1"])
    message = str(caught.value)
    assert "https://huggingface.co/timm/resnet18" in message and "weights" in message
    assert "\n" not in message


def test_unknown_timm_model_suggests_a_name(registry) -> None:
    with pytest.raises(SiaynError, match=r"unknown timm model 'resnet19' \(did you mean 'resnet18'\?\)"):
        registry.create("backbone", "timm:resnet19")


def test_backbone_options_are_described(registry) -> None:
    vgg = {spec.name: spec for spec in registry.get("backbone", "vgg19").options()}
    assert vgg["weights"].default == "imagenet" and vgg["normalize"].default is True
    assert vgg["pooling"].choices == ("max", "avg")
    timm_options = [spec.name for spec in registry.get("backbone", "timm").options()]
    assert timm_options[0] == "model"


@pytest.mark.parametrize(("model", "wrapper"), [("pit_ti_224", "FeatureHookNet"), ("mobilenetv3_small_050", "MobileNetV3Features")])
def test_timm_models_whose_default_wrapper_runs_everything_are_pruned(registry, model: str, wrapper: str) -> None:
    """These models' default feature wrappers run the whole network; SIAYN asks timm for
    one that prunes it after the deepest stage, with the same features for the same weights."""
    import timm

    extractor = registry.create("backbone", f"timm:{model}", {"weights": "none"}).extractor(["stage1"])
    whole = timm.create_model(model, features_only=True, out_indices=(1,), pretrained=False).eval()
    assert type(whole).__name__ == wrapper
    full = timm.create_model(model, pretrained=False).eval()
    extractor.body.model.load_state_dict(full.state_dict(), strict=False)
    getattr(whole, "body", whole).load_state_dict(full.state_dict(), strict=False)  # a hook net wraps the model
    assert sum(p.numel() for p in extractor.parameters()) < sum(p.numel() for p in whole.parameters()) / 2
    x = image(224)
    with torch.no_grad():
        assert torch.allclose(extractor(x)["stage1"], whole(extractor.normalized(x))[0], atol=1e-5)


def test_vgg_layer_names_come_from_the_configuration_without_building_the_network() -> None:
    from torch import nn

    from siayn_vgg.backbone import build_features

    backbone = load_plugins().registry.create("backbone", "vgg19", {"weights": "none"})
    assert backbone._features is None  # checking names builds nothing
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(backbone.layer_names(), build_features("vgg19"), strict=True):
        assert isinstance(module, kinds[name[:4]]), name
    assert backbone.layer_index("conv_16") == backbone.layer_index("conv5_4")
