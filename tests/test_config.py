"""Stylize configs: the seed's format read as written, overrides, image lookup, clear errors."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from siayn_core import SiaynError
from siayn_core.plugin.options import describe
from siayn_core.config.schema import StylizeOptions
from siayn_core.config.build import build_options
from siayn_core.config.components import component_options
from siayn_core.config.loader import load_stylize_runs
from siayn_core.io.resources import STYLIZE_CONFIG_NAME, bundled_config, examples_dir
from siayn_core.host.registry import Registry

from .conftest import SHARED

SEED_CONFIG = SHARED / "data" / "seed_style_transfer_default.yaml"


@pytest.fixture
def seed_layout(tmp_path: Path) -> Path:
    """The seed's layout: <dir>/config.yaml, <dir>/data/content, <dir>/data/style."""
    (tmp_path / "data" / "content").mkdir(parents=True)
    (tmp_path / "data" / "style").mkdir(parents=True)
    shutil.copy(examples_dir() / "tubingen.jpg", tmp_path / "data" / "content" / "lena_color.gif")
    shutil.copy(examples_dir() / "starry_night.jpg", tmp_path / "data" / "style" / "vg_starry_night.jpg")
    shutil.copy(examples_dir() / "great_wave.jpg", tmp_path / "data" / "style" / "wave.jpg")
    return tmp_path


def write(directory: Path, text: str, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_seed_config_reads_as_written(seed_layout: Path, registry: Registry) -> None:
    config = seed_layout / "seed.yaml"
    shutil.copy(SEED_CONFIG, config)
    [spec] = load_stylize_runs(config, registry=registry)
    o = spec.options
    assert spec.name == "test1" and spec.source == config
    assert o.style_weight == 1e5 and o.content_weight == 1e3 and o.tv_weight == 1e-2  # '1e5' is a number
    assert o.scaler == 0.5 and o.num_steps == 3000 and o.lr == 1.0 and o.norm is True
    assert o.opt == "LFBGS" and registry.get("optimizer", o.opt).name == "lbfgs"
    assert o.backbone == "VGG19" and registry.get("backbone", o.backbone).name == "vgg19"
    assert o.style_layers == ["conv_1", "conv_3", "conv_5", "conv_7", "conv_11"]
    assert o.content_layers == ["conv_8"] and o.style_layers_weights is None and o.style_resize == "stretch"
    assert o.style == ["vg_starry_night.jpg"] and o.init_method == "random"
    assert spec.content == seed_layout.resolve() / "data" / "content" / "lena_color.gif"
    assert spec.styles == (seed_layout.resolve() / "data" / "style" / "vg_starry_night.jpg",)
    # Its weights were set for summed Gram differences: it keeps them.
    assert o.recipe == "original"
    assert component_options(o, "style_loss", registry) == {"reduction": "sum"}


def test_runs_with_fewer_than_the_original_keys_get_the_siayn_recipe(seed_layout: Path, registry: Registry) -> None:
    config = write(seed_layout, """
        mine:
          style: starry_night.jpg
          content: tubingen.jpg
          style_weight: 1e5
        old:
          scaler: 0.5
          init_method: random
          backbone: vgg16
          lr: 1
          opt: lbfgs
          num_steps: 10
          style_weight: 1e5
          content_weight: 1e3
          tv_weight: 1e-2
          norm: True
          style_layers: [relu1_1]
          style_layers_weights: null
          style_resize: True
          content_layers: [relu4_2]
          style: starry_night.jpg
          content: tubingen.jpg
    """)
    mine, old = load_stylize_runs(config, registry=registry)
    assert mine.options.recipe == "siayn" and old.options.recipe == "original"
    assert (mine.options.content_weight, mine.options.tv_weight, mine.options.style_resize) == (1.0, None, "short-side")
    assert component_options(mine.options, "style_loss", registry) == {}
    [switched] = load_stylize_runs(config, ["old"], ["recipe=siayn"], registry=registry)
    assert switched.options.recipe == "siayn" and component_options(switched.options, "style_loss", registry) == {}
    # An explicit reduction wins over the recipe's, and a loss without one gets none.
    [explicit] = load_stylize_runs(config, ["old"], ["style_loss_options.reduction=mean"], registry=registry)
    assert component_options(explicit.options, "style_loss", registry) == {"reduction": "mean"}
    [w2] = load_stylize_runs(config, ["old"], ["style_loss=w2"], registry=registry)
    assert "reduction" not in component_options(w2.options, "style_loss", registry)


def test_the_original_recipe_fills_only_the_keys_a_run_leaves_out() -> None:
    options = build_options({"recipe": "original", "content_weight": 5}, where="test")
    assert (options.style_weight, options.content_weight, options.tv_weight, options.style_resize) == (
        1e5, 5.0, 1e-2, "stretch")
    defaults = StylizeOptions()
    assert (defaults.style_weight, defaults.content_weight, defaults.tv_weight, defaults.style_resize) == (
        1.2e6, 1.0, None, "short-side")


def test_several_runs_and_run_selection(seed_layout: Path) -> None:
    config = write(seed_layout, """
        first:
          content: lena_color.gif
          style: vg_starry_night.jpg
        second:
          content: lena_color.gif
          style: wave.jpg
          num_steps: 10
    """)
    specs = load_stylize_runs(config)
    assert [s.name for s in specs] == ["first", "second"]
    assert specs[1].options.num_steps == 10 and specs[0].options.num_steps == StylizeOptions().num_steps
    assert [s.name for s in load_stylize_runs(config, ["second"])] == ["second"]
    with pytest.raises(SiaynError, match=r"unknown run 'secnd'.*did you mean 'second'"):
        load_stylize_runs(config, ["secnd"])


def test_multi_style_from_yaml(seed_layout: Path) -> None:
    config = write(seed_layout, """
        blend:
          content: lena_color.gif
          style: ['vg_starry_night.jpg', 'wave.jpg']
          style_weight: [1e5, 5e4]
    """)
    [spec] = load_stylize_runs(config)
    assert spec.options.style_weight == [1e5, 5e4]
    assert [p.name for p in spec.styles] == ["vg_starry_night.jpg", "wave.jpg"]


def test_style_weights_must_match_the_styles(seed_layout: Path) -> None:
    config = write(seed_layout, """
        blend:
          content: lena_color.gif
          style: ['vg_starry_night.jpg', 'wave.jpg']
          style_weight: [1e5]
    """)
    with pytest.raises(SiaynError, match=r"key 'style_weight' of run 'blend' in .*config.yaml has 1 weights for 2"):
        load_stylize_runs(config)


def test_unknown_key_names_the_key_run_and_file_with_a_suggestion(seed_layout: Path) -> None:
    config = write(seed_layout, """
        test1:
          content: lena_color.gif
          style: vg_starry_night.jpg
          num_step: 10
    """)
    with pytest.raises(SiaynError) as error:
        load_stylize_runs(config)
    message = str(error.value)
    assert "unknown key 'num_step'" in message and "did you mean 'num_steps'" in message
    assert "run 'test1'" in message and str(config) in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("num_steps: many", r"key 'num_steps' of run 'test1' in .*config.yaml must be a whole number"),
        ("style_weight: heavy", r"key 'style_weight' of run 'test1' .* must be float \| list\[float\]"),
        ("norm: maybe", r"key 'norm' of run 'test1' .* must be true or false"),
        ("scaler: 0", r"key 'scaler' of run 'test1' .* must be at least 0.01"),
        ("backbone_options: 3", r"key 'backbone_options' of run 'test1' .* must be a mapping"),
        ("style_layers_weights: [1, 2]", r"style_layers_weights' of run 'test1' .* has 2 weights for 5 style layers"),
    ],
)
def test_wrong_types_name_the_key_run_and_file(seed_layout: Path, line: str, expected: str) -> None:
    config = write(seed_layout, f"""
        test1:
          content: lena_color.gif
          style: vg_starry_night.jpg
          {line}
    """)
    with pytest.raises(SiaynError, match=expected):
        load_stylize_runs(config)


def test_component_names_and_options_are_checked_before_any_run(seed_layout: Path, registry: Registry) -> None:
    config = write(seed_layout, """
        good:
          content: lena_color.gif
          style: vg_starry_night.jpg
        bad:
          content: lena_color.gif
          style: vg_starry_night.jpg
          backbone: vgg91
    """)
    with pytest.raises(SiaynError, match=r"key 'backbone' of run 'bad'.*unknown backbone 'vgg91'.*did you mean 'vgg19'"):
        load_stylize_runs(config, registry=registry)
    with pytest.raises(SiaynError, match=r"key 'opt' of run 'good'.*option 'history' .*did you mean 'history_size'"):
        load_stylize_runs(config, ["good"], ["opt_options={history: 3}"], registry=registry)
    with pytest.raises(SiaynError, match=r"unknown postprocessor 'denoize'"):
        load_stylize_runs(config, ["good"], ["postprocess=[denoize]"], registry=registry)


def test_overrides_apply_to_every_selected_run(seed_layout: Path) -> None:
    config = write(seed_layout, """
        a:
          content: lena_color.gif
          style: vg_starry_night.jpg
          backbone_options: {pooling: avg}
        b:
          content: lena_color.gif
          style: wave.jpg
    """)
    specs = load_stylize_runs(
        config, (), ["num_steps=2", "style_weight=1e6", "backbone_options.weights=none", "tv_weight=null"]
    )
    for spec in specs:
        assert spec.options.num_steps == 2 and spec.options.style_weight == 1e6 and spec.options.tv_weight is None
        assert spec.options.backbone_options["weights"] == "none"
    assert specs[0].options.backbone_options == {"pooling": "avg", "weights": "none"}
    [blend] = load_stylize_runs(config, ["b"], {"style": ["wave.jpg", "vg_starry_night.jpg"], "style_weight": [1, 2]})
    assert [p.name for p in blend.styles] == ["wave.jpg", "vg_starry_night.jpg"]
    with pytest.raises(SiaynError, match=r"unknown key 'num_stesp' for --set \(did you mean 'num_steps'\?\)"):
        load_stylize_runs(config, (), ["num_stesp=2"])
    with pytest.raises(SiaynError, match="not a mapping of options"):
        load_stylize_runs(config, (), ["num_steps.x=2"])


def test_a_bad_override_is_named_as_the_command_line_value(seed_layout: Path) -> None:
    config = write(seed_layout, """
        a:
          content: lena_color.gif
          style: vg_starry_night.jpg
          scaler: 0
    """)
    with pytest.raises(SiaynError, match=r"^--set final_share must be at most 1.0, got 1.5$"):
        load_stylize_runs(config, (), ["final_share=1.5", "scaler=1"])
    with pytest.raises(SiaynError, match=r"^key 'scaler' of run 'a' in .* must be at least"):
        load_stylize_runs(config, (), ["final_share=0.5"])


def test_image_lookup_dirs_paths_and_bundled_examples(seed_layout: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("images")
    shutil.copy(examples_dir() / "tubingen.jpg", elsewhere / "photo.png")
    (seed_layout / "pics").mkdir()
    shutil.copy(examples_dir() / "great_wave.jpg", seed_layout / "pics" / "w.jpg")
    config = write(seed_layout, f"""
        by_path:
          content: {elsewhere / 'photo.png'}
          style: starry_night.jpg
        own_dirs:
          content: photo.png
          content_dir: {elsewhere}
          style: w.jpg
          style_dir: pics
    """)
    by_path, own_dirs = load_stylize_runs(config)
    assert by_path.content == elsewhere / "photo.png"
    assert by_path.styles == (examples_dir() / "starry_night.jpg",)  # the bundled example
    assert own_dirs.content == elsewhere / "photo.png"
    assert own_dirs.styles == (seed_layout.resolve() / "pics" / "w.jpg",)  # relative to the config file
    missing = write(seed_layout, "r:\n  content: nowhere.jpg\n", "missing.yaml")
    with pytest.raises(SiaynError, match=r"content image of run 'r' in .*missing.yaml not found: nowhere.jpg"):
        load_stylize_runs(missing)


def test_positional_images_replace_content_and_style(seed_layout: Path) -> None:
    photo = seed_layout / "data" / "content" / "lena_color.gif"
    [spec] = load_stylize_runs(None, content=photo, styles=["starry_night.jpg", "great_wave.jpg"])
    assert spec.content == photo
    assert [p.name for p in spec.styles] == ["starry_night.jpg", "great_wave.jpg"]


def test_the_default_config_uses_the_bundled_examples(registry: Registry) -> None:
    path = bundled_config(STYLIZE_CONFIG_NAME)
    assert path.is_file() and path.parent.name == "configs"
    [spec] = load_stylize_runs(registry=registry)
    assert spec.name == "default" and spec.source == path
    assert spec.content == examples_dir() / "tubingen.jpg"
    assert spec.styles == (examples_dir() / "starry_night.jpg",)
    assert spec.options.backbone == "vgg16" and spec.options.init_method == "content"
    # the file sets the defaults StylizeOptions declares, but halves the 512-px example
    defaults = StylizeOptions()
    for key in ("backbone", "opt", "num_steps", "style_weight", "content_weight", "tv_weight",
                "style_layers", "content_layers", "init_method", "norm", "style_resize"):
        assert getattr(spec.options, key) == getattr(defaults, key), key


def test_shortcuts_fill_component_options(registry: Registry) -> None:
    options = build_options({"lr": 0.5, "norm": False, "opt": "adam"}, where="test")
    assert component_options(options, "opt", registry)["lr"] == 0.5
    assert component_options(options, "backbone", registry)["normalize"] is False
    explicit = build_options({"lr": 0.5, "opt_options": {"lr": 0.1}}, where="test")
    assert component_options(explicit, "opt", registry)["lr"] == 0.1  # the component's own mapping wins
    assert "lr" not in component_options(build_options({}, where="test"), "opt", registry)


def test_empty_keys_and_single_style_names() -> None:
    options = build_options({"backbone_options": None, "postprocess": None, "style": "a,b.jpg"}, where="t")
    assert options.backbone_options == {} and options.postprocess == [] and options.style == ["a,b.jpg"]


def test_every_option_is_documented() -> None:
    specs = describe(StylizeOptions)
    seed_keys = {"scaler", "init_method", "backbone", "lr", "opt", "num_steps", "style_weight", "content_weight",
                 "tv_weight", "norm", "style_layers", "style_layers_weights", "style_resize", "content_layers",
                 "style", "content"}
    assert seed_keys <= {spec.name for spec in specs}
    assert all(spec.help for spec in specs)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    for spec in specs:
        assert f"`{spec.name}`" in docs, f"docs/config.md does not describe {spec.name}"
