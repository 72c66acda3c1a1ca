"""One path from settings to a picture: the resolver refuses what cannot run before any work,
decodes each image once, and a painter builds components and style targets once for many runs."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import siayn_core
from siayn_core.cli import main
from siayn_core.engine.painter import Painter
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir

FAST = ["--set", "num_steps=2", "--set", "backbone_options.weights=none", "--quiet"]


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """A 48x36 photo and two small styles."""
    paths = {}
    for name, size in {"tubingen.jpg": (48, 36), "starry_night.jpg": (48, 30), "great_wave.jpg": (40, 40)}.items():
        read_image(examples_dir() / name).resize(size).save(tmp_path / name)
        paths[name.split(".")[0]] = tmp_path / name
    return paths


@pytest.fixture
def no_painting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to build components (load weights) fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("components were built before the size was refused")

    monkeypatch.setattr(Painter, "__init__", refuse)


def test_an_output_past_the_pixel_limit_is_refused_on_every_surface_before_weights_load(
    tmp_path: Path, photos: dict[str, Path], no_painting: None
) -> None:
    code, out, err = invoke("stylize", photos["tubingen"], photos["starry_night"], "--size", "200000",
                            "-o", tmp_path / "out", *FAST)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "200000x150000 px output" in err and "--max-pixels" in err
    assert not (tmp_path / "out").exists()

    config = tmp_path / "runs.yaml"
    config.write_text(f"big:\n  content: {photos['tubingen']}\n  style: {photos['starry_night']}\n  size: 200000\n")
    code, _, err = invoke("stylize", "-c", config, "-o", tmp_path / "out", *FAST)
    assert code == 2 and "run 'big'" in err and "above the limit" in err

    with pytest.raises(siayn_core.SiaynError, match="200000x150000 px output"):
        siayn_core.stylize(photos["tubingen"], photos["starry_night"], size=200000)

    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(f"contents: [{photos['tubingen']}]\nstyles: [{photos['starry_night']}]\nsize: 200000\n")
    code, _, err = invoke("batch", manifest, "-o", tmp_path / "batch", "-q")
    assert code == 2 and "above the limit" in err and len(err.strip().splitlines()) == 1

    frames = tmp_path / "clip"
    frames.mkdir()
    for index in range(3):
        Image.open(photos["tubingen"]).save(frames / f"{index:03d}.png")
    code, _, err = invoke("video", frames, photos["starry_night"], "-o", tmp_path / "clip.mp4", "--size", "200000",
                          "-q")
    assert code == 2 and "above the limit" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "clip.frames").exists()


def test_a_raised_pixel_limit_lets_a_large_output_through_to_the_memory_check(
    photos: dict[str, Path], no_painting: None
) -> None:
    code, _, err = invoke("stylize", photos["tubingen"], photos["starry_night"], "--size", "200000",
                          "--max-pixels", str(10**12), *FAST)
    assert code == 2 and "GiB of memory" in err


_opened: Counter[str] = Counter()
_counting = False


def _count_opens(event: str, args: tuple[object, ...]) -> None:
    if _counting and event == "open" and isinstance(args[0], (str, os.PathLike)):
        _opened[os.path.realpath(args[0])] += 1


sys.addaudithook(_count_opens)


def test_a_positional_run_opens_the_photo_and_each_style_once(tmp_path: Path, photos: dict[str, Path]) -> None:
    global _counting
    _opened.clear()
    _counting = True
    try:
        code, out, err = invoke("stylize", photos["tubingen"], photos["starry_night"], photos["great_wave"],
                                "-o", tmp_path / "out", *FAST)
    finally:
        _counting = False
    assert code == 0, err
    for name in ("tubingen", "starry_night", "great_wave"):
        assert _opened[os.path.realpath(photos[name])] == 1, (name, dict(_opened))


def test_a_clip_loads_the_weights_once_and_each_styles_targets_once_per_stage_size(
    vgg16_torch_home: Path, tmp_path: Path, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from siayn_core.engine.objective import Objective
    from siayn_core.host.plugins import load_plugins
    from siayn_core.io.clips import read_clip
    from siayn_core.plugin.options import build
    from siayn_core.video import stylize_clip
    from siayn_core.video.clip import resolve_clip_run
    from siayn_core.video.options import VideoOptions

    frames = tmp_path / "clip"
    frames.mkdir()
    photo = read_image(photos["tubingen"])
    for index in range(6):
        photo.transform(photo.size, Image.Transform.AFFINE, (1, 0, index, 0, 1, 0)).save(frames / f"{index:03d}.png")
    style_inputs: Counter[tuple[object, ...]] = Counter()
    features_of = Objective._features_of

    def counted(self: Objective, image, what: str):  # type: ignore[no-untyped-def]
        if what == "style":
            style_inputs[(*image.shape, round(float(image.sum()), 2))] += 1
        return features_of(self, image, what)

    monkeypatch.setattr(Objective, "_features_of", counted)
    weight_loads: list[str] = []
    torch_load = torch.load

    def load(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        weight_loads.append(str(file))
        return torch_load(file, *args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    registry = load_plugins().registry
    clip = read_clip(frames)
    spec = resolve_clip_run({"style": [str(photos["starry_night"]), str(photos["great_wave"])], "num_steps": 4,
                             "min_size": 24, "size": 48}, clip, where="test", registry=registry)
    result = stylize_clip(clip, list(spec.styles), spec.options, build(VideoOptions, {}, where="test"),
                          tmp_path / "out.mp4", registry=registry, device="cpu", seed=1)
    assert result.video is not None and result.frames == 6
    assert len(weight_loads) == 1 and weight_loads[0].endswith("vgg16-397923af.pth"), weight_loads
    # Two stage sizes (24 and 48 px), two styles: each style's targets once per stage size.
    assert len(style_inputs) >= 2 and set(style_inputs.values()) == {1}, style_inputs


def test_a_batch_workers_jobs_with_the_same_components_share_one_painter(
    tmp_path: Path, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from siayn_core.batch import jobs as batch_jobs
    from siayn_core.batch.manifest import load_manifest

    batch_jobs._painters.cache_clear()  # a fresh worker process

    built: list[object] = []
    original = Painter.__init__

    def counted(self: Painter, *args: object, **kwargs: object) -> None:
        built.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Painter, "__init__", counted)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(f"contents: [{photos['tubingen']}, {photos['great_wave']}]\nstyles: [{photos['starry_night']}]\n"
                        "num_steps: 2\nbackbone_options: {weights: none}\n")
    jobs = load_manifest(manifest, output_dir=tmp_path / "out", device="cpu")
    outcomes = [batch_jobs.run_job(job) for job in jobs]
    assert [outcome.status for outcome in outcomes] == ["done", "done"], outcomes
    assert len(built) == 1
