"""The built-in postprocessors and apply_postprocessors, on tiny images."""

from __future__ import annotations

import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siayn_core import PostprocessContext, SiaynError, load_plugins
from siayn_core.io.images import image_files, unique_path
from siayn_core.postprocess.chain import apply_postprocessors, parse_steps

from .conftest import REPO

BUILT_IN = {"denoise", "mask", "mask-create", "histogram", "preserve-colors", "gif"}


def make(registry, name: str, **options):
    return registry.create("postprocessor", name, options)


def save(array: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def smooth_image(size: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth colour image with values well inside [0, 255] (no clipping in tests)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(70, 150, 3)
    channels = [base[c] + 40 * np.sin(2 * np.pi * (x * (c + 1) + y * (2 - c) / 2)) for c in range(3)]
    return np.stack(channels, axis=-1)


# --- histogram ------------------------------------------------------------------------------


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance between two channels' normalized cumulative histograms."""
    ha = np.cumsum(np.bincount(a.ravel(), minlength=256)) / a.size
    hb = np.cumsum(np.bincount(b.ravel(), minlength=256)) / b.size
    return float(np.abs(ha - hb).sum())


def test_histogram_moves_every_channel_towards_the_target(registry, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    source = rng.normal([60, 120, 200], [15, 30, 20], (40, 40, 3)).clip(0, 255).astype(np.uint8)
    target = rng.normal([190, 70, 90], [40, 10, 25], (30, 50, 3)).clip(0, 255).astype(np.uint8)
    target_path = save(target, tmp_path / "target.png")
    out = make(registry, "histogram", target=str(target_path))(Image.fromarray(source), PostprocessContext())
    result = np.asarray(out)
    assert out.mode == "RGB" and out.size == (40, 40)
    for channel in range(3):
        before = histogram_distance(source[..., channel], target[..., channel])
        after = histogram_distance(result[..., channel], target[..., channel])
        assert after < 0.1 * before, (channel, before, after)


def test_histogram_defaults_to_the_first_style_image(registry, tmp_path: Path) -> None:
    target = save(np.full((16, 16, 3), (200, 30, 30)), tmp_path / "style.png")
    source = Image.fromarray(np.full((16, 16, 3), 100, np.uint8))
    out = make(registry, "histogram")(source, PostprocessContext(styles=(target,)))
    assert out.getpixel((3, 3)) == (200, 30, 30)
    with pytest.raises(SiaynError, match="needs option 'target'"):
        make(registry, "histogram")(source, PostprocessContext())


# --- preserve-colors ------------------------------------------------------------------------


def test_preserve_colors_takes_luminance_from_result_and_chroma_from_content(registry, tmp_path) -> None:
    content = smooth_image(seed=2)
    styled = smooth_image(seed=3)[::-1]
    context = PostprocessContext(content=save(content, tmp_path / "content.png"))
    out = make(registry, "preserve-colors")(Image.fromarray(styled.astype(np.uint8)), context)
    result = np.asarray(out.convert("YCbCr"), dtype=int)
    want_luma = np.asarray(Image.fromarray(styled.astype(np.uint8)).convert("YCbCr"), dtype=int)[..., 0]
    want_chroma = np.asarray(Image.fromarray(content.astype(np.uint8)).convert("YCbCr"), dtype=int)[..., 1:]
    assert np.abs(result[..., 0] - want_luma).max() <= 1  # rounding through 8-bit RGB
    assert np.abs(result[..., 1:] - want_chroma).max() <= 2
    # and it really changed something: the colours are not the stylized image's
    styled_chroma = np.asarray(Image.fromarray(styled.astype(np.uint8)).convert("YCbCr"), dtype=int)[..., 1:]
    assert np.abs(result[..., 1:] - styled_chroma).mean() > 5


def test_preserve_colors_in_lab(registry, tmp_path) -> None:
    from skimage.color import rgb2lab

    content = smooth_image(seed=4).astype(np.uint8)
    styled = smooth_image(seed=5)[:, ::-1].astype(np.uint8)
    context = PostprocessContext(content=save(content, tmp_path / "content.png"))
    out = make(registry, "preserve-colors", colorspace="lab")(Image.fromarray(styled), context)
    result, want_l, want_ab = rgb2lab(np.asarray(out)), rgb2lab(styled)[..., 0], rgb2lab(content)[..., 1:]
    assert np.abs(result[..., 0] - want_l).max() < 1.0
    assert np.abs(result[..., 1:] - want_ab).max() < 2.0
    # out-of-gamut colours (dark luminance, strong yellow) are clipped quietly
    yellow = PostprocessContext(content=save(np.full((8, 8, 3), (255, 255, 0)), tmp_path / "yellow.png"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(registry, "preserve-colors", colorspace="lab")(Image.new("RGB", (8, 8), (5, 5, 5)), yellow)


def test_preserve_colors_resizes_the_content_and_needs_it(registry, tmp_path) -> None:
    content = save(np.full((20, 30, 3), (40, 160, 60)), tmp_path / "content.png")
    styled = Image.new("RGB", (12, 8), (128, 128, 128))
    out = make(registry, "preserve-colors")(styled, PostprocessContext(content=content))
    assert out.size == (12, 8)
    r, g, b = out.getpixel((5, 5))
    assert g > r and g > b
    with pytest.raises(SiaynError, match="needs the content image"):
        make(registry, "preserve-colors")(styled, PostprocessContext())


# --- mask -----------------------------------------------------------------------------------


def test_mask_keeps_content_exactly_under_black(registry, tmp_path) -> None:
    content = smooth_image(size=32, seed=6).astype(np.uint8)
    styled = smooth_image(size=32, seed=7).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[:, 16:] = 255
    context = PostprocessContext(content=save(content, tmp_path / "content.png"))
    Image.fromarray(mask).save(tmp_path / "mask.png")

    out = np.asarray(make(registry, "mask", mask=str(tmp_path / "mask.png"))(Image.fromarray(styled), context))
    assert np.array_equal(out[:, :16], content[:, :16])
    assert np.array_equal(out[:, 16:], styled[:, 16:])

    inverted = np.asarray(make(registry, "mask", mask=str(tmp_path / "mask.png"), invert=True)(
        Image.fromarray(styled), context))
    assert np.array_equal(inverted[:, :16], styled[:, :16])
    assert np.array_equal(inverted[:, 16:], content[:, 16:])

    feathered = np.asarray(make(registry, "mask", mask=str(tmp_path / "mask.png"), feather=2)(
        Image.fromarray(styled), context))
    assert np.array_equal(feathered[:, :6], content[:, :6])  # far from the edge: still exact
    edge = feathered[:, 15].astype(int)
    assert not np.array_equal(edge, content[:, 15]) and not np.array_equal(edge, styled[:, 15])


def test_mask_is_resized_to_the_stylized_image(registry, tmp_path) -> None:
    content = save(np.full((40, 40, 3), 10), tmp_path / "content.png")
    mask = np.zeros((100, 100), np.uint8)
    mask[:, 50:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    styled = Image.new("RGB", (20, 10), (250, 250, 250))
    out = make(registry, "mask", mask="mask.png")(
        styled, PostprocessContext(content=content, search_dirs=(tmp_path,)))
    assert out.size == (20, 10)
    assert out.getpixel((2, 5)) == (10, 10, 10) and out.getpixel((17, 5)) == (250, 250, 250)


def test_mask_without_a_mask_file_segments_the_content(registry, tmp_path) -> None:
    content = save(bright_square(), tmp_path / "content.png")
    styled = Image.new("RGB", (64, 64), (0, 0, 255))
    out = np.asarray(make(registry, "mask")(styled, PostprocessContext(content=content)))
    assert (out[32, 32] == (0, 0, 255)).all()  # the square (foreground) is styled
    assert (out[2, 2] != (0, 0, 255)).any()  # the background keeps the content


def test_missing_mask_file_is_a_clear_error(registry, tmp_path) -> None:
    content = save(np.full((16, 16, 3), 10), tmp_path / "content.png")
    with pytest.raises(SiaynError, match="mask image not found: nope.png"):
        make(registry, "mask", mask="nope.png")(Image.new("RGB", (16, 16)), PostprocessContext(content=content))


# --- denoise --------------------------------------------------------------------------------


QUADRANTS = ((60, 90, 120), (160, 80, 60), (100, 170, 90), (130, 130, 180))


def quadrants(size: int = 48) -> np.ndarray:
    """Four flat colour regions."""
    image = np.zeros((size, size, 3))
    half = size // 2
    for index, colour in enumerate(QUADRANTS):
        image[(index // 2) * half:(index // 2 + 1) * half, (index % 2) * half:(index % 2 + 1) * half] = colour
    return image


def interiors(image: np.ndarray, size: int = 48) -> list[np.ndarray]:
    """The pixels of each quadrant, away from the edges between them."""
    half, border = size // 2, 4
    return [image[r * half + border:(r + 1) * half - border, c * half + border:(c + 1) * half - border]
            for r in (0, 1) for c in (0, 1)]


def noise_and_bias(image: np.ndarray) -> tuple[float, float]:
    """Mean standard deviation inside the flat regions, and the largest error of their means."""
    regions = interiors(image.astype(float))
    noise = float(np.mean([region.std(axis=(0, 1)).mean() for region in regions]))
    bias = float(max(np.abs(region.mean(axis=(0, 1)) - colour).max() for region, colour in zip(regions, QUADRANTS)))
    return noise, bias


def test_denoise_lowers_added_noise(registry) -> None:
    noisy = (quadrants() + np.random.default_rng(9).normal(0, 12, (48, 48, 3))).clip(0, 255).astype(np.uint8)
    out = np.asarray(make(registry, "denoise")(Image.fromarray(noisy), PostprocessContext()))
    noise_before, _ = noise_and_bias(noisy)
    noise_after, bias_after = noise_and_bias(out)
    assert noise_before > 10 and noise_after < 0.3 * noise_before, (noise_before, noise_after)
    assert bias_after < 4  # the colours stay


def test_denoise_seed_parameters_and_grayscale(registry) -> None:
    gray = np.repeat(quadrants()[..., :1], 3, axis=-1)
    noise = np.random.default_rng(11).normal(0, 12, (48, 48))[..., None]
    noisy = (gray + noise).clip(0, 255).astype(np.uint8)  # three equal channels: grayscale
    denoise = make(registry, "denoise", template_window=10, search_window=10, strength=12, color_strength=15)
    out = np.asarray(denoise(Image.fromarray(noisy), PostprocessContext()))
    assert np.array_equal(out[..., 0], out[..., 2])
    noise_before = np.mean([r.std() for r in interiors(noisy[..., 0].astype(float))])
    noise_after = np.mean([r.std() for r in interiors(out[..., 0].astype(float))])
    assert noise_after < 0.3 * noise_before, (noise_before, noise_after)


# --- mask-create ----------------------------------------------------------------------------


def bright_square(size: int = 64, side: int = 24) -> np.ndarray:
    rng = np.random.default_rng(12)
    image = rng.normal(30, 8, (size, size, 3))
    start = (size - side) // 2
    image[start:start + side, start:start + side] = rng.normal(220, 8, (side, side, 3))
    return image.clip(0, 255).astype(np.uint8)


def square_mask(size: int = 64, side: int = 24) -> np.ndarray:
    truth = np.zeros((size, size), bool)
    start = (size - side) // 2
    truth[start:start + side, start:start + side] = True
    return truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_grabcut_finds_a_bright_square(registry) -> None:
    out = make(registry, "mask-create")(Image.fromarray(bright_square()), PostprocessContext())
    assert out.mode == "RGB" and out.size == (64, 64)
    mask = np.asarray(out)[..., 0]
    assert set(np.unique(mask)) <= {0, 255}
    assert iou(mask > 127, square_mask()) > 0.9


def test_mask_create_honours_the_scaler(registry) -> None:
    out = make(registry, "mask-create", scaler=0.5)(Image.fromarray(bright_square()), PostprocessContext())
    assert out.size == (32, 32)
    assert iou(np.asarray(out)[..., 0] > 127, square_mask(32, 12)) > 0.8


def test_grabcut_works_on_a_smaller_copy_and_scales_the_mask_back(registry) -> None:
    out = make(registry, "mask-create", work_size=32)(Image.fromarray(bright_square()), PostprocessContext())
    mask = np.asarray(out)[..., 0]
    assert out.size == (64, 64) and set(np.unique(mask)) <= {0, 255}
    assert iou(mask > 127, square_mask()) > 0.85


def test_fcn_resnet101_offline_is_a_clear_error(registry, tmp_path, monkeypatch) -> None:
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    segment = make(registry, "mask-create", method="fcn_resnet101")
    expected_path = tmp_path / "torch" / "hub" / "checkpoints" / "fcn_resnet101_coco-7ecb50ca.pth"
    with pytest.raises(SiaynError) as error:
        segment(Image.fromarray(bright_square()), PostprocessContext())
    message = str(error.value)
    assert "https://download.pytorch.org/models/fcn_resnet101_coco-7ecb50ca.pth" in message
    assert str(expected_path) in message and "grabcut" in message and "name resolution" in message


def test_fcn_resnet101_with_cached_weights_makes_a_binary_mask(registry, monkeypatch) -> None:
    import torch
    from torchvision.models.segmentation import fcn_resnet101

    torch.manual_seed(0)
    random_weights = fcn_resnet101(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).state_dict()
    requested = []

    def cached(url, *args, **kwargs):
        requested.append(url)
        return random_weights

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", cached)
    out = make(registry, "mask-create", method="fcn_resnet101", scaler=0.5, device="cpu")(
        Image.fromarray(bright_square()), PostprocessContext())
    assert requested == ["https://download.pytorch.org/models/fcn_resnet101_coco-7ecb50ca.pth"]
    assert out.size == (32, 32) and set(np.unique(np.asarray(out))) <= {0, 255}


# --- gif ------------------------------------------------------------------------------------


def write_frames(folder: Path, names: list[str]) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for index, name in enumerate(names):
        frame = np.zeros((16, 24, 3), np.uint8)
        frame[:, : 2 + index * 4] = (255, 0, 0)  # distinct frames (Pillow merges equal ones)
        save(frame, folder / name)
        frames.append(frame)
    return frames


def test_gif_of_a_folder_in_natural_order(registry, tmp_path) -> None:
    names = ["frame_1.png", "frame_2.png", "frame_10.png", "frame_3.png"]
    frames = write_frames(tmp_path / "frames", names)
    ordered = [frames[0], frames[1], frames[3], frames[2]]  # 1, 2, 3, 10
    assert [p.name for p in image_files(tmp_path / "frames")] == ["frame_1.png", "frame_2.png",
                                                                   "frame_3.png", "frame_10.png"]
    context = PostprocessContext(output_dir=tmp_path / "out")
    last = Image.fromarray(ordered[-1])
    gif = make(registry, "gif", frames=str(tmp_path / "frames"), fps=4, out_name="anim")
    assert gif(last, context) is last  # a file-making step passes the image through
    assert context.files == [tmp_path / "out" / "anim.gif"]
    with Image.open(context.files[0]) as animation:
        assert animation.n_frames == 4
        assert animation.info["duration"] == 250 and animation.info["loop"] == 0
        for index, expected in enumerate(ordered):
            animation.seek(index)
            assert np.array_equal(np.asarray(animation.convert("RGB")), expected)

    # a result that differs from the last frame ends the animation; the first GIF is kept
    gif(Image.new("RGB", (16, 16), (0, 255, 0)), context)
    assert context.files[1] == tmp_path / "out" / "anim-2.gif"
    with Image.open(context.files[1]) as animation:
        assert animation.n_frames == 5 and animation.size == (24, 16)


def test_gif_uses_the_run_frames_folder_and_max_size(registry, tmp_path) -> None:
    write_frames(tmp_path / "run" / "frames", ["a.png", "b.png", "c.png"])
    context = PostprocessContext(run_dir=tmp_path / "run", output_dir=tmp_path / "run")
    image = Image.open(tmp_path / "run" / "frames" / "c.png").convert("RGB")
    make(registry, "gif", max_size=12, loop=None, fps=2)(image, context)
    with Image.open(tmp_path / "run" / "transformation.gif") as animation:
        assert animation.n_frames == 3 and animation.size == (12, 8)
        assert animation.info["duration"] == 500 and "loop" not in animation.info


def test_gif_errors(registry, tmp_path) -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(SiaynError, match="needs option 'frames'"):
        make(registry, "gif")(image, PostprocessContext())
    with pytest.raises(SiaynError, match="frames folder not found"):
        make(registry, "gif", frames="missing")(image, PostprocessContext())
    (tmp_path / "empty").mkdir()
    with pytest.raises(SiaynError, match="no images to animate"):
        make(registry, "gif", frames=str(tmp_path / "empty"))(image, PostprocessContext())


# --- apply_postprocessors -------------------------------------------------------------------


def test_every_built_in_is_registered_with_documented_options(registry) -> None:
    components = {c.name: c for c in registry.components("postprocessor")}
    assert BUILT_IN <= set(components)
    for name in BUILT_IN:
        assert components[name].plugin == "postprocessors"
        assert components[name].description
        assert all(spec.help for spec in components[name].options())


def test_apply_postprocessors_chains_steps_and_skips_file_steps(registry, tmp_path) -> None:
    content = save(np.full((16, 16, 3), (30, 200, 30)), tmp_path / "content.png")
    write_frames(tmp_path / "frames", ["1.png", "2.png"])
    context = PostprocessContext(content=content, output_dir=tmp_path)
    image = Image.new("RGB", (16, 16), (128, 128, 128))
    results = apply_postprocessors(
        image,
        ["original-colors", {"name": "gif", "frames": str(tmp_path / "frames")}, {"name": "denoise", "strength": 3}],
        registry=registry, context=context,
    )
    assert [name for name, _ in results] == ["preserve-colors", "denoise"]
    assert results[0][1].getpixel((8, 8))[1] > 150  # the content's green
    assert context.files == [tmp_path / "transformation.gif"]
    assert image.getpixel((0, 0)) == (128, 128, 128)  # the input is left unchanged


def test_steps_are_validated_before_any_work(registry) -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(SiaynError, match=r"unknown postprocessor 'denoize'.*did you mean 'denoise'.*in run 'a'"):
        apply_postprocessors(image, ["histogram", "denoize"], registry=registry,
                             context=PostprocessContext(), where="run 'a'")
    with pytest.raises(SiaynError, match=r"option 'feather' of postprocessor 'mask' must be a number"):
        apply_postprocessors(image, [{"name": "mask", "feather": "soft"}], registry=registry,
                             context=PostprocessContext())
    with pytest.raises(SiaynError, match="postprocess step 2 of postprocess must be"):
        parse_steps(["denoise", 3])
    assert parse_steps("denoise") == [("denoise", {})]


def test_unique_path_never_overwrites(tmp_path) -> None:
    target = tmp_path / "x.denoise.png"
    assert unique_path(target) == target
    target.write_bytes(b"")
    assert unique_path(target) == tmp_path / "x.denoise-2.png"
    (tmp_path / "x.denoise-2.png").write_bytes(b"")
    assert unique_path(target) == tmp_path / "x.denoise-3.png"


def test_example_third_party_plugin_works_alongside(monkeypatch, tmp_path) -> None:
    monkeypatch.syspath_prepend(str(REPO / "docs" / "examples" / "siayn-plugin-example"))
    registry = load_plugins(["siayn_sepia"]).registry
    assert BUILT_IN | {"sepia"} <= set(registry.names("postprocessor"))
    content = save(np.full((16, 16, 3), (30, 200, 30)), tmp_path / "content.png")
    results = apply_postprocessors(Image.new("RGB", (16, 16), (0, 0, 255)), ["sepia", "preserve-colors"],
                                   registry=registry, context=PostprocessContext(content=content))
    assert [name for name, _ in results] == ["sepia", "preserve-colors"]
