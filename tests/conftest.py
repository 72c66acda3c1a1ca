"""Shared fixtures: throwaway plugin modules, isolation from the user's environment."""

from __future__ import annotations

import itertools
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from siayn_core import Registry, load_plugins
from siayn_core.engine import fusion

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VGG16_WEIGHTS = SHARED / "weights" / "vgg16-397923af.pth"

needs_onednn_bfloat16 = pytest.mark.skipif(
    fusion._fused_convolution() is None or not fusion._onednn_takes_bfloat16(),
    reason="needs torch's oneDNN with bfloat16 convolutions on this CPU",
)

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own SIAYN_* plugin settings."""
    for name in ("SIAYN_LOAD_PLUGINS", "SIAYN_DISABLE_PLUGINS", "SIAYN_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The registry of the installed plugins, loaded once for the whole test session."""
    return load_plugins().registry


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Write a throwaway plugin module and return its importable name.

    ``make_plugin(body)`` puts ``body`` (dedented) after ``from siayn_core import hookimpl``
    in a fresh module on ``sys.path``; pass the name to ``--plugin`` or ``load_plugins``.
    """
    directory = tmp_path / "test_plugins"
    directory.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(directory))

    def make(body: str) -> str:
        name = f"siayn_test_plugin_{next(_counter)}"
        source = "from siayn_core import hookimpl\n" + textwrap.dedent(body)
        (directory / f"{name}.py").write_text(source)
        return name

    return make


@pytest.fixture
def vgg16_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary ``$TORCH_HOME`` whose hub cache holds torchvision's VGG16 ImageNet weights.

    Sets ``TORCH_HOME`` for the test and returns it, so ``weights: imagenet`` loads the real
    (features-only) file through torchvision's weights API without a download. Skips the
    test when the file is absent.
    """
    if not VGG16_WEIGHTS.is_file():
        pytest.skip(f"real VGG16 weights not available at {VGG16_WEIGHTS}")
    home = tmp_path / "torch_home"
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    try:
        (checkpoints / VGG16_WEIGHTS.name).symlink_to(VGG16_WEIGHTS)
    except OSError:
        shutil.copyfile(VGG16_WEIGHTS, checkpoints / VGG16_WEIGHTS.name)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
