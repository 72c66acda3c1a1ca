"""The configuration reference, generated: every key of a stylize run
(:class:`~siayn_core.config.schema.StylizeOptions`), of a clip (:class:`~siayn_core.video.options.VideoOptions`)
and of each installed component, with its type, default and help, as Markdown tables. The
docs site renders it (``docs/hooks.py``), so no key goes undocumented."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..plugin.options import OptionSpec, describe

if TYPE_CHECKING:
    from ..host.registry import Registry


def options_table(specs: Sequence[OptionSpec]) -> str:
    """A Markdown table of ``specs``: key, type, default and help (with its choices and bounds)."""
    rows = ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for spec in specs:
        notes = [spec.help.rstrip(".") or "(undocumented)"]
        if spec.choices:
            notes.append("one of " + ", ".join(f"`{choice}`" for choice in spec.choices))
        if spec.minimum is not None and spec.maximum is not None:
            notes.append(f"from {spec.minimum} to {spec.maximum}")
        elif spec.minimum is not None:
            notes.append(f"at least {spec.minimum}")
        elif spec.maximum is not None:
            notes.append(f"at most {spec.maximum}")
        default = json.dumps(spec.as_dict()["default"])
        kind = spec.type.replace(" | ", " or ")  # a pipe would end the table's cell
        # Help is plain text: "timm:<model>" would vanish as an HTML tag, "L*a*b*" turn italic.
        meaning = html.escape("; ".join(notes), quote=False).replace("*", "\\*")
        meaning = meaning.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{spec.name}` | `{kind}` | `{default}` | {meaning}. |")
    return "\n".join(rows)


def options_reference(registry: Registry) -> str:
    """The whole reference: a stylize run's keys, a clip's, then each component's by kind."""
    from ..config.schema import StylizeOptions
    from ..video.options import VideoOptions

    parts = ["## Stylize options", "", "The keys of a stylize run, of `--set KEY=VALUE` and of a clip's frames.", "",
             options_table(describe(StylizeOptions)), "", "## Video options", "",
             "The keys of a video config's `video:` mapping (`siayn video --set video.KEY=VALUE`).", "",
             options_table(describe(VideoOptions)), "", "## Component options", "",
             "Each installed component's options: a backbone's in `backbone_options`, a loss's in "
             "`content_loss_options`, `style_loss_options` or `tv_loss_options`, an initialiser's in "
             "`init_options`, an optimizer's in `opt_options`, a parametrization's in `parametrization_options`, "
             "a masker's in `auto_mask_options`, a postprocessor's in its step's mapping "
             "(`{name: denoise, strength: 5}`), an executor's from `siayn batch`'s options.", ""]
    by_kind: dict[str, list[str]] = {}
    for component in sorted(registry.components(), key=lambda c: (c.kind, c.name)):
        specs = component.options()
        body = options_table(specs) if specs else "No options."
        by_kind.setdefault(component.kind, []).append(
            f"#### `{component.name}`\n\n{component.description or ''} (plugin `{component.plugin}`)\n\n{body}\n")
    for kind, sections in by_kind.items():
        parts += [f"### {kind}", "", *sections]
    return "\n".join(parts)
