"""The web GUI's callbacks and form, called as plain Python (no browser, no server).

Runs use tiny images and a randomly initialised VGG16 (weights 'none'); the browser test
is test_gui_browser.py.
"""

from __future__ import annotations

import json
import re
import math
import sys
import threading
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner
from PIL import Image

from siayn_core import SiaynError, load_plugins, option
from siayn_core.cli import main
from siayn_core.config.schema import COMPONENT_KEYS, StylizeOptions
from siayn_core.config.build import build_options
from siayn_core.gui.form import (
    OWN_WIDGET_KEYS,
    ComponentChoice,
    FormField,
    build_form,
    changed_values,
    default_values,
    field_for,
    run_settings,
)
from siayn_core.gui.runner import GuiBackend, StopFlags, Update, format_seconds, progress_text
from siayn_core.plugin.options import describe
from siayn_core.host.registry import Registry

SESSION = "test-session"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny pictures with smooth gradients (noise would make every result alike)."""
    folder = tmp_path_factory.mktemp("pictures")
    made = {}
    for name, size, colour in (("photo", (40, 32), (200, 80, 40)), ("swirls", (36, 36), (30, 90, 220)),
                               ("waves", (32, 40), (20, 160, 90))):
        image = Image.new("RGB", size, colour)
        for x in range(size[0]):
            for y in range(size[1]):
                image.putpixel((x, y), ((x * 7 + colour[0]) % 256, (y * 5 + colour[1]) % 256, (x * y + colour[2]) % 256))
        made[name] = folder / f"{name}.png"
        image.save(made[name])
    return made


@pytest.fixture
def backend(registry: Registry, tmp_path: Path) -> GuiBackend:
    return GuiBackend(registry, tmp_path / "out", device="cpu")


def tiny_values(backend: GuiBackend, pictures: dict[str, Path], **options: Any) -> dict[tuple, Any]:
    """The form filled in for a fast run: random VGG16 weights, a few steps, a fixed seed."""
    values = default_values(backend.form)
    values[("content",)] = str(pictures["photo"])
    values[("style", 0)] = str(pictures["swirls"])
    values[("component", "backbone", "vgg16", "weights")] = "none"
    values[("option", "num_steps")] = 4
    values[("option", "seed")] = "5"
    for name, value in options.items():
        values[("option", name)] = value
    return values


# --- the form -------------------------------------------------------------------------------


def test_form_offers_every_stylize_option(registry: Registry) -> None:
    """Every StylizeOptions key is a field, a component dropdown or one of the GUI's own widgets."""
    form = build_form(registry)
    shown = {entry.name if isinstance(entry, FormField) else entry.key for entry in form.entries}
    options_keys = {options_key for _, options_key in COMPONENT_KEYS.values()}
    every = {spec.name for spec in describe(StylizeOptions)}
    assert shown == every - set(OWN_WIDGET_KEYS) - options_keys
    assert {choice.key for choice in form.choices} == set(COMPONENT_KEYS)
    help_texts = {spec.name: spec.help for spec in describe(StylizeOptions)}
    for entry in form.fields:
        assert entry.help == help_texts[entry.name]


def test_colour_control_and_recipe_are_dropdowns_that_reach_the_run(backend: GuiBackend, pictures) -> None:
    fields = {field.name: field for field in backend.form.fields}
    assert fields["color_control"].widget == "dropdown"
    assert tuple(fields["color_control"].choices) == ("none", "luminance", "match", "oklab-chroma")
    assert tuple(fields["recipe"].choices) == ("siayn", "original", "strotss", "nnst")
    values = tiny_values(backend, pictures, color_control="luminance")
    settings = run_settings(backend.form, values, backend.registry)
    assert settings["color_control"] == "luminance" and "recipe" not in settings


def test_each_style_takes_a_mask_and_the_masked_run_records_them(backend: GuiBackend, pictures, tmp_path) -> None:
    left = Image.new("L", (40, 32), 0)
    left.paste(255, (0, 0, 20, 32))
    masks = [tmp_path / "left.png", tmp_path / "right.png"]
    left.save(masks[0])
    Image.eval(left, lambda value: 255 - value).save(masks[1])
    values = tiny_values(backend, pictures)
    values[("style", 1)] = str(pictures["waves"])
    values[("style_mask", 0)] = str(masks[0])
    with pytest.raises(SiaynError, match="give every style image a mask, or none: style image 2 has none"):
        run_settings(backend.form, values, backend.registry)
    values[("style_mask", 1)] = {"path": str(masks[1])}  # Gradio's file data
    settings = run_settings(backend.form, values, backend.registry)
    assert settings["style_masks"] == [str(path) for path in masks]
    assert settings["style_weight"] == [backend.form.style_weight.default] * 2  # each its own region
    last = list(backend.run(values, session=SESSION, preview_every=2))[-1]
    record = json.loads(last.files[-1].read_text())
    assert last.done and record["config"]["style_masks"] == [str(path.resolve()) for path in masks]


def test_style_scale_is_a_slider_and_fine_style_and_content_mask_are_uploads(backend: GuiBackend, pictures) -> None:
    fields = {field.name: field for field in backend.form.fields}
    assert fields["style_scale"].widget == "slider" and (fields["style_scale"].minimum, fields["style_scale"].maximum) == (0.25, 4.0)
    assert fields["content_mask"].widget == "image" and fields["fine_style"].widget == "image"
    values = tiny_values(backend, pictures, style_scale=2.0, fine_style=str(pictures["waves"]))
    settings = run_settings(backend.form, values, backend.registry)
    assert settings["style_scale"] == 2.0 and settings["fine_style"] == str(pictures["waves"])
    last = list(backend.run(values, session=SESSION, preview_every=2))[-1]
    record = json.loads(last.files[-1].read_text())
    assert last.done and record["config"]["style_scale"] == 2.0
    assert record["config"]["fine_style"] == str(pictures["waves"].resolve())


def test_style_reference_is_an_optional_number_whose_empty_box_means_none(backend: GuiBackend, pictures) -> None:
    field = next(field for field in backend.form.fields if field.name == "style_reference")
    assert field.widget == "text" and field.display() == "512"
    for typed, expected in (("256", 256), ("", None)):
        settings = run_settings(backend.form, tiny_values(backend, pictures, style_reference=typed), backend.registry)
        assert build_options(settings, where="the page").style_reference == expected


def test_component_dropdowns_list_the_registry_and_each_components_options(registry: Registry) -> None:
    form = build_form(registry)
    backbone = next(choice for choice in form.choices if choice.key == "backbone")
    assert backbone.names == tuple(registry.names("backbone"))
    assert backbone.default == StylizeOptions().backbone
    vgg_fields = {field.name for field in backbone.fields["vgg16"]}
    assert "weights" in vgg_fields
    assert "normalize" not in vgg_fields  # set by the top-level 'norm' field
    optimizer = next(choice for choice in form.choices if choice.key == "opt")
    assert "lr" not in {field.name for field in optimizer.fields["adam"]}  # set by the top-level 'lr'
    assert set(form.postprocessors) == set(registry.names("postprocessor"))


def test_a_plugins_components_and_options_appear_without_gui_code(make_plugin) -> None:
    module = make_plugin(
        """
        from dataclasses import dataclass
        from siayn_core import option

        @dataclass(frozen=True)
        class GlowOptions:
            radius: float = option(2.0, help="blur radius of the glow", minimum=0.0)
            tint: str = option("gold", help="colour of the glow", choices=("gold", "silver"))

        def make_glow(options: GlowOptions):
            return lambda image, context: image

        @hookimpl
        def register_postprocessors(register):
            register("glow", make_glow, description="A soft glow.")

        @hookimpl
        def register_initialisers(register):
            register("grey", lambda: None, description="Flat grey.")
        """
    )
    registry = load_plugins([module]).registry
    form = build_form(registry)
    assert [(f.name, f.widget) for f in form.postprocessors["glow"]] == [("radius", "number"), ("tint", "dropdown")]
    assert form.postprocessor_help["glow"] == "A soft glow."
    initialiser = next(choice for choice in form.choices if choice.key == "init_method")
    assert "grey" in initialiser.names and initialiser.fields["grey"] == ()


@dataclass(frozen=True)
class Sample:
    flag: bool = option(True, help="a switch")
    count: int = option(3, help="how many", minimum=1)
    scale: float = option(0.5, help="how much")
    limit: float | None = option(None, help="an optional bound")
    mode: Literal["a", "b"] = option("a", help="which way")
    names: list[str] = option(["x", "y"], help="some names")
    mask: str | None = option(None, help="mask image, white = kept")
    table: dict[str, Any] = option({}, help="anything else")


def test_each_option_type_gets_a_widget_that_reads_back_what_it_shows() -> None:
    hints = typing.get_type_hints(Sample)
    fields = {spec.name: field_for(spec, hints[spec.name]) for spec in describe(Sample)}
    assert {name: field.widget for name, field in fields.items()} == {
        "flag": "checkbox", "count": "integer", "scale": "number", "limit": "text", "mode": "dropdown",
        "names": "text", "mask": "image", "table": "yaml",
    }
    assert fields["names"].display() == "x, y"
    assert fields["limit"].display() == "" and fields["limit"].read("  ") is None
    assert fields["table"].read("{a: 1}") == {"a": 1}
    assert fields["count"].read(4.0) == 4
    with pytest.raises(SiaynError, match="table"):
        fields["table"].read("{a: [")
    ordered = list(fields.values())
    raws = [field.display() for field in ordered]
    assert changed_values(ordered, raws) == {}
    raws[ordered.index(fields["scale"])] = 0.75
    raws[ordered.index(fields["mask"])] = "/tmp/mask.png"
    assert changed_values(ordered, raws) == {"scale": 0.75, "mask": "/tmp/mask.png"}


def test_run_settings_blend_styles_by_their_weights(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures)
    values[("style", 1)] = str(pictures["waves"])
    values[("style_weight", 1)] = 3.0
    values[("option", "style_weight")] = 1000.0
    values[("component", "opt")] = "LFBGS"  # the seed's spelling selects lbfgs' options
    values[("component", "opt", "lbfgs", "history_size")] = 50
    values[("component", "opt", "adam", "beta1")] = 0.5  # not the selected optimizer: ignored
    values[("postprocess",)] = ["preserve-colors", "denoise"]
    values[("postprocess", "denoise", "strength")] = 3.0
    settings = run_settings(backend.form, values, backend.registry)
    assert settings["style"] == [str(pictures["swirls"]), str(pictures["waves"])]
    assert settings["style_weight"] == [250.0, 750.0]
    assert settings["opt"] == "LFBGS" and settings["opt_options"] == {"history_size": 50}
    assert settings["backbone_options"] == {"weights": "none"}
    assert settings["postprocess"] == [{"name": "preserve-colors"}, {"name": "denoise", "strength": 3.0}]
    assert settings["num_steps"] == 4 and "scaler" not in settings  # unchanged values stay defaults


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({("content",): None}, "content image"),
        ({("style", 0): None}, "style image"),
        ({("style_weight", 0): 0.0}, "weight above 0"),
        ({("option", "num_steps"): "many"}, "num_steps"),
        ({("option", "style_layers"): "relu1_1, nowhere"}, "nowhere"),
        ({("component", "backbone"): "vgg91"}, "did you mean 'vgg19'"),
    ],
)
def test_bad_form_values_are_one_clear_error(backend: GuiBackend, pictures, change, message) -> None:
    values = tiny_values(backend, pictures)
    values.update(change)
    with pytest.raises(SiaynError, match=message):
        backend.run_spec(values)


# --- running --------------------------------------------------------------------------------


def test_a_run_previews_every_few_steps_and_ends_with_its_files(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures, num_steps=6)
    updates = list(backend.run(values, session=SESSION, preview_every=3))
    first, *steps, last = updates
    assert first.image is None and "Preparing" in first.status
    assert [update.losses[-1]["step"] for update in steps][-1] == 6
    assert all(isinstance(update.image, Image.Image) and not update.done for update in steps)
    assert "Step 6 / 6" in steps[-1].status
    assert last.done and "Finished" in last.status and last.progress == 1.0
    image, metadata = last.files
    assert image.name == "photo!-!swirls.png" and metadata.name == "run.json"
    record = json.loads(metadata.read_text())
    assert record["steps"] == 6 and record["stopped"] is False and record["seed"] == 5
    assert f"on cpu in {record['precision']} (seed 5)" in last.status
    assert record["config"]["backbone_options"] == {"weights": "none"}
    assert len(last.losses) == 6 and last.image == image
    assert Image.open(image).size == (40, 32)


def test_postprocessing_ticked_in_the_form_is_applied_to_the_result(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures, num_steps=2)
    values[("postprocess",)] = ["preserve-colors", "denoise"]
    values[("postprocess", "denoise", "strength")] = 3.0
    last = list(backend.run(values, session=SESSION, preview_every=10))[-1]
    stylized, colours, denoised, metadata = last.files
    assert [caption for _, caption in last.results] == ["stylized", "preserve-colors", "preserve-colors.denoise"]
    assert last.image == denoised and denoised.name == "photo!-!swirls.preserve-colors.denoise.png"
    record = json.loads(metadata.read_text())
    assert record["postprocessed"] == [str(colours), str(denoised)]
    assert record["config"]["postprocess"] == [{"name": "preserve-colors"}, {"name": "denoise", "strength": 3.0}]


def test_postprocess_again_reuses_the_last_result(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures, num_steps=2)
    with pytest.raises(SiaynError, match="run a stylization first"):
        backend.postprocess_again(values, session=SESSION)
    first = list(backend.run(values, session=SESSION, preview_every=10))[-1]
    with pytest.raises(SiaynError, match="tick at least one"):
        backend.postprocess_again(values, session=SESSION)
    values[("postprocess",)] = ["denoise"]
    values[("postprocess", "denoise", "strength")] = 30.0
    again = backend.postprocess_again(values, session=SESSION)
    stylized, denoised, metadata = again.files
    assert stylized == first.files[0] and metadata == first.files[-1]
    assert denoised.name == "photo!-!swirls.denoise.png" and again.image == denoised
    assert "Postprocessed" in again.status and again.done
    assert backend.postprocess_again(values, session=SESSION).files[1].name == "photo!-!swirls.denoise-2.png"
    values[("postprocess", "denoise", "strength")] = -1.0
    with pytest.raises(SiaynError, match="strength"):
        backend.postprocess_again(values, session=SESSION)


def test_stop_ends_the_run_early_and_keeps_the_image(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures, num_steps=500)
    updates = []
    for update in backend.run(values, session=SESSION, preview_every=1):
        updates.append(update)
        if len(updates) == 2:  # the first step's preview
            assert backend.stop(SESSION).startswith("Stopping")
    last = updates[-1]
    assert last.done and "Stopped" in last.status
    record = json.loads(last.files[-1].read_text())
    assert record["stopped"] is True and record["steps"] < 500
    assert Image.open(last.files[0]).size == (40, 32)
    assert backend.stop(SESSION) == "Nothing is running."


def test_closing_the_page_stops_the_engine(backend: GuiBackend, pictures) -> None:
    values = tiny_values(backend, pictures, num_steps=500)
    updates = backend.run(values, session=SESSION, preview_every=1)
    for update in updates:
        if update.losses:
            break
    updates.close()  # what Gradio does when the browser goes away
    worker = next(t for t in threading.enumerate() if t.name == "siayn-gui-run")
    worker.join(timeout=30)
    assert not worker.is_alive()


def test_an_engine_error_reaches_the_page_as_one_message(backend: GuiBackend, pictures,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import siayn_core.runs.folder

    def diverge(*args: Any, **kwargs: Any) -> None:
        raise SiaynError("the loss became nan at step 3")

    monkeypatch.setattr(siayn_core.runs.folder, "run_stylize", diverge)
    with pytest.raises(SiaynError, match="nan at step 3"):
        list(backend.run(tiny_values(backend, pictures), session=SESSION))
    assert backend.stop(SESSION) == "Nothing is running."  # the run's Stop flag is gone


def test_stop_flags_belong_to_one_session() -> None:
    flags = StopFlags()
    first = flags.begin("a")
    other = flags.begin("b")
    assert flags.stop("a") and first.is_set() and not other.is_set()
    assert not flags.stop("a")  # already stopping
    second = flags.begin("b")
    assert other.is_set() and not second.is_set()  # a new run replaces the session's old one
    flags.end("b", second)
    assert not flags.stop("b")


def test_progress_text_shows_step_time_eta_and_losses() -> None:
    text = progress_text(40, 200, 12.0, [{"step": 40, "total": 12.5, "content": 2.0, "style": 10.0, "tv": 0.5}],
                         first_step_at=4.0)
    assert text.startswith("**Step 40 / 200** · 12.0 s elapsed · about 33 s left")
    assert "total 12.5 · content 2 · style 10 · tv 0.5" in text
    text = progress_text(1, 2, 1.0, [{"step": 1, "total": 3.0, "content": 2.0, "style": 0.5, "tv": 0.0, "edges": 0.5}])
    assert "total 3 · content 2 · style 0.5 · tv 0 · edges 0.5" in text
    assert "left" not in progress_text(200, 200, 50.0)
    assert [format_seconds(s) for s in (4.4, 185, 3720)] == ["4 s", "3 min 5 s", "1 h 2 min"]


# --- the Gradio page ------------------------------------------------------------------------


def test_page_has_a_widget_for_every_form_value(backend: GuiBackend, tmp_path: Path) -> None:
    gr = pytest.importorskip("gradio", reason="the page needs Gradio: pip install 'siayn[gui]'")
    from siayn_core.io.resources import examples_dir
    from siayn_core.gui.app import build_app, default_images, example_images

    app = build_app(backend, examples_dir=examples_dir())
    assert isinstance(app, gr.Blocks) and app.analytics_enabled is False
    ids = {block.elem_id for block in app.blocks.values() if getattr(block, "elem_id", None)}
    for entry in backend.form.entries:
        if isinstance(entry, ComponentChoice):
            assert f"siayn-option-{entry.key}" in ids
            for name, fields in entry.fields.items():
                assert {f"siayn-{entry.key}-{name}-{field.name}" for field in fields} <= ids
        else:
            assert f"siayn-option-{entry.name}" in ids
    assert {"siayn-content", "siayn-style-0", "siayn-run", "siayn-stop", "siayn-result", "siayn-files"} <= ids
    from siayn_core.gui.video_runner import video_fields

    assert {"siayn-video-clip", "siayn-video-run"} | {f"siayn-video-{field.name}" for field in video_fields()} <= ids
    examples = example_images(examples_dir())
    assert examples["content"] and examples["style"]
    content, styles = default_images(examples_dir())
    assert Path(content).name == StylizeOptions().content and [Path(s).name for s in styles] == StylizeOptions().style
    assert default_images(tmp_path) == (None, [])


def test_page_update_turns_an_update_into_widget_values(tmp_path: Path) -> None:
    pytest.importorskip("gradio", reason="the page needs Gradio: pip install 'siayn[gui]'")
    from siayn_core.gui.app import loss_frame, page_update

    losses = ({"step": 1, "total": 100.0, "content": 0.0, "style": 90.0, "tv": 10.0},)
    image, status, progress, plot, results, files = page_update(
        Update(image=tmp_path / "a.png", status="done", progress=1.0, losses=losses,
               files=(tmp_path / "a.png", tmp_path / "run.json"), results=((tmp_path / "a.png", "stylized"),),
               done=True)
    )
    assert image == str(tmp_path / "a.png") and 'value="1.000"' in progress
    assert files == [str(tmp_path / "a.png"), str(tmp_path / "run.json")]
    assert results == [(str(tmp_path / "a.png"), "stylized")]
    frame = plot["value"]
    assert list(frame["term"]) == ["total", "content", "style", "tv"]
    assert frame["log10_loss"].tolist()[0] == 2.0 and math.isnan(frame["log10_loss"][1])  # log10 of 0: empty
    assert frame["log10_loss"].tolist()[2:] == [pytest.approx(1.954, abs=1e-3), 1.0]
    assert loss_frame(()).empty
    plugin_terms = ({"step": 1, "total": 3.0, "content": 1.0, "style": 1.0, "tv": 0.0, "edges": 1.0},)
    plot = page_update(Update(image=None, status="", losses=plugin_terms))[3]
    assert list(plot["value"]["term"]) == ["total", "content", "style", "tv", "edges"]
    assert plot["color_map"]["edges"] not in {plot["color_map"][name] for name in ("total", "content", "style", "tv")}


# --- the page as an API (gradio_client) ----------------------------------------------------

API_ENDPOINTS = {"/stylize", "/video", "/stop", "/postprocess_last_result"}


@pytest.fixture(scope="module")
def served(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[tuple[Any, GuiBackend]]:
    """The page served in this process on a free localhost port, and a ``gradio_client`` for it."""
    pytest.importorskip("gradio", reason="the page needs Gradio: pip install 'siayn[gui]'")
    client_module = pytest.importorskip("gradio_client", reason="comes with Gradio: pip install 'siayn[gui]'")
    import socket

    from siayn_core.gui.app import build_app
    from siayn_core.io.resources import examples_dir

    folder = tmp_path_factory.mktemp("gui-api")
    backend = GuiBackend(registry, folder / "out", device="cpu")
    app = build_app(backend, examples_dir=examples_dir())
    app.queue(default_concurrency_limit=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False,
               ssr_mode=False, mcp_server=False, enable_monitoring=False,
               allowed_paths=[str((folder / "out").resolve())])
    try:
        client = client_module.Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False,
                                      download_files=str(folder / "downloads"))
        yield client, backend
    finally:
        app.close()


def test_each_widget_has_a_keyword_named_after_its_config_key() -> None:
    from siayn_core.gui.endpoints import api_names

    names = api_names([("content",), ("style", 0), ("style_weight", 1), ("style_mask", 3), ("option", "num_steps"),
                       ("component", "backbone"), ("component", "backbone", "timm:resnet", "weights"),
                       ("postprocess",), ("postprocess", "preserve-colors", "colorspace"), ("video", "fps"),
                       ("component", "opt", "a-b", "c"), ("component", "opt", "a_b", "c")])
    assert list(names.values()) == [
        "content", "style_1", "style_weight_2", "style_mask_4", "num_steps", "backbone", "backbone_timm_resnet_weights",
        "postprocess", "postprocess_preserve_colors_colorspace", "fps", "opt_a_b_c", "opt_a_b_c_2",
    ]


def test_the_api_lists_named_endpoints_only_each_taking_keywords_with_defaults(served) -> None:
    client, _ = served
    for every in (False, True):  # True: the endpoints hidden from the docs but callable, too
        endpoints = client.view_api(all_endpoints=every, print_info=False, return_format="dict")
        assert set(endpoints["named_endpoints"]) == API_ENDPOINTS and not endpoints["unnamed_endpoints"]
    stylize = endpoints["named_endpoints"]["/stylize"]
    names = [parameter["parameter_name"] for parameter in stylize["parameters"]]
    assert {"content", "style_1", "style_weight_2", "style_mask_1", "num_steps", "seed", "backbone",
            "backbone_vgg16_weights", "opt_lbfgs_history_size", "postprocess", "postprocess_denoise_strength",
            "preview_every"} <= set(names)
    assert len(set(names)) == len(names) and all(name.isidentifier() for name in names)
    assert all(parameter["parameter_has_default"] for parameter in stylize["parameters"])
    assert [value["label"] for value in stylize["returns"]][:2] == ["Result", "Status"]
    video = {parameter["parameter_name"] for parameter in endpoints["named_endpoints"]["/video"]["parameters"]}
    assert {"clip", "later_steps", "temporal_weight"} | set(names) <= video
    again = endpoints["named_endpoints"]["/postprocess_last_result"]["parameters"]
    assert all(parameter["parameter_name"].startswith("postprocess") for parameter in again)


def test_a_program_stylizes_postprocesses_and_stops_through_the_api(served, pictures) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, backend = served
    tiny = {"content": handle_file(str(pictures["photo"])), "style_1": handle_file(str(pictures["swirls"])),
            "backbone_vgg16_weights": "none", "seed": "5", "preview_every": 10}
    image, status, _, _, results, files = client.predict(**tiny, num_steps=3, api_name="/stylize")
    assert "**Finished** 3 steps" in status and [result["caption"] for result in results] == ["stylized"]
    with Image.open(image) as picture:
        assert picture.size == (40, 32) and picture.mode == "RGB"
        assert len(picture.getcolors(40 * 32)) > 16  # a picture, not a flat colour
    written = backend.output_dir / "gui"
    assert (written / "photo!-!swirls.png").is_file()
    assert json.loads(Path(files[-1]).read_text()) == json.loads((written / "run.json").read_text())

    image, status, results, files = client.predict(postprocess=["denoise"], api_name="/postprocess_last_result")
    assert "Postprocessed" in status and (written / "photo!-!swirls.denoise.png").is_file()
    assert [result["caption"] for result in results] == ["stylized", "denoise"] and len(files) == 3

    with pytest.raises(AppError, match="nowhere"):  # a bad value fails the call with the page's message
        client.predict(**tiny, style_layers="relu1_1, nowhere", api_name="/stylize")

    job = client.submit(**{**tiny, "preview_every": 1}, num_steps=500, api_name="/stylize")
    while len(job.outputs()) < 3 and not job.done():  # "Preparing", then the first steps' previews
        time.sleep(0.05)
    client.predict(api_name="/stop")  # the same client, so the same session as the run
    status = job.result()[1]
    assert "**Stopped** at step" in status and "of 500" in status
    assert backend.stop(client.session_hash) == "Nothing is running."


# --- the command ----------------------------------------------------------------------------


def test_gui_without_gradio_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # makes `import gradio` fail
    result = CliRunner().invoke(main, ["gui", "--port", "7999"])
    assert result.exit_code == 2
    assert 'pip install "siayn[gui]"' in result.output


def test_gui_help_documents_the_safe_defaults() -> None:
    result = CliRunner().invoke(main, ["gui", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "share link" in result.output and "analytics" in result.output


def test_the_cli_and_the_gui_form_import_neither_gradio_nor_torch() -> None:
    import subprocess

    code = (
        "import sys, siayn_core.cli, siayn_core.gui.form, siayn_core.gui.runner; "
        "print(sorted({'gradio', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_readme_shows_the_gui_and_docs_describe_it() -> None:
    from .conftest import REPO

    assert "![The SIAYN GUI](docs/images/gui.png)" in (REPO / "README.md").read_text()
    assert (REPO / "docs" / "images" / "gui.png").is_file()
    guide = (REPO / "docs" / "gui.md").read_text()
    for flag in ("--host", "--port", "--output", "--device", "--plugin"):
        assert flag in guide


def test_gui_on_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("gradio", reason="the GUI needs Gradio: pip install 'siayn[gui]'")
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["gui", "--port", str(port), "--output", str(tmp_path), "--quiet"])
    assert result.exit_code == 2
    assert f"port {port} is in use; choose another with --port" in result.output


# --- the video accordion ------------------------------------------------------------------------


@pytest.fixture
def clip(pictures, tmp_path: Path) -> Path:
    """A 3-frame GIF: the photo panned 2 px a frame."""
    photo = Image.open(pictures["photo"]).convert("RGB")
    frames = [photo.transform(photo.size, Image.Transform.AFFINE, (1, 0, 2 * index, 0, 1, 0)) for index in range(3)]
    path = tmp_path / "pan.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_a_clip_runs_frame_by_frame_with_the_forms_options_and_ends_with_its_mp4(backend: GuiBackend, pictures,
                                                                                 clip: Path) -> None:
    from siayn_core.gui.video_runner import run_video
    from siayn_core.io.clips import read_clip

    values = tiny_values(backend, pictures, num_steps=3)
    values[("clip",)] = str(clip)
    values[("video", "later_steps")] = 2
    first, *frames, last = list(run_video(backend, values, session=SESSION))
    assert "Preparing 3 frames" in first.status
    assert [update.status.split("**")[1] for update in frames] == ["Frame 1 / 3", "Frame 2 / 3", "Frame 3 / 3"]
    assert all(Path(update.image).is_file() for update in frames)
    assert last.done and "**Finished** 3 frames" in last.status and last.progress == 1.0
    video, metadata = last.files
    assert video.name == "pan-stylized.mp4" and video.parent.name == "gui-video"
    written = read_clip(video)
    assert len(written.frames) == 3 and written.frames[0].size == (40, 32) and round(written.fps) == 10
    record = json.loads(metadata.read_text())
    assert record["config"]["backbone_options"] == {"weights": "none"} and record["video"]["later_steps"] == 2


def test_stop_ends_a_clip_after_its_frame_and_no_clip_is_one_clear_error(backend: GuiBackend, pictures,
                                                                         clip: Path) -> None:
    from siayn_core.gui.video_runner import run_video

    values = tiny_values(backend, pictures, num_steps=2)
    with pytest.raises(SiaynError, match="choose a clip"):
        next(run_video(backend, values, session=SESSION))
    values[("clip",)] = str(clip)
    updates = []
    for update in run_video(backend, values, session=SESSION):
        updates.append(update)
        if len(updates) == 2:  # the first frame is done
            assert backend.stop(SESSION).startswith("Stopping")
    last = updates[-1]
    # the frame running when Stop was pressed is finished first
    assert last.done and re.search(r"\*\*Stopped\*\* after [12] of 3 frames", last.status)
    assert last.files[0].name == "run.json"
    (backend.output_dir / "broken.gif").write_bytes(b"GIF89a not really")
    values[("clip",)] = str(backend.output_dir / "broken.gif")
    with pytest.raises(SiaynError, match="broken.gif"):
        next(run_video(backend, values, session=SESSION))


def test_a_rerun_with_the_same_components_builds_nothing_again(backend: GuiBackend, pictures,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from siayn_core.engine.painter import Painter

    built: list[object] = []
    original = Painter.__init__

    def counted(self, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Painter, "__init__", counted)
    values = tiny_values(backend, pictures, num_steps=2)
    first = list(backend.run(values, session=SESSION))[-1]
    values[("option", "tv_weight")] = 0.5  # another setting, the same components
    second = list(backend.run(values, session=SESSION))[-1]
    assert first.done and second.done and len(built) == 1
