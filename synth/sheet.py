"""The one contact-sheet tiler: the docs' figures, the pose sets' sheets, prediction grids in MLflow."""

from __future__ import annotations

import numpy as np


def tile(images, cols: int = 8, pad: int = 0, zoom: int = 1, fill: int = 255) -> np.ndarray:
    """Tile images (RGB [H, W, 3] or grey [H, W], all one size) row-major into one RGB uint8 sheet.

    `pad` px of `fill` between and around the tiles; empty places are `fill`; `zoom` enlarges the whole sheet with
    nearest-neighbour sampling (pixels stay crisp)."""
    images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    if not images:
        raise ValueError("no images to tile")
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    sheet = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), fill, np.uint8)
    for i, im in enumerate(images):
        if im.shape[:2] != (h, w):
            raise ValueError(f"image {i} is {im.shape[:2]}, expected {(h, w)} like the first")
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + h, x : x + w] = im
    if zoom != 1:
        sheet = np.repeat(np.repeat(sheet, zoom, axis=0), zoom, axis=1)
    return sheet
