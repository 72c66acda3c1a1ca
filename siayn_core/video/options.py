"""The options of ``siayn video`` besides the stylize options of its frames, and its YAML
form: a ``video:`` mapping (the clip's ``input`` and ``output`` and these options) beside
the stylize options of every frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..plugin.errors import SiaynError
from ..plugin.options import option


@dataclass(frozen=True)
class VideoOptions:
    """How a clip's frames are tied together and cut into shots."""

    temporal_weight: float = option(
        2e4, help="weight of the temporal loss: how strongly each frame keeps the previous one where "
        "the flow holds (0: frames only start from the warped previous frame)", minimum=0.0)
    later_steps: int | None = option(
        None, help="steps of each frame after a shot's first, which starts from the warped previous "
        "frame; null: half of num_steps", minimum=1)
    temporal_loss: str = option("temporal", help="the loss comparing a frame to the warped previous one")
    cut_threshold: float | None = option(
        30.0, help="a new shot starts where the mean difference of two frames' HSV values (0-255) "
        "exceeds this; null: the clip is one shot", minimum=0.0)
    fps: float | None = option(
        None, help="frame rate of the output; null: the clip's (24 for a folder of frames)", minimum=0.1)


@dataclass(frozen=True)
class VideoConfig:
    """A video config file: the clip and output it names (None where it names none), its
    ``video:`` options, the stylize settings of every frame and the style images they name."""

    clip: Path | None
    output: Path | None
    video: dict[str, Any]
    settings: dict[str, Any]
    styles: list[Path]


def read_video_config(path: Path) -> VideoConfig:
    """Read the video config at ``path``; file names are looked up as a stylize config's are
    (the working directory, then the config's folder and the bundled examples).

    :raises SiaynError: in one line, for a file that is not a video config.
    """
    from ..config.files import read_yaml, resolve_file
    from ..postprocess.chain import search_dirs

    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("video"), dict):
        raise SiaynError(f"{path} is not a video config: it needs a 'video:' mapping (input, output, "
                         "temporal_weight, ...) beside the frames' stylize options")
    video = {str(key): value for key, value in data["video"].items()}
    clip, output = video.pop("input", None), video.pop("output", None)
    settings = {str(key): value for key, value in data.items() if key != "video"}
    dirs = search_dirs(path)
    names = settings.pop("style", None) or []
    styles = [resolve_file(str(name), dirs, what="style image") for name in
              ([names] if isinstance(names, str) else names)]
    return VideoConfig(clip=resolve_file(str(clip), dirs, what="clip") if clip else None,
                       output=Path(str(output)) if output else None, video=video, settings=settings, styles=styles)
