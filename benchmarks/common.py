"""What every benchmark section shares: the machine's description, timing a bare pass,
the real VGG16 weights through a temporary TORCH_HOME, settings and JSON results.

torch is imported inside the functions that need it, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from siayn_core import Registry
    from siayn_core.config.schema import StylizeOptions

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg16-397923af.pth"
LAYERS: dict[str, list[str]] = {
    "content_layers": ["relu4_2"],
    "style_layers": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
}


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def conditions(threads: int) -> dict[str, Any]:
    """The machine and its load, recorded next to the numbers."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "load_average": load_average(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def memory_mb(field: str) -> float:
    """A ``/proc/self/status`` figure in MB (``VmRSS`` now, ``VmHWM`` the peak), else the
    peak from getrusage (which, unlike VmHWM, keeps the parent's peak across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def registry() -> Registry:
    """The registry of every installed plugin."""
    from siayn_core import load_plugins

    return load_plugins().registry


def options(**settings: Any) -> StylizeOptions:
    """Validated stylize options from loose settings."""
    from siayn_core.config.build import build_options

    return build_options(settings, where="benchmark")


def parse_settings(items: Iterable[str]) -> dict[str, Any]:
    """``["num_steps=50"]`` -> ``{"num_steps": 50}``, read exactly as ``siayn --set`` reads them."""
    from siayn_core.config.files import parse_overrides

    return parse_overrides(items)


def deepest_layer(reg: Registry, arch: str, layers: Sequence[str]) -> str:
    """The deepest of ``layers`` in backbone ``arch``: the truncated network's last output."""
    backbone = reg.create("backbone", arch, {"weights": "none"})
    return max(layers, key=backbone.layer_index)


def sync() -> None:
    """Wait for queued CUDA work, so that timings include it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bare_pass(extractor: Any, image: torch.Tensor, layer: str, channels_last: bool) -> float:
    """Seconds of one forward+backward of ``extractor`` (backward from ``layer``, its deepest
    output) with requires_grad on the input only."""
    import torch

    x = image.detach().clone()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    started = time.perf_counter()
    extractor(x)[layer].sum().backward()
    sync()
    return time.perf_counter() - started


def with_weights(weights: Path) -> tempfile.TemporaryDirectory[str] | None:
    """A temporary TORCH_HOME holding the VGG16 weights where torchvision looks for them,
    set in the environment; None (and nothing set) when ``weights`` is not a file."""
    if not weights.is_file():
        return None
    home = tempfile.TemporaryDirectory(prefix="siayn-bench-torch-")
    checkpoints = Path(home.name) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    target = checkpoints / "vgg16-397923af.pth"
    try:
        target.symlink_to(weights.resolve())
    except OSError:
        shutil.copy2(weights, target)
    os.environ["TORCH_HOME"] = home.name
    return home


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print a table, the first column left-aligned and the others right-aligned."""
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    for column in columns:
        view.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        view.add_row(*row)
    Console(width=160).print(view)


@dataclass
class Session:
    """One benchmark run: its command-line settings, the results so far and their file."""

    args: argparse.Namespace
    threads: int
    output: Path
    results: dict[str, Any]
    registry: Registry

    def log(self, text: str) -> None:
        """Print a progress line at once."""
        print(text, flush=True)

    def save(self) -> None:
        """Write the results so far, so that an interrupted run keeps its finished parts."""
        self.results["conditions"]["load_average_end"] = load_average()
        write_json(self.output, self.results)
