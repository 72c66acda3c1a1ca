"""The page's events as an API for programs (``gradio_client``, HTTP): each endpoint's name
is given where the event is wired in :mod:`.app`; this module names the keyword of every
widget's value and says what each endpoint does. It does not import Gradio.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from .form import Key

#: What the API page (and ``gradio_client``'s ``view_api``) says each endpoint does.
STYLIZE_API = (
    "Stylize the content image with the style images and the options (every widget of the page, "
    "by its keyword; left out: the page's default). Streams previews; its last value is the "
    "result image, the status, the progress bar, the losses, the images made and the files to download."
)
VIDEO_API = (
    "Stylize a clip frame by frame with the style images and options of /stylize plus the clip's own "
    "options; its last value is the last frame, the status, the progress bar, the losses, the images "
    "made and the files to download (the mp4 and run.json)."
)
STOP_API = "Stop this client's running /stylize or /video after its current step or frame; the run keeps its image."
POSTPROCESS_API = (
    "Apply the postprocessors named in 'postprocess' (with their options) to this client's last /stylize "
    "result without a new run; returns the image, the status, the images made and the files to download."
)


def api_names(keys: Iterable[Key]) -> dict[Key, str]:
    """The keyword a program passes each widget's value as: the config key for an option
    (``num_steps``, ``backbone``), ``style_2`` / ``style_weight_2`` / ``style_mask_2`` for the
    second style, ``<kind>_<component>_<option>`` for a component's option
    (``backbone_vgg16_weights``) and ``postprocess_<name>_<option>`` for a postprocessor's."""
    names: dict[Key, str] = {}
    for key in keys:
        kind, *rest = key
        if kind in ("style", "style_weight", "style_mask"):
            parts = [kind, rest[0] + 1]
        elif kind in ("option", "video", "component"):
            parts = rest
        else:
            parts = [kind, *rest]
        name = re.sub(r"\W+", "_", "_".join(str(part) for part in parts)).strip("_")
        unique, count = name, 1
        while unique in names.values():  # only plugins' names with odd characters can meet
            count += 1
            unique = f"{name}_{count}"
        names[key] = unique
    return names


def optional_keywords(handler: Callable[..., Any], inputs: Iterable[str]) -> Callable[..., Any]:
    """``handler`` (taking the request, then ``**values``) declaring each of ``inputs`` as a
    keyword that defaults to None."""
    request = next(iter(inspect.signature(handler).parameters.values()))
    # Gradio lets a program leave out a parameter only if the widget has a value or the
    # function's own parameter defaults to None: empty uploads (a second style, masks) need the latter.
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [request, *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in inputs)]
    )
    return handler
