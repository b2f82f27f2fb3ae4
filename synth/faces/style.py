"""Drawing styles over the rendered faces: another look for the same characters and attributes, so that one renderer
gives collections that differ the way real ones do (a studio's heavy ink lines, a muted palette, cel shading).

A style (core/params.StyleParams, an `ingest.sources` entry of the form `generated:<name>`) is applied to each
finished image, after the renderer's own drawing, so the built-in set (no style) is drawn exactly as before:

    line_weight   dark lines thickened by this many px (a grey erosion: each pixel takes its neighbourhood's darkest)
    saturation    colour saturation scaled (0: grey, 1: as drawn)
    levels        cel shading: each channel quantised to this many levels (0: off)
    tint          an RGB paper tint mixed in, `tint_amount` of it

The attributes stay what they are (a blonde stays blonde under a muted palette), which is what makes the style a
test of whether the tagger carries over to a collection drawn another way.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.params import StyleParams

VERSION = "style-1"  # in the content address of a styled set: a change here re-renders it


def apply(img: np.ndarray, style: StyleParams) -> np.ndarray:
    """uint8 RGB [S, S, 3] -> the same picture in `style` (uint8 RGB)."""
    out = img
    if style.line_weight:
        k = 2 * style.line_weight + 1
        out = _spread_ink(img, cv2.erode(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))))
    x = out.astype(np.float32)
    if style.saturation != 1.0:
        grey = x @ np.float32([0.299, 0.587, 0.114])
        x = grey[..., None] + (x - grey[..., None]) * np.float32(style.saturation)
    if style.levels:
        step = 255.0 / (style.levels - 1)
        x = np.round(x / step) * step
    if style.tint_amount:
        x = x * np.float32(1 - style.tint_amount) + np.float32(style.tint) * np.float32(style.tint_amount)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


INK = 80  # a pixel this dark (luminance, 0-255) belongs to a line


def _spread_ink(img: np.ndarray, eroded: np.ndarray) -> np.ndarray:
    """The eroded picture beside the lines only (a line spreads over its neighbours), the original elsewhere (fills
    and pupils keep their colour instead of taking their neighbours' darkest)."""
    ink = (img.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])) < INK
    near = ink.astype(np.uint8)
    near = cv2.dilate(near, np.ones((3, 3), np.uint8)).astype(bool) & ~ink
    spread = near & ((eroded.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])) < INK)
    return np.where(spread[..., None], eroded, img)
