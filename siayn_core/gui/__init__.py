"""SIAYN's web GUI (``siayn gui``), built with Gradio (``pip install "siayn[gui]"``).

:mod:`.form` describes the form without Gradio (read from ``StylizeOptions`` and the
registry, so plugins' components and options appear by themselves), :mod:`.runner` holds
what the buttons do as plain Python (a run goes through ``run_stylize``, as on the CLI;
:mod:`.video_runner` a clip through ``stylize_clip``),
and :mod:`.app` lays out the Gradio page, whose buttons are also API endpoints (``/stylize``,
``/video``, ``/stop``, ``/postprocess_last_result``; :mod:`.endpoints` names their keywords).
Importing this package does not import Gradio.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    from ..host.registry import Registry

INSTALL_HINT = 'the GUI needs Gradio: pip install "siayn[gui]"'
MIN_GRADIO = (6, 0)


def require_gradio() -> ModuleType:
    """Import Gradio with its analytics off, or raise SiaynError saying how to install it."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        gradio = importlib.import_module("gradio")
    except ImportError:
        raise SiaynError(INSTALL_HINT) from None
    version = tuple(int(part) for part in gradio.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_GRADIO:
        raise SiaynError(f"the GUI needs Gradio {'.'.join(map(str, MIN_GRADIO))} or newer, found "
                         f"{gradio.__version__}: pip install -U \"siayn[gui]\"")
    return gradio


def serve(registry: Registry, *, host: str = "127.0.0.1", port: int = 7860, output_dir: str | Path,
          device: str = "auto", quiet: bool = False, **launch_options: Any) -> None:
    """Build the page and serve it until interrupted: on ``host`` only, with no share link
    and no analytics."""
    require_gradio()
    from ..io.resources import examples_dir
    from .app import CSS, build_app
    from .runner import GuiBackend

    output_dir = Path(output_dir)
    backend = GuiBackend(registry, output_dir, device=device)
    app = build_app(backend, examples_dir=examples_dir())
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=True,
        quiet=quiet,
        allowed_paths=[str(output_dir.resolve())],
        ssr_mode=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=[],
        run_history=False,  # Gradio's run history can upload runs elsewhere: record nothing
        css=CSS,
        **launch_options,
    )

