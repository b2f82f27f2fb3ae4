"""Peak signal-to-noise ratio of restored images against the true ones (`psnr_db`, higher is better).

Per image over all RGB pixels of uint8 images (peak 255), then the mean over images, as super-resolution papers
report it; `crop` pixels are dropped at every border of both first (the same pixels for every method compared).
An exact reconstruction has infinite PSNR; it is capped at 100 dB so a mean stays finite.
"""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register

CAP_DB = 100.0


def check_pair(restored: np.ndarray, truth: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    """Both uint8 [N, H, W, 3] of one shape, cropped by `crop` at each border, as float64."""
    a, b = np.asarray(restored), np.asarray(truth)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"restored and true images must both be [N, H, W, 3]; got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255); got {a.dtype} and {b.dtype}")
    if crop < 0 or 2 * crop >= min(a.shape[1:3]):
        raise ValueError(f"crop {crop} leaves nothing of {a.shape[1]}x{a.shape[2]} images")
    if len(a) == 0:
        raise ValueError("no images to compare")
    s = slice(crop, a.shape[1] - crop), slice(crop, a.shape[2] - crop)
    return a[:, s[0], s[1]].astype(np.float64), b[:, s[0], s[1]].astype(np.float64)


@register("psnr_db")
def psnr_db(restored: np.ndarray, truth: np.ndarray, crop: int = 0) -> float:
    a, b = check_pair(restored, truth, crop)
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(255.0**2 / mse)
    return float(np.minimum(db, CAP_DB).mean())
