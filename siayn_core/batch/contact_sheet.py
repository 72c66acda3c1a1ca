"""A contact sheet: a labelled grid of a batch's results, one tile per run, the photos as
rows and the styles (with any grid values) as columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

TILE = 160
LABEL_WIDTH = 120
HEADER_HEIGHT = 36
MISSING = (200, 200, 200)


@dataclass(frozen=True)
class Cell:
    """One run's place on the sheet; ``image`` is None for a run with no result."""

    row: str
    column: str
    image: Path | None


def write_contact_sheet(cells: Sequence[Cell], target: Path, *, tile: int = TILE) -> Path:
    """Draw ``cells`` as a grid of ``tile``-px thumbnails with row and column labels and
    write it to ``target``; a run without an image gets a grey tile marked "no result"."""
    from ..io.images import read_image, write_image

    rows = list(dict.fromkeys(cell.row for cell in cells))
    columns = list(dict.fromkeys(cell.column for cell in cells))
    sheet = Image.new("RGB", (LABEL_WIDTH + tile * len(columns), HEADER_HEIGHT + tile * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for index, column in enumerate(columns):
        _label(draw, column, (LABEL_WIDTH + index * tile + 4, 4), tile - 8, font)
    for index, row in enumerate(rows):
        _label(draw, row, (4, HEADER_HEIGHT + index * tile + tile // 2 - 8), LABEL_WIDTH - 8, font)
    for cell in cells:
        left = LABEL_WIDTH + columns.index(cell.column) * tile
        top = HEADER_HEIGHT + rows.index(cell.row) * tile
        if cell.image is None:
            draw.rectangle((left + 2, top + 2, left + tile - 3, top + tile - 3), fill=MISSING)
            draw.text((left + 8, top + tile // 2 - 8), "no result", fill="black", font=font)
            continue
        thumbnail = read_image(cell.image)
        thumbnail.thumbnail((tile - 4, tile - 4), Image.Resampling.LANCZOS)
        sheet.paste(thumbnail, (left + (tile - thumbnail.width) // 2, top + (tile - thumbnail.height) // 2))
    return write_image(sheet, target)


def _label(draw: ImageDraw.ImageDraw, text: str, at: tuple[int, int], width: int, font: ImageFont.ImageFont) -> None:
    """``text`` at ``at``, broken after its commas onto up to two lines of ``width`` px, cut
    with an ellipsis."""
    lines, line = [], ""
    for part in text.split(", "):
        candidate = f"{line}, {part}" if line else part
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(f"{line},")
            line = part
        else:
            line = candidate
    lines.append(line)
    for number, line in enumerate(lines[:2]):
        while line and draw.textlength(line, font=font) > width:
            line = line[:-2] + "…"
        draw.text((at[0], at[1] + 14 * number), line, fill="black", font=font)
