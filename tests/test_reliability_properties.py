"""Property tests: generated stylize configs and overrides either resolve to valid runs or
fail with SiaynError; no other exception escapes. Nothing is optimized."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from siayn_core import SiaynError
from siayn_core.config.schema import StylizeOptions
from siayn_core.config.build import build_options, option_fields
from siayn_core.config.loader import load_stylize_runs
from siayn_core.host.registry import Registry

FIELDS = sorted(option_fields())

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1e5", "0", "-1", "nan", "inf", ".5", "true", "null", "~", "[1, 2]", "a,b", "~nobody/x",
                     "x" * 300, "a\x00b", "../" * 40, "/dev/null", ".", "/"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
#: Values a user might plausibly write for some key: component and layer names, image names.
_plausible = st.one_of(
    st.sampled_from([
        "vgg16", "VGG19", "vgg91", "lbfgs", "LFBGS", "adam", "adamw", "content", "random", "style", "noise",
        "mse", "gram", "tv", "relu4_2", "conv_8", "relu9_1", "content.png", "style.png", "missing.png",
        "denoise", "gif", {"name": "denoise"}, {"name": "mask", "feather": -1}, {"weights": "none"},
        {"weights": "none", "pooling": "avg"}, {"lr": 0.1}, {"std": "wide"}, ["relu1_1", "relu2_1"],
        ["content.png"], ["style.png", "style.png"], [1, 2], [0.5], {"bogus": 1},
    ]),
    _values,
)
_keys = st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12))
_runs = st.dictionaries(_keys, _plausible, max_size=6)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("props")
    Image.new("RGB", (24, 24), (200, 80, 40)).save(path / "content.png")
    Image.new("RGB", (24, 24), (40, 80, 200)).save(path / "style.png")
    return path


def check_resolved(options: StylizeOptions) -> None:
    """A run that loaded holds only values of the declared shapes and bounds."""
    assert options.style and all(isinstance(s, str) for s in options.style)
    assert options.num_steps >= 0 and 0.01 <= options.scaler <= 16
    weights = options.style_weight if isinstance(options.style_weight, list) else [options.style_weight]
    for number in [*weights, options.content_weight, options.tv_weight or 0.0, options.lr or 0.0]:
        assert math.isfinite(number) and number >= 0
    if isinstance(options.style_weight, list):
        assert len(options.style_weight) == len(options.style)


def _safe_dump(settings: dict[str, Any]) -> str:
    try:
        return yaml.safe_dump({"run": settings}, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
        raise


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=_runs)
def test_generated_runs_resolve_or_fail_clearly(registry: Registry, folder: Path, run: dict[str, Any]) -> None:
    settings_ = {"content": "content.png", "style": "style.png", **run}
    config = folder / "generated.yaml"
    config.write_text(_safe_dump(settings_), encoding="utf-8")
    try:
        specs = load_stylize_runs(config, registry=registry)
    except SiaynError as error:
        assert "\n" not in str(error).strip()
        return
    [spec] = specs
    check_resolved(spec.options)
    assert spec.content.exists() and all(path.exists() for path in spec.styles)


_paths = st.one_of(
    st.sampled_from(["content.png", "style.png", "x" * 300, "a\x00b", "../" * 40, "/dev/null", ".", "/",
                     "~", "~nobody/x", "~0", "~no-such-user/x.png", "", " ", "content.png\n", "C:\\x.png", "*.png"]),
    st.text(max_size=40),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_paths | st.lists(_paths, max_size=2), style=_paths | st.lists(_paths, max_size=3),
       content_dir=_paths, style_dir=_paths)
def test_generated_image_names_resolve_or_fail_clearly(registry, folder, content, style, content_dir, style_dir) -> None:
    settings_ = {"content": content, "style": style, "content_dir": content_dir, "style_dir": style_dir}
    config = folder / "names.yaml"
    config.write_text(_safe_dump(settings_), encoding="utf-8")
    try:
        [spec] = load_stylize_runs(config, registry=registry)
    except SiaynError:
        return
    assert spec.content.exists() and all(path.exists() for path in spec.styles)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(
        st.tuples(_keys | st.sampled_from(["backbone_options.weights", "opt_options.lr", "scaler.x", ".", "a."]),
                  st.text(max_size=16) | st.sampled_from(["[1, 2", "{a: ", "nan", "-3", "1e400", "[]"])),
        max_size=4,
    )
)
def test_generated_overrides_resolve_or_fail_clearly(registry: Registry, folder: Path, items) -> None:
    config = folder / "base.yaml"
    config.write_text("run: {content: content.png, style: style.png}\n")
    overrides = [f"{key}={value}" for key, value in items]
    try:
        [spec] = load_stylize_runs(config, overrides=overrides, registry=registry)
    except SiaynError:
        return
    check_resolved(spec.options)


@settings(max_examples=300, deadline=None)
@given(run=_runs)
def test_build_options_never_raises_anything_else(run: dict[str, Any]) -> None:
    try:
        options = build_options({"style": ["a.png"], **run}, where="run 'x'")
    except SiaynError:
        return
    check_resolved(options)
    assert dataclasses.asdict(options)  # the record run.json is made from


_POSTPROCESS_KEYS = ["use_denoise", "p3", "p4", "p5", "p6", "img_path", "use_mask", "mask", "content", "styled",
                     "use_histogram", "source", "target", "use_mask_creation", "p_image", "scaler",
                     "use_gif_creation", "path", "out_name", "fps", "image", "postprocess", "output"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=st.dictionaries(st.sampled_from(_POSTPROCESS_KEYS) | st.text(min_size=1, max_size=8),
                           _plausible | st.sampled_from([True, "content.png", "style.png", "."]), max_size=6))
def test_generated_postprocess_runs_resolve_or_fail_clearly(registry: Registry, folder: Path, run) -> None:
    from siayn_core.runs.postprocess_configs import load_postprocess_runs

    config = folder / "post.yaml"
    config.write_text(_safe_dump(run), encoding="utf-8")
    try:
        load_postprocess_runs(config, registry=registry)
    except SiaynError:
        pass
