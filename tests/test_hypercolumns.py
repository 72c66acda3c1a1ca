"""Hypercolumns: positions drawn on a jittered grid, layers read at them, the engine handing a
hypercolumn loss every layer at shared positions, and the losses built on them (``remd``,
``self-similarity``, ``nn-feature``) against brute-force loops."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from siayn_core import PIXELS, SamplePositions, SiaynError, draw_positions, read_hypercolumns
from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.host.registry import Component, Registry
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir
from siayn_losses.matching import (
    NearestFeatureLoss,
    RemdLoss,
    SelfSimilarityLoss,
    nearest_both_ways,
    nearest_neighbours,
)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator(seed), dtype=torch.float64)


# --- positions ---------------------------------------------------------------------------


def test_positions_cover_the_image_about_count_times_and_stay_in_range() -> None:
    positions = draw_positions((30, 40), 200, generator(0))
    assert positions.size == (30, 40) and positions.points.dtype == torch.float32
    assert 150 <= len(positions) <= 250
    rows, columns = positions.points[:, 0], positions.points[:, 1]
    assert float(rows.min()) >= 0 and float(rows.max()) <= 29 and float(columns.min()) >= 0 and float(columns.max()) <= 39
    # one point per cell: every quarter of the image gets about a quarter of them
    top_left = ((rows < 15) & (columns < 20)).sum()
    assert 30 <= int(top_left) <= 70
    # as many positions as pixels, or more: one per pixel
    assert len(draw_positions((5, 6), 1000, generator(0))) == 30


def test_positions_repeat_with_the_seed_and_differ_with_another() -> None:
    first, again = draw_positions((30, 40), 100, generator(3)), draw_positions((30, 40), 100, generator(3))
    other = draw_positions((30, 40), 100, generator(4))
    assert torch.equal(first.points, again.points)
    assert first.points.shape != other.points.shape or not torch.equal(first.points, other.points)


def test_positions_inside_a_mask() -> None:
    guide = torch.zeros(1, 1, 30, 40)
    guide[..., 5:15, 20:40] = 1.0
    positions = draw_positions((30, 40), 100, generator(1), guide=guide)
    assert 60 <= len(positions) <= 140  # about count inside the region, not count over the image
    nearest = positions.points.round().long()
    assert bool((guide[0, 0, nearest[:, 0], nearest[:, 1]] > 0.5).all())
    # a guide at another resolution is resized to the image's
    half = draw_positions((30, 40), 100, generator(1), guide=guide[..., ::2, ::2])
    assert bool((half.points[:, 1] >= 19).all())
    assert len(draw_positions((30, 40), 100, generator(1), guide=torch.zeros(1, 1, 30, 40))) == 0
    # the grid is sized by the region: a single pixel still gets its point
    speck = torch.zeros(1, 1, 30, 40)
    speck[..., 7, 9] = 1.0
    assert draw_positions((30, 40), 4, generator(2), guide=speck).points.round().tolist() == [[7.0, 9.0]]


# --- reading -----------------------------------------------------------------------------


def test_a_bilinear_read_is_the_map_value_at_integer_positions() -> None:
    image, coarse = maps(1, 3, 8, 10, seed=1), maps(1, 5, 4, 5, seed=2)
    points = torch.tensor([[0.0, 0.0], [3.0, 7.0], [7.0, 9.0], [5.0, 2.0]])
    columns = read_hypercolumns({PIXELS: image}, SamplePositions(points, (8, 10)))
    expected = torch.stack([image[0, :, int(r), int(c)] for r, c in points.tolist()])
    torch.testing.assert_close(columns, expected)
    # a map at half the resolution: feature (i, j) covers pixels 2i and 2i + 1, its centre is 2i + 0.5
    centres = torch.tensor([[0.5, 0.5], [2.5, 6.5], [6.5, 8.5]])
    read = read_hypercolumns({"a": coarse, PIXELS: image}, SamplePositions(centres, (8, 10)))
    assert read.shape == (3, 8)
    torch.testing.assert_close(read[:, :5], torch.stack([coarse[0, :, 0, 0], coarse[0, :, 1, 3], coarse[0, :, 3, 4]]))
    # between pixels the read interpolates; the image's columns follow the layer's
    between = read_hypercolumns({PIXELS: image}, SamplePositions(torch.tensor([[2.0, 3.5]]), (8, 10)))
    torch.testing.assert_close(between[0], (image[0, :, 2, 3] + image[0, :, 2, 4]) / 2)
    torch.testing.assert_close(read[:, 5:], read_hypercolumns({PIXELS: image}, SamplePositions(centres, (8, 10))))


def test_reads_of_bfloat16_maps_are_float32() -> None:
    value = maps(1, 4, 6, 6, seed=3).to(torch.bfloat16)
    columns = read_hypercolumns({"a": value}, draw_positions((12, 12), 10, generator(0)))
    assert columns.dtype == torch.float32


# --- the losses against loops ------------------------------------------------------------


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return 1.0 - float(a @ b) / (float(a.norm()) * float(b.norm()))


def loop_relaxed_emd(a: torch.Tensor, b: torch.Tensor, distance: Any) -> float:
    rows = [min(distance(x, y) for y in b) for x in a]
    columns = [min(distance(x, y) for x in a) for y in b]
    return max(sum(rows) / len(rows), sum(columns) / len(columns))


def loop_moments(columns: torch.Tensor) -> tuple[list[float], list[list[float]]]:
    n, d = columns.shape
    mean = [sum(float(columns[i, k]) for i in range(n)) / n for k in range(d)]
    covariance = [[sum((float(columns[i, k]) - mean[k]) * (float(columns[i, l]) - mean[l]) for i in range(n)) / n
                   for l in range(d)] for k in range(d)]
    return mean, covariance


def pick(features: dict[str, torch.Tensor], points: list[tuple[int, int]]) -> torch.Tensor:
    """Hypercolumns at integer positions of full-resolution maps, by indexing."""
    return torch.stack([torch.cat([value[0, :, r, c] for value in features.values()]) for r, c in points])


def integer_positions(points: list[tuple[int, int]], size: tuple[int, int]) -> SamplePositions:
    return SamplePositions(torch.tensor(points, dtype=torch.float32), size)


GENERATED = [(0, 0), (1, 4), (2, 2), (3, 5), (4, 1), (5, 3), (0, 5)]
STYLE = [(0, 1), (1, 1), (2, 5), (3, 0), (4, 4), (5, 5), (1, 3), (3, 3), (5, 0)]


def test_remd_matches_loops() -> None:
    image, style_image = maps(1, 3, 6, 6, seed=4), maps(1, 3, 6, 6, seed=5)
    generated = {PIXELS: image, "a": maps(1, 4, 6, 6, seed=6), "b": maps(1, 2, 6, 6, seed=7)}
    style = {PIXELS: style_image, "a": maps(1, 4, 6, 6, seed=8) * 1.5, "b": maps(1, 2, 6, 6, seed=9) - 0.2}
    loss = RemdLoss(moment_weight=0.7, palette_weight=0.3, chunk=2)
    target = loss.target(style, positions=integer_positions(STYLE, (6, 6)), image=style_image)
    value = float(loss(generated, target, positions=integer_positions(GENERATED, (6, 6)), image=image))

    x, s = pick(generated, GENERATED), pick(style, STYLE)
    emd = loop_relaxed_emd(x, s, cosine_distance)
    (mean_x, cov_x), (mean_s, cov_s) = loop_moments(x), loop_moments(s)
    d = x.shape[1]
    moment = sum(abs(a - b) for a, b in zip(mean_x, mean_s)) / d + sum(
        abs(cov_x[k][l] - cov_s[k][l]) for k in range(d) for l in range(d)) / d**2
    palette = loop_relaxed_emd(pick({PIXELS: image}, GENERATED), pick({PIXELS: style_image}, STYLE),
                               lambda a, b: float((a - b).norm()))
    assert value == pytest.approx(emd + 0.7 * moment + 0.3 * palette, rel=1e-10)


def test_self_similarity_matches_loops() -> None:
    generated = {"a": maps(1, 4, 6, 6, seed=10), "b": maps(1, 3, 6, 6, seed=11)}
    photo = {"a": maps(1, 4, 6, 6, seed=12), "b": maps(1, 3, 6, 6, seed=13)}
    loss = SelfSimilarityLoss()
    target = loss.target(photo, positions=None, image=None)
    value = float(loss(generated, target, positions=integer_positions(GENERATED, (6, 6)), image=None))

    def matrix(columns: torch.Tensor) -> list[list[float]]:
        n = len(columns)
        distances = [[cosine_distance(columns[i], columns[j]) for j in range(n)] for i in range(n)]
        sums = [sum(distances[i][j] for i in range(n)) for j in range(n)]
        return [[distances[i][j] / sums[j] for j in range(n)] for i in range(n)]

    ours, theirs = matrix(pick(generated, GENERATED)), matrix(pick(photo, GENERATED))
    n = len(GENERATED)
    expected = sum(abs(ours[i][j] - theirs[i][j]) for i in range(n) for j in range(n)) / n
    assert value == pytest.approx(expected, rel=1e-10)
    # each column sums to 1, so the value is of the same size whatever the number of positions
    assert 0 < value <= 2


def test_the_photos_self_similarity_is_computed_once_per_set_of_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    import siayn_losses.matching as matching

    photo = {"a": maps(1, 4, 6, 6, seed=12)}
    loss = SelfSimilarityLoss()
    target = loss.target(photo, positions=None, image=None)
    first, second = (draw_positions((6, 6), 9, generator(seed)) for seed in (1, 2))
    computed: list[int] = []
    self_similarity = matching.self_similarity
    monkeypatch.setattr(matching, "self_similarity",
                        lambda columns, **kw: computed.append(len(columns)) or self_similarity(columns, **kw))
    values = [float(loss({"a": maps(1, 4, 6, 6, seed=seed)}, target, positions=positions, image=None))
              for seed, positions in ((20, first), (21, first), (22, second), (23, second))]
    assert computed == [9] * 6  # four generated matrices, the photo's twice: once per set
    assert values == [float(SelfSimilarityLoss()({"a": maps(1, 4, 6, 6, seed=seed)}, target, positions=positions,
                                                 image=None))
                      for seed, positions in ((20, first), (21, first), (22, second), (23, second))]


@pytest.mark.parametrize(("per_channel", "center"), [(True, "style"), (False, "each"), (True, "none")])
def test_nn_feature_matches_loops(per_channel: bool, center: str) -> None:
    generated = {"a": maps(1, 4, 6, 6, seed=14), "b": maps(1, 2, 6, 6, seed=15)}
    style = {"a": maps(1, 4, 6, 6, seed=16) + 0.1, "b": maps(1, 2, 6, 6, seed=17)}
    loss = NearestFeatureLoss(per_channel=per_channel, center=center, chunk=3)
    target = loss.target(style, positions=integer_positions(STYLE, (6, 6)))
    value = float(loss(generated, target, positions=integer_positions(GENERATED, (6, 6))))

    scale = torch.tensor([4.0] * 4 + [2.0] * 2) if per_channel else torch.ones(6)
    x, s = pick(generated, GENERATED) / scale, pick(style, STYLE) / scale
    style_mean = s.mean(0)
    own_mean = {"style": style_mean, "each": x.mean(0), "none": torch.zeros(6)}[center]
    reference_mean = torch.zeros(6) if center == "none" else style_mean
    distances = [min(cosine_distance(row - own_mean, other - reference_mean) for other in s) for row in x]
    assert value == pytest.approx(sum(distances) / len(distances), rel=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_neighbours_match_an_exhaustive_search(metric: str) -> None:
    queries, references = maps(23, 5, seed=18) - 0.5, maps(31, 5, seed=19) - 0.5
    found = nearest_neighbours(queries, references, metric=metric, chunk=4)
    if metric == "cosine":
        table = torch.tensor([[cosine_distance(q, r) for r in references] for q in queries])
    else:
        table = torch.cdist(queries, references)
    assert found.tolist() == table.argmin(1).tolist()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_a_search_both_ways_matches_two_searches(metric: str) -> None:
    a, b = maps(23, 5, seed=26) - 0.5, maps(31, 5, seed=27) - 0.5
    towards_b, towards_a = nearest_both_ways(a, b, metric=metric, chunk=4)
    assert towards_b.tolist() == nearest_neighbours(a, b, metric=metric).tolist()
    assert towards_a.tolist() == nearest_neighbours(b, a, metric=metric).tolist()


def test_each_loss_passes_gradcheck() -> None:
    positions = SamplePositions(torch.tensor([[0.3, 0.2], [1.7, 3.1], [3.2, 1.4], [4.6, 4.9], [2.5, 0.5]]), (6, 6))
    style_positions = SamplePositions(torch.tensor([[0.1, 4.2], [2.2, 2.9], [5.0, 1.1], [3.9, 3.6]]), (6, 6))
    style_image = maps(1, 3, 6, 6, seed=20)
    style = {PIXELS: style_image, "a": maps(1, 3, 3, 3, seed=21)}
    photo = {PIXELS: maps(1, 3, 6, 6, seed=22), "a": maps(1, 3, 3, 3, seed=23)}
    image = maps(1, 3, 6, 6, seed=24).requires_grad_(True)
    layer = maps(1, 3, 3, 3, seed=25).requires_grad_(True)
    remd, similarity, nearest = RemdLoss(), SelfSimilarityLoss(), NearestFeatureLoss()
    remd_target = remd.target(style, positions=style_positions, image=style_image)
    similarity_target = similarity.target(photo, positions=None, image=None)
    nearest_target = nearest.target(style, positions=style_positions)
    for function in (
        lambda image, layer: remd({PIXELS: image, "a": layer}, remd_target, positions=positions, image=image),
        lambda image, layer: similarity({PIXELS: image, "a": layer}, similarity_target, positions=positions),
        lambda image, layer: nearest({PIXELS: image, "a": layer}, nearest_target, positions=positions),
    ):
        assert torch.autograd.gradcheck(function, (image, layer))


# --- the engine --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    def load(name: str, size: tuple[int, int]) -> Image.Image:
        return read_image(examples_dir() / name).resize(size, Image.Resampling.LANCZOS)

    return {"content": load("tubingen.jpg", (40, 30)), "starry": load("starry_night.jpg", (48, 30)),
            "wave": load("great_wave.jpg", (36, 36))}


def tiny(**settings: Any) -> Any:
    base: dict[str, Any] = {"backbone_options": {"weights": "none"}, "num_steps": 4, "opt": "adam",
                            "precision": "float32"}
    return build_options({**base, **settings}, where="test")


class Probe:
    """A hypercolumn loss that records what the engine hands it."""

    hypercolumns = True
    target_samples = 20

    def __init__(self, slot: str, log: list[dict[str, Any]], samples: int = 50, resample_every: int = 1) -> None:
        self.slot, self.log, self.samples, self.resample_every = slot, log, samples, resample_every

    def target(self, features: dict[str, torch.Tensor], *, positions: SamplePositions | None,
               image: torch.Tensor) -> dict[str, Any]:
        self.log.append({"slot": self.slot, "target": True, "layers": list(features), "positions": positions,
                         "size": tuple(image.shape[-2:])})
        return {"count": None if positions is None else len(positions)}

    def __call__(self, features: dict[str, torch.Tensor], target: dict[str, Any], *, positions: SamplePositions,
                 image: torch.Tensor) -> torch.Tensor:
        assert PIXELS not in features or features[PIXELS] is image
        self.log.append({"slot": self.slot, "layers": list(features), "points": positions.points.clone(),
                         "size": positions.size})
        return read_hypercolumns(features, positions).square().mean()


def probe_registry(registry: Registry, log: list[dict[str, Any]], **probe: Any) -> Registry:
    copy = Registry()
    for component in registry.components():
        copy.add(component)
    copy.add(Component("loss", "probe-style", lambda: Probe("style", log, **probe), "test"))
    copy.add(Component("loss", "probe-content", lambda: Probe("content", log, **probe), "test"))
    return copy


def evaluations(log: list[dict[str, Any]], slot: str) -> list[dict[str, Any]]:
    return [entry for entry in log if entry["slot"] == slot and "target" not in entry]


def test_content_and_style_losses_share_each_evaluations_positions(registry, images) -> None:
    log: list[dict[str, Any]] = []
    options = tiny(style_loss="probe-style", content_loss="probe-content", style_layers=[PIXELS, "relu1_1", "relu2_1"],
                   content_layers=["relu2_1"])
    stylize(images["content"], [images["starry"]], options, registry=probe_registry(registry, log), device="cpu",
            seed=5)
    targets = [entry for entry in log if "target" in entry]
    assert [(entry["slot"], entry["layers"]) for entry in targets] == [
        ("content", ["relu2_1"]), ("style", [PIXELS, "relu1_1", "relu2_1"])]
    assert targets[1]["size"] == (30, 48) and targets[1]["positions"].size == (30, 48)
    assert len(targets[1]["positions"]) == pytest.approx(20, abs=8)
    content, style = evaluations(log, "content"), evaluations(log, "style")
    assert len(content) == len(style) == 4
    for ours, theirs in zip(content, style):
        assert torch.equal(ours["points"], theirs["points"]) and ours["size"] == (30, 40)
    assert not torch.equal(content[0]["points"], content[1]["points"])
    # the run's seed draws them: the same seed, the same positions
    again: list[dict[str, Any]] = []
    stylize(images["content"], [images["starry"]], options, registry=probe_registry(registry, again), device="cpu",
            seed=5)
    assert all(torch.equal(a["points"], b["points"]) for a, b in zip(content, evaluations(again, "content")))


def test_positions_are_kept_for_resample_every_evaluations(registry, images) -> None:
    log: list[dict[str, Any]] = []
    options = tiny(style_loss="probe-style", style_layers=["relu1_1"])
    stylize(images["content"], [images["starry"]], options, registry=probe_registry(registry, log, resample_every=2),
            device="cpu", seed=5)
    points = [entry["points"] for entry in evaluations(log, "style")]
    assert torch.equal(points[0], points[1]) and torch.equal(points[2], points[3])
    assert not torch.equal(points[1], points[2])


def test_with_masks_each_styles_positions_lie_in_its_region(registry, images) -> None:
    log: list[dict[str, Any]] = []
    left = Image.new("L", (40, 30), 0)
    left.paste(255, (0, 0, 20, 30))
    right = Image.new("L", (40, 30), 255)
    right.paste(0, (0, 0, 20, 30))
    options = tiny(style=["a", "b"], style_masks=["l", "r"], style_loss="probe-style", content_loss="probe-content",
                   style_layers=["relu1_1"], content_layers=["relu1_1"], num_steps=2)
    stylize(images["content"], [images["starry"], images["wave"]], options, registry=probe_registry(registry, log),
            device="cpu", seed=1, masks=[left, right])
    content, style = evaluations(log, "content"), evaluations(log, "style")
    assert len(style) == 2 * len(content) == 4
    for index in range(2):
        whole, first, second = content[index]["points"], style[2 * index]["points"], style[2 * index + 1]["points"]
        assert float(whole[:, 1].min()) < 10 and float(whole[:, 1].max()) > 30
        assert len(first) and float(first[:, 1].max()) < 20
        assert len(second) and float(second[:, 1].min()) > 19


def test_pixels_are_the_image_and_refused_to_a_per_layer_loss(registry, images) -> None:
    with pytest.raises(SiaynError, match="style_layers names 'pixels', the image itself"):
        stylize(images["content"], [images["starry"]], tiny(style_layers=[PIXELS, "relu1_1"]), registry=registry,
                device="cpu", seed=1)


def test_a_tiled_run_of_a_hypercolumn_loss_is_refused_before_its_first_step(registry, images) -> None:
    steps: list[int] = []
    options = tiny(style_loss="remd", size=160, tile_size=128, style_reference=None, min_size=None)
    with pytest.raises(SiaynError) as caught:
        stylize(images["content"], [images["starry"]], options, registry=registry, device="cpu", seed=1,
                callback=lambda iterate: steps.append(iterate.step))
    assert str(caught.value) == (
        "style loss 'remd' compares positions across the whole image and cannot run on tiles (160x120 px is larger "
        "than tile_size 128); set tile_size: null, or at least 160")
    assert not steps


def siayn(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stderr


@pytest.fixture
def files(tmp_path: Path, images: dict[str, Image.Image]) -> dict[str, Path]:
    paths = {}
    for name in ("content", "starry"):
        paths[name] = tmp_path / f"{name}.png"
        images[name].save(paths[name])
    return paths


FAST = ["--set", "backbone_options.weights=none", "--set", "num_steps=3", "--set", "opt=adam", "--seed", "2",
        "--quiet"]


def test_the_cli_refuses_a_tiled_remd_run_in_one_line(files: dict[str, Path], tmp_path: Path) -> None:
    code, stderr = siayn("stylize", files["content"], files["starry"], "-o", tmp_path / "out", *FAST,
                         "--set", "style_loss=remd", "--set", "size=160", "--set", "tile_size=128",
                         "--set", "style_reference=null")
    assert code == 2 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert "style loss 'remd' compares positions across the whole image and cannot run on tiles" in stderr


@pytest.mark.parametrize("settings", [
    ["style_loss=remd", "content_loss=self-similarity", "style_layers=[pixels,relu1_1,relu2_1,relu3_1]",
     "content_layers=[relu2_1,relu3_1]", "style_weight=1", "style_loss_options.style_samples=500"],
    ["style_loss=nn-feature", "style_layers=[relu1_1,relu2_1,relu3_1]", "style_weight=100",
     "style_loss_options.samples=400"],
])
def test_tiny_runs_with_the_hypercolumn_losses_write_finite_losses(
    files: dict[str, Path], tmp_path: Path, settings: list[str]
) -> None:
    code, stderr = siayn("stylize", files["content"], files["starry"], "-o", tmp_path / "out", *FAST,
                         *(item for setting in settings for item in ("--set", setting)))
    assert code == 0, stderr
    [record] = (tmp_path / "out").glob("*/run.json")
    losses = json.loads(record.read_text())["losses"]
    assert len(losses) == 3
    for step in losses:
        assert all(math.isfinite(value) for value in step.values())
        assert step["style"] > 0


@pytest.mark.parametrize("channels_last", [False, True])
def test_reads_are_grid_samples_bilinear_border_interpolation(channels_last: bool) -> None:
    generator = torch.Generator().manual_seed(3)
    height, width = 37, 53
    points = torch.rand(300, 2, generator=generator, dtype=torch.float64) * torch.tensor([height - 1, width - 1])
    corners = torch.tensor([[0.0, 0.0], [height - 1, width - 1], [0, width - 1], [height - 1, 0], [-0.4, 52.9]])
    points = torch.cat((points, corners.double()))
    grid = torch.stack(((2 * points[:, 1] + 1) / width - 1, (2 * points[:, 0] + 1) / height - 1), dim=-1)
    for shape in [(1, 5, height, width), (1, 7, 9, 13), (1, 4, 5, 4)]:
        value = torch.randn(shape, generator=generator, dtype=torch.float64)
        if channels_last:
            value = value.contiguous(memory_format=torch.channels_last)
        expected = torch.nn.functional.grid_sample(value, grid.view(1, 1, -1, 2), mode="bilinear",
                                                   padding_mode="border", align_corners=False)[0, :, 0].t()
        read = read_hypercolumns({"map": value}, SamplePositions(points, (height, width)))
        assert torch.allclose(read, expected, rtol=0, atol=1e-12)


def test_a_bfloat16_map_is_read_in_place_and_its_gradient_keeps_its_dtype_and_layout() -> None:
    generator = torch.Generator().manual_seed(4)
    value = torch.randn(1, 6, 19, 27, generator=generator).contiguous(memory_format=torch.channels_last)
    positions = SamplePositions(torch.rand(200, 2, generator=generator) * torch.tensor([18.0, 26.0]), (19, 27))
    half = value.bfloat16().requires_grad_(True)
    read = read_hypercolumns({"map": half}, positions)
    assert read.dtype == torch.float32
    assert torch.allclose(read, read_hypercolumns({"map": half.detach().float()}, positions), rtol=0, atol=1e-6)
    read.sum().backward()
    assert half.grad is not None and half.grad.dtype == torch.bfloat16
    assert half.grad.is_contiguous(memory_format=torch.channels_last)


def test_a_bfloat16_search_finds_the_float32_searchs_neighbours() -> None:
    from siayn_losses.matching import nearest_both_ways, nearest_neighbours

    generator = torch.Generator().manual_seed(5)
    references = torch.randn(300, 64, generator=generator)
    copied = torch.randperm(300, generator=generator)[:80]
    queries = references[copied] + 0.01 * torch.randn(80, 64, generator=generator)
    assert torch.equal(nearest_neighbours(queries, references), copied)
    assert torch.equal(nearest_neighbours(queries, references, search=torch.bfloat16), copied)
    forward, backward = nearest_both_ways(queries, references, search=torch.bfloat16)
    assert torch.equal(forward, copied)
    assert torch.equal(backward[copied], torch.arange(80))


def test_bfloat16_products_of_strotss_terms_stay_near_float32s() -> None:
    from siayn_losses.matching import moment_distance, moments, self_similarity

    generator = torch.Generator().manual_seed(6)
    columns = torch.rand(200, 96, generator=generator)
    style_mean, style_covariance = moments(torch.rand(300, 96, generator=generator))
    exact = self_similarity(columns)
    fast = self_similarity(columns, product=torch.bfloat16)
    # The cosines are rounded to bfloat16 (8 bits): about 0.4% of the largest.
    assert fast.dtype == torch.float32 and float((fast - exact).abs().max()) < 1e-2 * float(exact.max())
    ours = columns.clone().requires_grad_(True)
    value = moment_distance(ours, style_mean, style_covariance, product=torch.bfloat16)
    expected = float(moment_distance(columns, style_mean, style_covariance))
    assert math.isclose(float(value.detach()), expected, rel_tol=1e-2)
    value.backward()
    assert ours.grad is not None and ours.grad.dtype == torch.float32 and bool(torch.isfinite(ours.grad).all())


def test_a_targets_rows_are_cast_for_the_search_once_and_give_the_same_loss() -> None:
    style = {"a": maps(1, 4, 8, 8, seed=30).bfloat16(), PIXELS: maps(1, 3, 8, 8, seed=31)}
    generated = {"a": maps(1, 4, 8, 8, seed=32).bfloat16(), PIXELS: maps(1, 3, 8, 8, seed=33)}
    positions = draw_positions((8, 8), 20, generator(4))
    remd, nearest = RemdLoss(), NearestFeatureLoss()
    targets = [loss.target(style, positions=positions, image=style[PIXELS]) for loss in (remd, nearest)]
    values = [float(loss(generated, target, positions=positions, image=generated[PIXELS]))
              for loss, target in zip((remd, nearest), targets)]
    remd_target, nearest_target = targets
    cast = remd_target.unit_in(torch.bfloat16), nearest_target.references_in(torch.bfloat16)
    assert cast[0] is remd_target.unit_in(torch.bfloat16) and cast[1] is nearest_target.references_in(torch.bfloat16)
    assert torch.equal(cast[0], remd_target.unit.bfloat16()) and remd_target.unit_in(None) is remd_target.unit
    # A second evaluation reads the kept copies and gives the same values.
    assert values == [float(loss(generated, target, positions=positions, image=generated[PIXELS]))
                      for loss, target in zip((remd, nearest), targets)]
