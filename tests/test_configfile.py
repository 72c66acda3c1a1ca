"""The shared config-file layer: runs, overrides, typed coercion, path resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siayn_core import SiaynError
from siayn_core.plugin.options import coerce
from siayn_core.config.files import load_runs, parse_overrides, resolve_file, select_runs

SEED = Path(__file__).resolve().parents[2] / "shared" / "data" / "seed_style_transfer_default.yaml"


def test_seed_file_reads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(
        "test1:\n  style_weight: 1e5\n  tv_weight: null\n  content_layers: ['conv_8', ]\n"
        "test2:\n  opt: 'LFBGS'\n"
    )
    runs = load_runs(path)
    assert list(runs) == ["test1", "test2"]
    assert coerce(runs["test1"]["style_weight"], float, name="style_weight") == 100000.0
    assert coerce(runs["test1"]["tv_weight"], float | None, name="tv_weight") is None
    assert runs["test1"]["content_layers"] == ["conv_8"]


@pytest.mark.skipif(not SEED.exists(), reason="the seed config is not beside the checkout")
def test_shared_seed_config_loads() -> None:
    assert load_runs(SEED)["test1"]["opt"] == "LFBGS"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("test1:\n  scaler: 0.5\n  style: [a.jpg\n")
    with pytest.raises(SiaynError, match=r"YAML syntax error in .*broken.yaml at line \d+"):
        load_runs(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n", "test1: 5\n"])
def test_wrong_shapes_are_clear_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    with pytest.raises(SiaynError, match="shape.yaml"):
        load_runs(path)


def test_missing_config_and_unknown_run(tmp_path: Path) -> None:
    with pytest.raises(SiaynError, match="config file not found"):
        load_runs(tmp_path / "nope.yaml")
    with pytest.raises(SiaynError, match=r"unknown run 'tset1'.*did you mean 'test1'"):
        select_runs({"test1": {}, "other": {}}, ["tset1"], source="cfg.yaml")
    assert list(select_runs({"a": {}, "b": {}}, [], source="x")) == ["a", "b"]


def test_overrides_are_read_as_yaml() -> None:
    assert parse_overrides(["num_steps=50", "style=[a.jpg, b.jpg]", "tv_weight=null", "name=x=y"]) == {
        "num_steps": 50,
        "style": ["a.jpg", "b.jpg"],
        "tv_weight": None,
        "name": "x=y",
    }
    with pytest.raises(SiaynError, match="KEY=VALUE"):
        parse_overrides(["num_steps"])


def test_coercion_rules() -> None:
    assert coerce("1e-2", float, name="x") == 0.01
    assert coerce("True", bool, name="x") is True
    assert coerce("3", int, name="x") == 3
    assert coerce("VGG19", Literal["vgg16", "vgg19"], name="x") == "vgg19"
    assert coerce("conv_1, conv_3", list[str], name="x") == ["conv_1", "conv_3"]
    assert coerce(2, list[float], name="x") == [2.0]
    for value, annotation in [("nan", float), ("inf", float), ("1.5", int), ("maybe", bool), ([1], str)]:
        with pytest.raises(SiaynError, match="option 'x'"):
            coerce(value, annotation, name="option 'x'")


def test_resolve_file_searches_directories(tmp_path: Path) -> None:
    (tmp_path / "data" / "style").mkdir(parents=True)
    (tmp_path / "data" / "style" / "a.jpg").write_bytes(b"x")
    found = resolve_file("a.jpg", [tmp_path / "data" / "content", tmp_path / "data" / "style"], what="style image")
    assert found == tmp_path / "data" / "style" / "a.jpg"
    with pytest.raises(SiaynError, match="style image not found: b.jpg"):
        resolve_file("b.jpg", [tmp_path], what="style image")


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_annotations = st.sampled_from([int, float, bool, str, Path, float | None, list[str], list[float], Literal["a", "b"]])


@settings(max_examples=300, deadline=None)
@given(value=_values, annotation=_annotations)
def test_coerce_raises_only_siayn_errors(value, annotation) -> None:
    try:
        coerce(value, annotation, name="option 'x'")
    except SiaynError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.builds(lambda d: __import__("yaml").safe_dump(d), _values))
def test_any_config_text_loads_or_fails_clearly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        runs = load_runs(path)
    except SiaynError:
        return
    assert all(isinstance(name, str) and isinstance(settings, dict) for name, settings in runs.items())
