"""A picture of a preset: originals beside several of their training views, each view captioned
with the transforms that fired, so a user can see whether the views look like the field."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edgedistill.augment.pipeline import build_pipeline, reseed, view_seed
from edgedistill.errors import UserError
from edgedistill.fileio import write_atomic

GEOMETRIC = {"RandomResizedCrop", "HorizontalFlip", "Resize"}
CAPTION_LINES = 5
MARGIN = 4


def preview_grid(
    entries: list, source: str, images: np.ndarray, titles: list[str], views: int, cell: int, seed: int
) -> Image.Image:
    """One row per image: the original, then ``views`` training views, each scaled to ``cell`` pixels
    with nearest-neighbour so that noise and JPEG blocks stay visible."""
    pipeline = build_pipeline(entries, images.shape[1], source)
    pipeline.save_applied_params = True
    font = ImageFont.load_default(size=11)
    line = font.size + 2
    label_width, header = 110, line + MARGIN
    row_height = cell + CAPTION_LINES * line + MARGIN
    grid = Image.new("RGB", (label_width + (views + 1) * (cell + MARGIN), header + len(images) * row_height), "white")
    draw = ImageDraw.Draw(grid)
    for column, text in enumerate(["original", *(f"view {v}" for v in range(1, views + 1))]):
        draw.text((label_width + column * (cell + MARGIN), 0), text, fill="black", font=font)
    for row, (image, title) in enumerate(zip(images, titles, strict=True)):
        top = header + row * row_height
        draw.text((0, top + cell // 2), title, fill="black", font=font)
        cells = [(image, None)]
        for view in range(views):
            reseed(pipeline, view_seed(seed, row, view))
            result = pipeline(image=image)
            cells.append((result["image"], [name for name, _ in result["applied_transforms"] if name not in GEOMETRIC]))
        for column, (pixels, fired) in enumerate(cells):
            left = label_width + column * (cell + MARGIN)
            grid.paste(Image.fromarray(pixels).resize((cell, cell), Image.Resampling.NEAREST), (left, top))
            for index, text in enumerate(_caption(fired, cell, font) if fired is not None else []):
                draw.text((left, top + cell + index * line), text, fill="dimgray", font=font)
    return grid


def _caption(names: list[str], width: int, font: ImageFont.FreeTypeFont) -> list[str]:
    """Transform names wrapped to the cell width, at most CAPTION_LINES lines."""
    lines, current = [], ""
    for name in names or ["(geometry only)"]:
        candidate = f"{current}, {name}" if current else name
        if current and font.getlength(candidate) > width:
            lines.append(current + ",")
            candidate = name
        current = candidate
    lines.append(current)
    return lines[:CAPTION_LINES]


def write_preview(grid: Image.Image, out: Path) -> None:
    """Write the grid as PNG; a folder at ``out`` is refused, never replaced."""
    if out.is_dir():
        raise UserError(f"{out} is a folder; give the preview a file path, like {out / 'preview.png'}")
    try:
        write_atomic(out, lambda tmp: grid.save(tmp, format="PNG"))
    except OSError as error:
        raise UserError(f"cannot write {out} ({error.strerror or error}); choose another --out") from None
