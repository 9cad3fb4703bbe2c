"""A grid of world images with their captions, to look at what a model is trained on."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from .world import World


def preview_grid(
    world: World, path: str | Path, n: int = 16, cols: int = 4, seed: int = 0, part: str = "train", scale: int = 3
) -> Path:
    images, samples = world.batch(n, seed, part)
    side = world.cfg.image_size * scale
    text_h = 14 * 4
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * side, rows * (side + text_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (img, s) in enumerate(zip(images, samples)):
        x, y = (k % cols) * side, (k // cols) * (side + text_h)
        tile = Image.fromarray(img.permute(1, 2, 0).numpy()).resize((side, side), Image.NEAREST)
        sheet.paste(tile, (x, y))
        for j, line in enumerate(textwrap.wrap(s.caption, width=max(20, side // 6))[:4]):
            draw.text((x + 3, y + side + 1 + 13 * j), line, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
