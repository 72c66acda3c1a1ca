"""Scale and coarse/fine control: ``style_scale`` sizes the style images, ``fine_style``
takes the fine style layers (Gatys et al. 2017, section 6), on tiny images with random
weights; the real-weights checks of stroke size are in test_quality_controls.py."""

from __future__ import annotations

import pytest
from PIL import Image

from siayn_core import SiaynError
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.engine.objective import style_coefficients
from siayn_core.engine.schedule import stage_images

RANDOM = {"backbone_options": {"weights": "none"}, "min_size": None, "num_steps": 3}


@pytest.mark.parametrize(("mode", "expected"), [("short-side", (72, 48)), ("stretch", (64, 48)), ("none", (60, 40))])
def test_style_scale_multiplies_the_size_each_mode_gives(mode: str, expected: tuple[int, int]) -> None:
    content, style = Image.new("RGB", (128, 96)), Image.new("RGB", (120, 80))
    _, [plain] = stage_images(content, [style], (64, 48), (128, 96), mode)
    _, [doubled] = stage_images(content, [style], (64, 48), (128, 96), mode, 2.0)
    _, [halved] = stage_images(content, [style], (64, 48), (128, 96), mode, 0.5)
    assert plain.size == expected
    assert doubled.size == (expected[0] * 2, expected[1] * 2) and halved.size == (expected[0] // 2, expected[1] // 2)


def test_the_fine_style_takes_the_fine_layers_from_the_other_styles() -> None:
    options = build_options({"style": ["a", "b"], "style_weight": 1000.0, "fine_style": "f"}, where="test")
    main_a, main_b, fine = style_coefficients(options, 2)
    layers = len(options.style_layers)
    for layer in options.style_layers:
        is_fine = layer in ("relu1_1", "relu2_1")
        assert main_a[layer] == main_b[layer] == (0.0 if is_fine else 500.0 / layers)
        assert fine[layer] == (1000.0 / layers if is_fine else 0.0)  # as strong as the styles together
    assert len(style_coefficients(build_options({"style": ["a", "b"]}, where="test"), 2)) == 2


def test_a_run_with_a_fine_style_uses_its_image(registry) -> None:
    photo = Image.new("RGB", (48, 36), (120, 90, 60))
    styles = [Image.new("RGB", (40, 40), (20, 40, 200))]
    fine = Image.new("RGB", (40, 40), (250, 200, 10))
    options = build_options({**RANDOM, "fine_style": "fine.png"}, where="test")
    result = stylize(photo, styles, options, registry=registry, device="cpu", seed=1, fine_style=fine)
    assert result.steps == 3
    with pytest.raises(SiaynError, match="pass it to stylize as fine_style"):
        stylize(photo, styles, options, registry=registry, device="cpu")
    plain = build_options(RANDOM, where="test")
    other = stylize(photo, styles, plain, registry=registry, device="cpu", seed=1)
    assert other.losses[0]["style"] != result.losses[0]["style"]
