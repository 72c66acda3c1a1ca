"""The Gradio page: widgets built from :class:`~siayn_core.gui.form.Form`, wired to
:class:`~siayn_core.gui.runner.GuiBackend`. Everything the buttons do lives in the backend;
this module only lays out widgets and converts values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from ..engine.outcomes import loss_names
from ..plugin.errors import SiaynError
from ..io.images import IMAGE_SUFFIXES
from .endpoints import POSTPROCESS_API, STOP_API, STYLIZE_API, VIDEO_API, api_names, optional_keywords
from .form import ComponentChoice, FormField, Key, selected_component
from .runner import GuiBackend, Update
from .video_runner import run_video, video_fields

logger = logging.getLogger("siayn")
TITLE = "SIAYN — Style Is All You Need"
INTRO = (
    "Paint a photo in the style of one or more paintings (Gatys et al. 2016). Choose a content "
    "image and style images, adjust the options, press **Run**: the image forms as you watch. "
    "**Stop** keeps the current image. Results and their `run.json` can be downloaded."
)
#: Fixed colours, so every term keeps its line even when it starts at 0 (log10 undefined).
LOSS_COLOURS = {"total": "#1f2937", "content": "#2563eb", "style": "#ea580c", "tv": "#16a34a", "temporal": "#9333ea"}
#: The colours of a plugin loss's own terms, in the order they first appear.
EXTRA_LOSS_COLOURS = ("#db2777", "#0891b2", "#ca8a04", "#4b5563", "#65a30d", "#7c3aed")
VIDEO_INTRO = (
    "Each frame is painted with the style images and options on this page, starting from the previous "
    "frame warped by the optical flow, so the clip does not flicker (Ruder et al. 2016). The result is an "
    "mp4 at the clip's frame rate; tick a GIF postprocessor for an animation you can watch here."
)
#: The clip files the upload offers (anything OpenCV reads works; these are the usual ones).
VIDEO_SUFFIXES = [".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif"]
CSS = "#siayn-progress progress { width: 100%; height: 0.9em; }"


def build_app(backend: GuiBackend, *, examples_dir: Path | None = None) -> gr.Blocks:
    """The page for ``backend``. Bundled images in ``examples_dir`` are offered as examples."""
    form = backend.form
    widgets: dict[Key, gr.components.Component] = {}
    video_widgets: dict[Key, gr.components.Component] = {}
    examples = example_images(examples_dir)
    first_content, first_styles = default_images(examples_dir)

    with gr.Blocks(title="SIAYN", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                widgets[("content",)] = content = image_input("Content image", "siayn-content", value=first_content)
                if examples["content"]:
                    gr.Examples(examples["content"], inputs=[content], label="Bundled content images",
                                api_visibility="private")
                with gr.Accordion("Video: stylize a clip instead", open=False, elem_id="siayn-video"):
                    gr.Markdown(VIDEO_INTRO)
                    video_widgets[("clip",)] = gr.File(label="Clip (a video file or a GIF)", type="filepath",
                                                       file_types=VIDEO_SUFFIXES, elem_id="siayn-video-clip")
                    for field in video_fields():
                        video_widgets[("video", field.name)] = field_widget(field, f"siayn-video-{field.name}")
                    video_button = gr.Button("Run on the clip", elem_id="siayn-video-run")
                style_groups = []
                for index in range(form.max_styles):
                    with gr.Group(visible=index == 0) as group:
                        with gr.Row(equal_height=False):
                            widgets[("style", index)] = style = image_input(
                                f"Style image {index + 1}", f"siayn-style-{index}", scale=3,
                                value=first_styles[index] if index < len(first_styles) else None,
                            )
                            widgets[("style_weight", index)] = gr.Number(
                                1.0, label="weight", minimum=0, scale=1, min_width=90,
                                info="its share of the style weight", elem_id=f"siayn-style-weight-{index}",
                            )
                            widgets[("style_mask", index)] = image_input(
                                "Where it applies (optional mask: white = this style)",
                                f"siayn-style-mask-{index}", scale=2,
                            )
                        if examples["style"]:
                            gr.Examples(examples["style"], inputs=[style], label="Bundled style images",
                                        examples_per_page=8, api_visibility="private")
                    style_groups.append(group)
                with gr.Row():
                    add_style = gr.Button("Add a style image", size="sm", elem_id="siayn-add-style")
                    remove_style = gr.Button("Remove the last style image", size="sm")
                style_count = gr.State(1)
                widgets[("option", "style_weight")] = field_widget(form.style_weight, "siayn-option-style_weight")

                with gr.Accordion("Stylize options", open=True):
                    option_widgets(backend, widgets)
                with gr.Accordion("Postprocessing", open=False):
                    postprocess_widgets(backend, widgets)
                    again_button = gr.Button("Apply to the last result (no new run)", size="sm",
                                             elem_id="siayn-postprocess-again")

            with gr.Column(scale=6):
                with gr.Row():
                    run_button = gr.Button("Run", variant="primary", elem_id="siayn-run")
                    stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="siayn-stop")
                widgets[("preview_every",)] = gr.Slider(
                    1, 50, value=5, step=1, label="preview every N steps",
                    info="how often the image and the losses update while the run goes on",
                )
                progress = gr.HTML(progress_html(0.0), label="Progress", show_label=False, elem_id="siayn-progress")
                status = gr.Markdown("Ready.", label="Status", show_label=False, elem_id="siayn-status")
                result = gr.Image(label="Result", type="pil", interactive=False, format="png",
                                  elem_id="siayn-result", height=420)
                plot = gr.LinePlot(x="step", y="log10_loss", color="term", color_map=LOSS_COLOURS,
                                   label="Losses (log10)", elem_id="siayn-losses", height=240)
                gallery = gr.Gallery(label="Stylized and postprocessed", columns=3, height=200,
                                     elem_id="siayn-gallery")
                files = gr.File(label="Download: the result, postprocessed images and run.json",
                                file_count="multiple", interactive=False, elem_id="siayn-files")

        names = api_names([*widgets, *video_widgets])
        keys = {name: key for key, name in names.items()}
        page_inputs = {names[key]: widget for key, widget in widgets.items()}
        clip_inputs = {**page_inputs, **{names[key]: widget for key, widget in video_widgets.items()}}
        postprocess_inputs = {names[key]: widget for key, widget in widgets.items() if key[0] == "postprocess"}

        def collect(values: Mapping[str, Any]) -> dict[Key, Any]:
            return {keys[name]: value for name, value in values.items()}

        def stream(updates: Callable[[dict[Key, Any], str], Iterator[Update]],
                   inputs: Mapping[str, gr.components.Component]) -> Callable[..., Iterator[tuple]]:
            """An event handler showing each of ``updates``'s :class:`Update` on the page."""

            def handler(request: gr.Request, **values: Any) -> Iterator[tuple]:
                # The generator re-enables Run itself, also after an error: a failed event does
                # not reach the steps chained after it.
                busy = (gr.Button(interactive=False), gr.Button(interactive=True))
                try:
                    for update in updates(collect(values), request.session_hash or "local"):
                        yield (*page_update(update), *(idle() if update.done else busy))
                except Exception as error:  # shown on the page; an internal error is logged too
                    message = str(error) if isinstance(error, SiaynError) else f"internal error: {error!r}"
                    if not isinstance(error, SiaynError):
                        logger.exception("the run failed")
                    yield (gr.skip(), f"**Error:** {message}", gr.skip(), gr.skip(), gr.skip(), gr.skip(), *idle())
                    # Raised after the page shows it, so that a program calling the endpoint gets an error too.
                    raise gr.Error(message, title="The run failed", print_exception=False) from None

            return optional_keywords(handler, inputs)

        run = stream(lambda values, session: backend.run(values, session=session,
                                                         preview_every=values.get(("preview_every",)) or 5),
                     page_inputs)
        run_clip = stream(lambda values, session: run_video(backend, values, session=session), clip_inputs)

        def postprocess_again(request: gr.Request, **values: Any) -> tuple:
            try:
                update = backend.postprocess_again(collect(values), session=request.session_hash or "local")
            except SiaynError as error:
                raise gr.Error(str(error), print_exception=False) from None
            image, status_text, _, _, results, downloads = page_update(update)
            return image, status_text, results, downloads

        def stop(request: gr.Request) -> None:
            message = backend.stop(request.session_hash or "local")
            gr.Info(message)

        def running() -> tuple[gr.Button, gr.Button]:
            return gr.Button(interactive=False), gr.Button(interactive=True)

        def idle() -> tuple[gr.Button, gr.Button]:
            return gr.Button(interactive=True), gr.Button(interactive=False)

        page_outputs = [result, status, progress, plot, gallery, files, run_button, stop_button]
        run_button.click(running, outputs=[run_button, stop_button], queue=False, api_visibility="private").then(
            run, inputs_kwargs=page_inputs, outputs=page_outputs, api_name="stylize",
            api_description=STYLIZE_API, show_progress="hidden", concurrency_id="stylize", concurrency_limit=1,
        )
        video_button.click(running, outputs=[run_button, stop_button], queue=False, api_visibility="private").then(
            run_clip, inputs_kwargs=clip_inputs, outputs=page_outputs, api_name="video",
            api_description=VIDEO_API, show_progress="hidden", concurrency_id="stylize", concurrency_limit=1,
        )
        stop_button.click(stop, queue=False, api_name="stop", api_description=STOP_API)
        again_button.click(optional_keywords(postprocess_again, postprocess_inputs), inputs_kwargs=postprocess_inputs,
                           outputs=[result, status, gallery, files], api_name="postprocess_last_result",
                           api_description=POSTPROCESS_API, concurrency_id="stylize")
        add_style.click(
            lambda count: show_styles(count + 1, form.max_styles), inputs=[style_count],
            outputs=[style_count, *style_groups], queue=False, api_visibility="private",
        )
        remove_style.click(
            lambda count: show_styles(count - 1, form.max_styles), inputs=[style_count],
            outputs=[style_count, *style_groups], queue=False, api_visibility="private",
        )
    return app


def image_input(label: str, elem_id: str, *, scale: int | None = None, value: str | None = None) -> gr.Image:
    """An upload field handing over the uploaded file unchanged (``read_image`` converts it)."""
    return gr.Image(value=value, label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"],
                    height=220, elem_id=elem_id, scale=scale)


def option_widgets(backend: GuiBackend, widgets: dict[Key, Any]) -> None:
    """Every StylizeOptions field, in declaration order; a component choice is a dropdown
    followed by the options of the selected component."""
    entries = backend.form.entries
    half = (len(entries) + 1) // 2
    with gr.Row(equal_height=False):
        for part in (entries[:half], entries[half:]):
            with gr.Column(min_width=240):
                for entry in part:
                    if isinstance(entry, FormField):
                        widgets[("option", entry.name)] = field_widget(entry, f"siayn-option-{entry.name}")
                    else:
                        component_widgets(backend, entry, widgets)


def component_widgets(backend: GuiBackend, entry: ComponentChoice, widgets: dict[Key, Any]) -> None:
    """A dropdown of the registry's names for ``entry``'s kind, then each component's options
    (only the selected component's are visible)."""
    dropdown = gr.Dropdown(
        list(entry.names), value=entry.default, label=entry.label, info=entry.help,
        allow_custom_value=True, elem_id=f"siayn-option-{entry.key}",
    )
    widgets[("component", entry.key)] = dropdown
    selected = selected_component(backend.registry, entry, entry.default)
    groups = []
    for name in entry.names:
        with gr.Group(visible=name == selected and bool(entry.fields[name])) as group:
            for field in entry.fields[name]:
                widgets[("component", entry.key, name, field.name)] = field_widget(
                    field, f"siayn-{entry.key}-{name}-{field.name}", label=f"{name}: {field.label}"
                )
        groups.append(group)
    dropdown.change(
        lambda value: component_groups(backend, entry, value), inputs=[dropdown], outputs=groups, queue=False,
        api_visibility="private",
    )


def component_groups(backend: GuiBackend, entry: ComponentChoice, value: str | None) -> list[gr.Group]:
    """Show the options of the component ``value`` selects, hide the others."""
    selected = selected_component(backend.registry, entry, value)
    return [gr.Group(visible=name == selected and bool(entry.fields[name])) for name in entry.names]


def postprocess_widgets(backend: GuiBackend, widgets: dict[Key, Any]) -> None:
    """A tick box per postprocessor (applied in the order ticked) and the options of each."""
    form = backend.form
    names = list(form.postprocessors)
    choices = [(f"{name}: {form.postprocessor_help.get(name, '')}".rstrip(": "), name) for name in names]
    ticked = gr.CheckboxGroup(
        choices, value=[], label="postprocessors",
        info="applied to the result in the order you tick them; the unprocessed image is kept too",
        elem_id="siayn-postprocess",
    )
    widgets[("postprocess",)] = ticked
    groups = []
    for name in names:
        with gr.Group(visible=False) as group:
            for field in form.postprocessors[name]:
                widgets[("postprocess", name, field.name)] = field_widget(
                    field, f"siayn-post-{name}-{field.name}", label=f"{name}: {field.label}"
                )
        groups.append(group)
    ticked.change(
        lambda chosen: [gr.Group(visible=name in (chosen or []) and bool(form.postprocessors[name]))
                        for name in names],
        inputs=[ticked], outputs=groups, queue=False, api_visibility="private",
    )


def field_widget(field: FormField, elem_id: str, *, label: str | None = None) -> gr.components.Component:
    """The Gradio widget for one option, with its default and its help text."""
    common: dict[str, Any] = {"label": label or field.label, "info": field.help, "elem_id": elem_id}
    value = field.display()
    if field.widget == "checkbox":
        return gr.Checkbox(value=bool(value), **common)
    if field.widget in ("integer", "number"):
        return gr.Number(
            value=value, precision=0 if field.widget == "integer" else None,
            minimum=field.minimum, maximum=field.maximum,
            step=1 if field.widget == "integer" else _number_step(field.default), **common,
        )
    if field.widget == "slider":
        step = 10.0 ** math.floor(math.log10(field.minimum or 1.0)) / 20
        return gr.Slider(field.minimum, field.maximum, value=value, step=step, **common)
    if field.widget == "dropdown":
        return gr.Dropdown(list(field.choices or ()), value=value, **common)
    if field.widget == "image":
        common.pop("info")
        return gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], height=140,
                        value=value, **common)
    return gr.Textbox(value=value, placeholder=field.placeholder, **common)


def _number_step(default: Any) -> float:
    """A spinner step matching the default's magnitude (0.01 for 1e-2, 100 for 1e5...)."""
    if isinstance(default, (int, float)) and default and math.isfinite(default):
        return 10.0 ** math.floor(math.log10(abs(default)))
    return 0.1


def show_styles(count: int, maximum: int) -> list[Any]:
    """The number of style slots shown, and each slot's visibility."""
    count = min(max(count, 1), maximum)
    return [count, *[gr.Group(visible=index < count) for index in range(maximum)]]


def page_update(update: Update) -> tuple:
    """An :class:`Update` as the values of the result widgets."""
    image = str(update.image) if isinstance(update.image, Path) else update.image
    results = [(str(path), caption) for path, caption in update.results] if update.done else gr.skip()
    files = [str(path) for path in update.files] if update.done else None
    plot = gr.skip()
    if update.losses:
        plot = gr.update(value=loss_frame(update.losses), color_map=loss_colours(loss_names(update.losses[-1])))
    return (image, update.status, progress_html(update.progress), plot, results, files)


def progress_html(fraction: float) -> str:
    """A native progress bar."""
    fraction = min(max(fraction, 0.0), 1.0)
    return f'<progress value="{fraction:.3f}" max="1" aria-label="progress"></progress>'


def loss_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour for each loss the plot shows: the built-in terms' own, the others' in turn."""
    extra = [name for name in names if name not in LOSS_COLOURS]
    return {**LOSS_COLOURS, **{name: EXTRA_LOSS_COLOURS[index % len(EXTRA_LOSS_COLOURS)]
                               for index, name in enumerate(extra)}}


def loss_frame(losses: Any) -> Any:
    """The loss history in long format for the plot: step, term and log10 of the value
    (the terms differ by orders of magnitude). A value of 0 (no log) is left empty, but
    its term keeps its rows: the plot fixes its legend from the first data it gets."""
    import pandas as pd

    rows = [
        (record["step"], term, math.log10(record[term]) if record[term] > 0 else math.nan)
        for record in losses
        for term in loss_names(record)
    ]
    return pd.DataFrame({
        "step": pd.Series([row[0] for row in rows], dtype="int64"),
        "term": pd.Series([row[1] for row in rows], dtype="object"),
        "log10_loss": pd.Series([row[2] for row in rows], dtype="float64"),
    })


def default_images(examples_dir: Path | None) -> tuple[str | None, list[str]]:
    """The bundled images StylizeOptions names by default, so Run works right away."""
    from ..config.schema import StylizeOptions

    if examples_dir is None:
        return None, []
    defaults = StylizeOptions()
    content = examples_dir / defaults.content
    styles = [str(examples_dir / name) for name in defaults.style if (examples_dir / name).is_file()]
    return (str(content) if content.is_file() else None), styles


def example_images(examples_dir: Path | None) -> dict[str, list[list[str]]]:
    """The bundled images: ``content/`` and ``style/`` subfolders, or every image for both."""
    found: dict[str, list[list[str]]] = {"content": [], "style": []}
    if examples_dir is None or not examples_dir.is_dir():
        return found
    for kind in found:
        folder = examples_dir / kind
        if folder.is_dir():
            found[kind] = [[str(p)] for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not found["content"] and not found["style"]:
        every = [[str(p)] for p in sorted(examples_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        found = {"content": every, "style": every}
    return found
