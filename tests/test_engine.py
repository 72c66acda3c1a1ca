"""The stylize engine: the loop, its callbacks, and every seed option's effect on the result.

Everything runs on tiny images with a randomly initialised VGG16 (weights 'none'), which the
run's seed makes repeatable; the real-weights checks live in test_quality.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from PIL import Image

from siayn_core import SiaynError
from siayn_core.config.build import build_options
from siayn_core.io.resources import examples_dir
from siayn_core.engine.devices import resolve_device
from siayn_core.engine import stylize
from siayn_core.engine.loop import Iterate
from siayn_core.io.images import read_image, to_tensor
from siayn_core.host.registry import Component, Registry

SEED = 7


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    def load(name: str, size: tuple[int, int]) -> Image.Image:
        return read_image(examples_dir() / name).resize(size, Image.Resampling.LANCZOS)

    return {
        "content": load("tubingen.jpg", (40, 30)),
        "starry": load("starry_night.jpg", (48, 30)),
        "wave": load("great_wave.jpg", (36, 36)),
    }


def tiny(**settings: Any):
    """Options for a fast run: random VGG16, few steps."""
    base: dict[str, Any] = {"backbone_options": {"weights": "none"}, "num_steps": 5}
    base.update(settings)
    return build_options(base, where="test")


def run(registry, images, styles=("starry",), seed=SEED, callback=None, **settings):
    return stylize(
        images["content"],
        [images[name] for name in styles],
        tiny(style=list(styles), **settings),
        registry=registry,
        device="cpu",
        seed=seed,
        callback=callback,
    )


#: For tests of how the loss falls in a few steps: with random weights on a 40x30 px image,
#: bfloat16's rounding of the backbone (``precision: auto`` on a CPU that computes it
#: natively) makes the first steps' loss erratic; with the real weights it falls as in float32
#: (tests/test_quality.py).
FLOAT32 = {"precision": "float32"}

#: One Adam step with a zero learning rate: the result is the initialiser's image.
START_ONLY = {"num_steps": 1, "opt": "adam", "lr": 0.0}


def copy_of(registry: Registry) -> Registry:
    """A new registry holding the same components, for a test to add its own to."""
    copy = Registry()
    for component in registry.components():
        copy.add(component)
    return copy


def last(result, key: str) -> float:
    return result.losses[-1][key]


def total_variation(image: torch.Tensor) -> float:
    return float((image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., 1:] - image[..., :-1]).abs().mean())


# --- the loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("opt", ["lbfgs", "adam", "rmsprop"])
def test_one_backbone_forward_per_step_for_every_optimizer(registry, images, opt) -> None:
    """num_steps counts objective evaluations; each is one forward pass serving every loss."""
    calls = []
    counting = copy_of(registry)
    vgg16 = registry.get("backbone", "vgg16")

    def make_counting(options: Any) -> Any:
        backbone = vgg16.factory(options)

        class Counting:
            def layer_names(self):
                return backbone.layer_names()

            def extractor(self, layers):
                inner = backbone.extractor(layers)

                def extract(image):
                    calls.append(tuple(image.shape))
                    return inner(image)

                return extract

        return Counting()

    make_counting.__annotations__["options"] = vgg16.options_type
    counting.add(Component("backbone", "counting", make_counting, "test"))
    result = stylize(
        images["content"],
        [images["starry"], images["wave"]],
        tiny(backbone="counting", opt=opt, num_steps=6),
        registry=counting,
        device="cpu",
        seed=SEED,
    )
    assert result.steps == 6 and [r["step"] for r in result.losses] == list(range(1, 7))
    # targets: the content and the two styles once each, then one pass per step
    assert len(calls) == 3 + 6


def test_loss_records_and_iterates(registry, images) -> None:
    seen: list[Iterate] = []
    result = run(registry, images, callback=seen.append, num_steps=4, **FLOAT32)
    assert [it.step for it in seen] == [1, 2, 3, 4] and all(it.num_steps == 4 for it in seen)
    for record, iterate in zip(result.losses, seen):
        assert set(record) == {"step", "total", "content", "style", "tv"}
        assert record["total"] == pytest.approx(record["content"] + record["style"] + record["tv"], rel=1e-5)
        assert iterate.losses == {k: v for k, v in record.items() if k != "step"}
        assert iterate.image.shape == (1, 3, 30, 40) and not iterate.image.requires_grad
        assert 0 <= float(iterate.image.min()) and float(iterate.image.max()) <= 1
    assert seen[-1].elapsed > 0 and result.seconds >= seen[-1].elapsed
    assert result.losses[-1]["total"] < result.losses[0]["total"]
    assert result.device == "cpu" and result.seed == SEED and not result.stopped
    assert result.components["opt"]["component"] == "lbfgs"


def test_callback_returning_true_stops_and_keeps_the_image(registry, images) -> None:
    kept = {}

    def stop_at_two(iterate: Iterate) -> bool:
        kept["image"] = iterate.image
        return iterate.step == 2

    result = run(registry, images, callback=stop_at_two, num_steps=10)
    assert result.stopped and result.steps == 2 and len(result.losses) == 2
    assert torch.equal(result.image, kept["image"])


def test_output_is_clamped_to_the_valid_range(registry, images) -> None:
    # Adam with a huge step overshoots [0, 1] inside the optimization; the output never does.
    seen = []
    result = run(registry, images, opt="adam", lr=5.0, num_steps=3, callback=lambda it: seen.append(it.image))
    assert float(result.image.min()) >= 0.0 and float(result.image.max()) <= 1.0
    assert float((result.image == 0).float().mean() + (result.image == 1).float().mean()) > 0.2
    assert result.image.device.type == "cpu" and result.image.shape == (1, 3, 30, 40)


def test_same_seed_repeats_bit_for_bit_and_another_seed_differs(registry, images) -> None:
    first = run(registry, images, init_method="random", num_steps=3, seed=11)
    second = run(registry, images, init_method="random", num_steps=3, seed=11)
    other = run(registry, images, init_method="random", num_steps=3, seed=12)
    assert torch.equal(first.image, second.image) and first.losses == second.losses
    assert not torch.equal(first.image, other.image)


def test_seed_from_the_options_and_a_drawn_seed_is_reported(registry, images) -> None:
    from_options = stylize(images["content"], [images["starry"]], tiny(seed=5, num_steps=1),
                           registry=registry, device="cpu")
    assert from_options.seed == 5
    drawn = stylize(images["content"], [images["starry"]], tiny(num_steps=1), registry=registry, device="cpu")
    assert isinstance(drawn.seed, int)


def test_a_diverging_loss_is_a_clear_error(registry, images) -> None:
    nan_registry = copy_of(registry)

    class NaNLoss:
        def target(self, features):
            return features

        def __call__(self, features, target):
            return features.sum() * float("nan")

    nan_registry.add(Component("loss", "nan", lambda: NaNLoss(), "test"))
    with pytest.raises(SiaynError, match="diverged"):
        stylize(images["content"], [images["starry"]], tiny(content_loss="nan"), registry=nan_registry, device="cpu")


def test_device_auto_and_unavailable_devices() -> None:
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto").type in {expected or "cpu", "mps"}
    assert resolve_device("CPU").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(SiaynError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(SiaynError, match="unknown device"):
        resolve_device("tpu")


# --- every seed option moves the result the expected way ----------------------------------


def test_higher_style_weight_gives_lower_style_loss(registry, images) -> None:
    low = run(registry, images, style_weight=1e3, num_steps=8)
    high = run(registry, images, style_weight=1e7, num_steps=8)
    assert last(high, "style") / 1e7 < last(low, "style") / 1e3


def test_higher_content_weight_gives_lower_content_loss(registry, images) -> None:
    low = run(registry, images, content_weight=1.0, init_method="random", num_steps=8)
    high = run(registry, images, content_weight=1e6, init_method="random", num_steps=8)
    assert last(high, "content") / 1e6 < last(low, "content") / 1.0


def test_tv_weight_smooths_and_null_disables(registry, images) -> None:
    off = run(registry, images, tv_weight=None, init_method="random", num_steps=8)
    strong = run(registry, images, tv_weight=100.0, init_method="random", num_steps=8)
    assert all(record["tv"] == 0.0 for record in off.losses)
    assert strong.losses[0]["tv"] > 0
    assert total_variation(strong.image) < 0.75 * total_variation(off.image)


def test_scaler_sets_the_output_size(registry, images) -> None:
    assert run(registry, images, scaler=2, num_steps=1).image.shape == (1, 3, 60, 80)
    assert run(registry, images, scaler=0.75, num_steps=1).image.shape == (1, 3, 22, 30)
    with pytest.raises(SiaynError, match="too small for the chosen layers at 20x15 px"):
        run(registry, images, scaler=0.5, num_steps=1)


def test_style_resize_changes_the_style_target_size(registry, images) -> None:
    shapes: list[tuple[int, ...]] = []
    recording = copy_of(registry)
    gram = registry.get("loss", "gram")

    def make_recording(options: Any) -> Any:
        loss = gram.factory(options)

        class Recording:
            def target(self, features):
                shapes.append(tuple(features.shape[-2:]))
                return loss.target(features)

            def __call__(self, features, target):
                return loss(features, target)

        return Recording()

    make_recording.__annotations__["options"] = gram.options_type
    recording.add(Component("loss", "recording", make_recording, "test"))
    # The original SIAYN's true and false, then the three modes by name.
    for style_resize in (True, False, "stretch", "short-side", "none"):
        stylize(images["content"], [images["wave"]],
                tiny(style_loss="recording", style_layers=["relu1_1"], style_resize=style_resize, num_steps=1),
                registry=recording, device="cpu", seed=SEED)
    assert shapes == [(30, 40), (36, 36), (30, 40), (30, 30), (36, 36)]


@pytest.mark.parametrize("init_method", ["content", "style", "random"])
def test_init_method_sets_the_start(registry, images, init_method) -> None:
    result = run(registry, images, init_method=init_method, style_resize="stretch", **START_ONLY)
    content = to_tensor(images["content"])
    style = to_tensor(images["starry"].resize((40, 30), Image.Resampling.LANCZOS))
    distance_to_content = float((result.image - content).abs().mean())
    distance_to_style = float((result.image - style).abs().mean())
    if init_method == "content":
        assert distance_to_content < 1e-6
    elif init_method == "style":
        assert distance_to_content > 0.1 and distance_to_style < 1e-6
    else:
        assert distance_to_content > 0.1 and distance_to_style > 0.1
        assert 0.4 < float(result.image.mean()) < 0.6  # noise around 0.5


def test_style_init_uses_the_chosen_style_and_random_init_uses_the_seed(registry, images) -> None:
    wave = run(registry, images, styles=("starry", "wave"), init_method="style", init_options={"index": 1}, **START_ONLY)
    expected = to_tensor(images["wave"].resize((40, 30), Image.Resampling.LANCZOS))
    assert float((wave.image - expected).abs().mean()) < 0.03  # torch's bicubic vs Pillow's Lanczos
    a = run(registry, images, init_method="random", **START_ONLY, seed=1)
    b = run(registry, images, init_method="random", **START_ONLY, seed=2)
    assert not torch.equal(a.image, b.image)


def test_norm_changes_the_features(registry, images) -> None:
    on = run(registry, images, norm=True, num_steps=1)
    off = run(registry, images, norm=False, num_steps=1)
    assert on.components["backbone"]["options"]["normalize"] is True
    assert off.components["backbone"]["options"]["normalize"] is False
    assert on.losses[0]["style"] != pytest.approx(off.losses[0]["style"], rel=1e-3)


def test_layers_change_the_losses(registry, images) -> None:
    base = run(registry, images, num_steps=2)
    other_style = run(registry, images, style_layers=["relu1_1", "relu2_1"], num_steps=2)
    other_content = run(registry, images, content_layers=["conv_5"], init_method="random", num_steps=2)
    assert other_style.losses[0]["style"] != pytest.approx(base.losses[0]["style"], rel=1e-3)
    random_base = run(registry, images, init_method="random", num_steps=2)
    assert other_content.losses[0]["content"] != pytest.approx(random_base.losses[0]["content"], rel=1e-3)


def test_style_layer_weights(registry, images) -> None:
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    equal = run(registry, images, style_layers=layers, num_steps=2)
    ones = run(registry, images, style_layers=layers, style_layers_weights=[1, 1, 1], num_steps=2)
    first_only = run(registry, images, style_layers=layers, style_layers_weights=[3, 0, 0], num_steps=2)
    only_first_layer = run(registry, images, style_layers=["relu1_1"], num_steps=2)
    assert ones.losses == equal.losses  # null weighs every layer 1
    # [3, 0, 0] averaged over three layers is the first layer alone
    assert first_only.losses[0]["style"] == pytest.approx(only_first_layer.losses[0]["style"], rel=1e-5)


def test_adam_and_lbfgs_both_lower_the_loss_differently(registry, images) -> None:
    adam = run(registry, images, opt="adam", lr=0.02, num_steps=6, **FLOAT32)
    lbfgs = run(registry, images, opt="LFBGS", num_steps=6, **FLOAT32)
    assert adam.components["opt"]["component"] == "adam" and lbfgs.components["opt"]["component"] == "lbfgs"
    for result in (adam, lbfgs):
        assert last(result, "total") < result.losses[0]["total"]
    assert not torch.equal(adam.image, lbfgs.image)


def test_lr_sets_the_step_size(registry, images) -> None:
    content = to_tensor(images["content"])
    small = run(registry, images, opt="adam", lr=0.001, num_steps=3)
    large = run(registry, images, opt="adam", lr=0.03, num_steps=3)
    assert small.components["opt"]["options"]["lr"] == 0.001
    assert float((large.image - content).abs().mean()) > 5 * float((small.image - content).abs().mean())


def test_lr_null_uses_the_optimizers_own_default(registry, images) -> None:
    result = run(registry, images, opt="adam", lr=None, num_steps=1)
    assert "lr" not in result.components["opt"]["options"]  # Adam's own default applies


def test_backbone_choice(registry, images) -> None:
    vgg19 = run(registry, images, backbone="VGG19", style_layers=["conv_1", "conv_3", "conv_5"],
                content_layers=["conv_8"], num_steps=1)
    assert vgg19.components["backbone"]["component"] == "vgg19"


# --- several styles -----------------------------------------------------------------------


def test_two_styles_blend_with_their_weights(registry, images) -> None:
    alone = run(registry, images, styles=("starry",), style_weight=1e5, num_steps=3)
    zero_second = run(registry, images, styles=("starry", "wave"), style_weight=[1e5, 0], num_steps=3)
    assert torch.equal(alone.image, zero_second.image)
    blend = run(registry, images, styles=("starry", "wave"), style_weight=[1e5, 1e5], num_steps=3)
    assert not torch.equal(alone.image, blend.image)


def test_one_style_weight_is_shared_equally(registry, images) -> None:
    alone = run(registry, images, styles=("starry",), style_weight=1e5, num_steps=3)
    twice = run(registry, images, styles=("starry", "starry"), style_weight=1e5, num_steps=3)
    assert twice.losses[0]["style"] == pytest.approx(alone.losses[0]["style"], rel=1e-5)


def test_options_are_a_frozen_dataclass(registry, images) -> None:
    options = tiny()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.num_steps = 3  # type: ignore[misc]


def test_style_weights_must_match_the_style_images(registry, images) -> None:
    with pytest.raises(SiaynError, match="style_weight has 2 weights for 3 style images"):
        stylize(images["content"], [images["starry"]] * 3, tiny(style=["a", "b"], style_weight=[1, 2]),
                registry=registry, device="cpu")


def high_frequency(image: torch.Tensor) -> float:
    """Mean absolute Laplacian of the image's luminance (OpenCV): its pixel-scale detail."""
    import cv2

    gray = cv2.cvtColor((image[0].permute(1, 2, 0).numpy() * 255).astype("float32"), cv2.COLOR_RGB2GRAY)
    return float(abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


def test_averaging_lowers_high_frequency_noise_at_equal_steps(registry, images) -> None:
    # Adam's iterates jitter from step to step; the average keeps what they agree on.
    settings = {"num_steps": 30, "opt": "adam", "lr": 0.05, "min_size": None}
    plain = run(registry, images, seed=3, **settings)
    seen: list[torch.Tensor] = []
    averaged = run(registry, images, seed=3, average=0.95, callback=lambda it: seen.append(it.image), **settings)
    assert high_frequency(averaged.image) < 0.93 * high_frequency(plain.image)
    assert torch.equal(seen[-1], averaged.image)  # the preview shows the image that is saved
    assert len(averaged.losses) == len(plain.losses) == 30


def test_the_average_is_carried_into_the_next_stage(registry, images, monkeypatch) -> None:
    from siayn_core.engine import painter as engine
    from siayn_core.engine.schedule import upsample

    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    optimize = engine.optimize_at_size

    def recorded(start, *args, **kwargs):
        image, records, stopped = optimize(start, *args, **kwargs)
        calls.append((start, image))
        return image, records, stopped

    monkeypatch.setattr(engine, "optimize_at_size", recorded)
    previews: list[torch.Tensor] = []
    run(registry, images, callback=lambda it: previews.append(it.image), num_steps=8, min_size=16,
        stage_start="upsample", average=0.5)
    assert len(calls) >= 2
    (_, first_end), (second_start, _) = calls[:2]
    first_stage_previews = [p for p in previews if p.shape == first_end.shape]
    torch.testing.assert_close(first_stage_previews[-1], first_end.clamp(0, 1))
    torch.testing.assert_close(second_start, upsample(first_end, (second_start.shape[-1], second_start.shape[-2])))
