"""``siayn plugins new``: every kind's package installs, is found, passes its own test, and
a new postprocessor works from ``siayn postprocess`` with no edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from siayn_core.io.resources import examples_dir
from siayn_core.host.scaffold import PROTOCOL_FOR_KIND


def siayn(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siayn_core", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def install(package: Path, site: Path) -> dict[str, str]:
    """pip-install ``package`` into ``site`` as a user would (no edits); an environment that sees it."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, capture_output=True, timeout=300)
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.parametrize("kind", sorted(PROTOCOL_FOR_KIND))
def test_a_new_plugin_installs_is_listed_and_passes_its_own_test(kind: str, tmp_path: Path) -> None:
    made = siayn("plugins", "new", f"my-{kind}", "--kind", kind, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    env = install(tmp_path / f"my-{kind}", tmp_path / "site")
    listed = siayn("plugins", "list", "--json", cwd=tmp_path, env=env)
    entry = next(entry for entry in json.loads(listed.stdout) if entry["name"] == f"my-{kind}")
    assert entry["components"] == {kind: [f"my-{kind}"]} and entry["error"] is None
    assert entry["package"] == f"siayn-my-{kind}"
    own_test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
                               str(tmp_path / f"my-{kind}" / "tests")], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
    assert own_test.returncode == 0, own_test.stdout


def test_sepia2_works_from_siayn_postprocess_with_no_edits(tmp_path: Path) -> None:
    assert siayn("plugins", "new", "sepia2", "--kind", "postprocessor", cwd=tmp_path).returncode == 0
    env = install(tmp_path / "sepia2", tmp_path / "site")
    (tmp_path / "post.yaml").write_text(f"corners:\n  image: '{examples_dir() / 'tubingen.jpg'}'\n"
                                        "  postprocess: [sepia2]\n  output: out\n")
    done = siayn("postprocess", "--config", "post.yaml", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    [result] = (tmp_path / "out").glob("*sepia2*.png")
    with Image.open(result) as image:
        corner, centre = image.getpixel((0, 0)), image.getpixel((image.width // 2, image.height // 2))
    with Image.open(examples_dir() / "tubingen.jpg") as photo:
        assert sum(corner) < sum(photo.getpixel((0, 0))) and centre == photo.getpixel((photo.width // 2,
                                                                                      photo.height // 2))


def test_a_bad_name_or_an_existing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    for name in ("Bad Name", "taken"):
        done = siayn("plugins", "new", name, cwd=tmp_path)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert os.listdir(tmp_path / "taken") == ["keep.txt"]
