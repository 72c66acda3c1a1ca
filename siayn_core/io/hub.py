"""Where torch's hub cache keeps downloaded weights, for messages that tell users where to put a file."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse


def hub_checkpoint_path(url: str) -> Path:
    """The file ``torch.hub`` downloads ``url`` to (``$TORCH_HOME/hub/checkpoints/<name>``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
