"""``siayn video``: the flow, the temporal loss against independent frames (real VGG16
weights), frame count and rate, bad clips, resuming, shots, the YAML form and a GIF."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from siayn_core import SiaynError, load_plugins
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.video.flow import consistency, dense_flow
from siayn_core.io.images import read_image, to_pil, to_tensor
from siayn_core.io.resources import examples_dir
from siayn_core.runs.folder import load_resume_point
from siayn_core.video.clip import VideoOptions, frames_dir_for, stylize_clip
from siayn_core.io.clips import read_clip, write_mp4
from siayn_core.video.shots import find_shots, flicker

RANDOM = {"backbone_options": {"weights": "none"}, "min_size": None, "num_steps": 2, "size": 48}


def panned_clip(count: int, width: int = 64, step: int = 2) -> list[Image.Image]:
    """The bundled photo panned ``step`` px right and half that down per frame."""
    height = width * 3 // 4
    photo = read_image(examples_dir() / "tubingen.jpg").resize((width + step * count, height + step * count // 2))
    return [photo.crop((step * i, step * i // 2, step * i + width, step * i // 2 + height)) for i in range(count)]


def save_frames(frames: list[Image.Image], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        frame.save(folder / f"f{index:03d}.png")
    return folder


def test_the_flow_of_a_pan_is_the_pan() -> None:
    first, second = panned_clip(2, width=96, step=4)
    flow = dense_flow(second, first)  # where each pixel of the second frame was in the first
    inner = flow[8:-8, 8:-8]
    assert np.allclose(np.median(inner.reshape(-1, 2), axis=0), (4, 2), atol=0.5)
    assert consistency(flow, dense_flow(first, second))[8:-8, 8:-8].mean() > 0.9


def test_a_temporal_clip_flickers_less_and_is_still_stylized(vgg16_torch_home: Path, tmp_path: Path) -> None:
    from .test_quality_controls import Judge

    frames = panned_clip(24)
    registry = load_plugins().registry
    style_path = examples_dir() / "starry_night.jpg"
    options = build_options({"num_steps": 20, "size": 64, "min_size": None}, where="the video test")
    clip = stylize_clip(read_clip(save_frames(frames, tmp_path / "in")), [style_path], options,
                        VideoOptions(later_steps=10), tmp_path / "out.mp4", registry=registry, device="cpu", seed=0)
    temporal = [read_image(path) for path in sorted((clip.frames_dir / "frames").glob("frame_*.png"))]
    later = build_options({"num_steps": 10, "size": 64, "min_size": None}, where="the video test")
    style = read_image(style_path)
    independent = [to_pil(stylize(frame, [style], options if index == 0 else later, registry=registry,
                                  device="cpu", seed=index).image) for index, frame in enumerate(frames)]
    with_flow, alone = flicker(frames, temporal), flicker(frames, independent)
    judge = Judge(registry)
    target = judge.grams(to_tensor(style.resize((64, 48))))

    def gram_distance(image: Image.Image) -> float:
        grams = judge.grams(to_tensor(image))
        return sum(float(judge.gram.compare(grams[layer], target[layer])) for layer in grams)

    stylized = max(gram_distance(frame) for frame in temporal)
    photo = min(gram_distance(frame) for frame in frames)
    print(f"flicker (mean warped difference, 8-bit levels): temporal {with_flow:.2f}, independent {alone:.2f}; "
          f"Gram distance to the style: worst temporal frame {stylized:.3g}, best photo frame {photo:.3g}")
    assert with_flow <= 0.5 * alone
    assert stylized < 0.5 * photo


def run_video_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siayn_core", "video", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_output_has_the_clips_frames_and_rate(tmp_path: Path) -> None:
    write_mp4(panned_clip(6, width=48), 12.0, tmp_path / "in.mp4")
    done = run_video_cli("in.mp4", str(examples_dir() / "great_wave.jpg"), "-o", "out.mp4", "-q", "--seed", "1",
                         "--set", "num_steps=2", "--set", "backbone_options.weights=none", "--set", "min_size=null",
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    capture = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 6 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    capture.release()
    assert len(list((tmp_path / "out.frames" / "frames").glob("frame_*.png"))) == 6
    before = (tmp_path / "out.mp4").read_bytes()
    again = run_video_cli("in.mp4", str(examples_dir() / "great_wave.jpg"), "-o", "out.mp4", "-q", cwd=tmp_path)
    assert again.returncode == 2 and "choose another output" in again.stderr
    assert (tmp_path / "out.mp4").read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypmp42 but then nothing"])
def test_a_corrupt_clip_is_one_line_and_exit_2(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "broken.mp4").write_bytes(content)
    done = run_video_cli("broken.mp4", str(examples_dir() / "great_wave.jpg"), "-o", "out.mp4", cwd=tmp_path)
    assert done.returncode == 2 and "broken.mp4" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.frames").exists()


def test_a_resumed_clip_has_the_frames_of_an_uninterrupted_one(tmp_path: Path) -> None:
    registry = load_plugins().registry
    clip = read_clip(save_frames(panned_clip(5, width=48), tmp_path / "in"))
    style = [examples_dir() / "great_wave.jpg"]
    options = build_options(RANDOM, where="the video test")

    def frames(target: Path) -> list[bytes]:
        return [path.read_bytes() for path in sorted((frames_dir_for(target) / "frames").glob("frame_*.png"))]

    whole = stylize_clip(clip, style, options, VideoOptions(), tmp_path / "whole.mp4", registry=registry,
                         device="cpu", seed=4)
    assert whole.frames == 5
    stopped = stylize_clip(clip, style, options, VideoOptions(), tmp_path / "part.mp4", registry=registry,
                           device="cpu", seed=4, on_frame=lambda done, total: done == 2)
    assert stopped.video is None and stopped.frames == 2 and len(frames(tmp_path / "part.mp4")) == 2
    resumed = stylize_clip(clip, style, options, VideoOptions(), tmp_path / "part.mp4", registry=registry,
                           device="cpu")
    assert resumed.frames == 5 and frames(tmp_path / "part.mp4") == frames(tmp_path / "whole.mp4")



def test_a_later_frame_reports_its_temporal_term(tmp_path: Path) -> None:
    registry = load_plugins().registry
    clip = read_clip(save_frames(panned_clip(2, width=48), tmp_path / "in"))
    options = build_options({**RANDOM, "num_steps": 4}, where="the video test")  # later frames: 2 steps
    stylize_clip(clip, [examples_dir() / "great_wave.jpg"], options, VideoOptions(), tmp_path / "out.mp4",
                 registry=registry, device="cpu", seed=4)
    [record] = (frames_dir_for(tmp_path / "out.mp4") / "shots").glob("*.json")
    first, later = (frame["loss"] for frame in json.loads(record.read_text()))
    assert "temporal" not in first
    assert list(later) == ["step", "total", "content", "style", "tv", "temporal"] and later["temporal"] > 0
    assert later["total"] == pytest.approx(sum(later[name] for name in ("content", "style", "tv", "temporal")),
                                           rel=1e-5)

def two_shot_clip() -> list[Image.Image]:
    """Four frames of the panned photo, then four of it upside down: one cut."""
    pan = panned_clip(8, width=48)
    return pan[:4] + [frame.rotate(180) for frame in pan[4:]]


def test_a_cut_starts_a_new_shot() -> None:
    assert [list(shot) for shot in find_shots(two_shot_clip(), 30.0)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [list(shot) for shot in find_shots(panned_clip(8, width=48), 30.0)] == [list(range(8))]
    assert find_shots(two_shot_clip(), None) == [range(8)]


def test_shots_run_in_parallel_on_an_executor(tmp_path: Path) -> None:
    registry = load_plugins().registry
    clip = read_clip(save_frames(two_shot_clip(), tmp_path / "in"))
    options = build_options({**RANDOM, "num_steps": 4}, where="the video test")
    executor = registry.create("executor", "local", {"workers": 2})
    done = stylize_clip(clip, [examples_dir() / "great_wave.jpg"], options, VideoOptions(), tmp_path / "out.mp4",
                        registry=registry, executor=executor, device="cpu", seed=2, threads=1)
    record = json.loads(done.metadata.read_text())
    assert done.frames == 8 and record["shots"] == [[0, 4], [4, 8]]
    # Each shot's first frame starts afresh with every step; the others from the warped previous frame.
    assert [frame["steps"] for frame in record["frames"]] == [4, 2, 2, 2, 4, 2, 2, 2]
    # The fields a stylize run's run.json has too, meaning the same there.
    assert record["kind"] == "video" and record["device"] == "cpu" and record["seed"] == record["config"]["seed"] == 2
    assert record["steps"] == 20 and record["seconds"] == round(sum(frame["seconds"] for frame in record["frames"]), 3)
    assert record["output"] == str((tmp_path / "out.mp4").resolve()) and record["config"]["num_steps"] == 4
    assert record["config"]["content"] == str(clip.source.resolve()) and record["components"]["backbone"]["plugin"]
    assert record["versions"]["torch"] and record["postprocessed"] == [] and record["size"] == list(read_image(done.frames_dir / "frames" / "frame_00001.png").size)
    with pytest.raises(SiaynError, match="holds a clip's frames"):
        load_resume_point(done.frames_dir, registry=registry)
    capture = cv2.VideoCapture(str(done.video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    capture.release()


def test_a_video_config_runs_and_a_gif_comes_with_post(tmp_path: Path) -> None:
    save_frames(panned_clip(5, width=48), tmp_path / "clip")
    (tmp_path / "clip.yaml").write_text(
        "video:\n  input: clip\n  output: styled.mp4\n  fps: 10\n  temporal_weight: 1e4\n"
        "style: great_wave.jpg\nnum_steps: 2\nmin_size: null\nbackbone_options: {weights: none}\n"
        "postprocess: [{name: gif, out_name: styled}]\n")
    done = run_video_cli("-c", "clip.yaml", "-q", "--seed", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [(tmp_path / line).resolve() for line in done.stdout.split()] == [tmp_path.resolve() / "styled.mp4",
                                                                             tmp_path.resolve() / "styled.gif"]
    record = json.loads((tmp_path / "styled.frames" / "run.json").read_text())
    assert record["video"]["temporal_weight"] == 1e4 and record["fps"] == 10
    with Image.open(tmp_path / "styled.gif") as gif:
        assert gif.n_frames == 5 and gif.info["duration"] == 100
    bad = run_video_cli("-c", "clip.yaml", "--set", "video.later_steps=0", "-o", "other.mp4", cwd=tmp_path)
    assert bad.returncode == 2 and "later_steps" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_ctrl_c_stops_after_a_frame_and_the_same_command_goes_on(tmp_path: Path) -> None:
    save_frames(panned_clip(12, width=48), tmp_path / "in")
    args = ["in", str(examples_dir() / "great_wave.jpg"), "-q", "--seed", "5", "--set", "num_steps=4",
            "--set", "backbone_options.weights=none", "--set", "min_size=null", "--size", "48"]
    command = [sys.executable, "-m", "siayn_core", "video", *args]
    running = subprocess.Popen([*command, "-o", "part.mp4"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    frames = tmp_path / "part.frames" / "frames"
    deadline = time.monotonic() + 120
    while not (frames / "frame_00002.png").exists() and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 130, stderr
    assert "the same command goes on" in stderr and not (tmp_path / "part.mp4").exists()
    stopped_at = len(list(frames.glob("frame_*.png")))
    assert 2 <= stopped_at < 12
    assert run_video_cli(*args, "-o", "part.mp4", cwd=tmp_path).returncode == 0
    assert run_video_cli(*args, "-o", "whole.mp4", cwd=tmp_path).returncode == 0
    whole = tmp_path / "whole.frames" / "frames"
    assert [path.read_bytes() for path in sorted(frames.glob("*.png"))] == \
        [path.read_bytes() for path in sorted(whole.glob("*.png"))]
