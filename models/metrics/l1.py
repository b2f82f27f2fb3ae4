"""Mean absolute difference of generated images to the true ones (`l1`, lower is better), on a 0..1 scale: the
mean over pixels and channels of |a - b| / 255 for uint8 images of one shape ([N, H, W] or [N, H, W, C])."""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register


@register("l1", lower_is_better=True)
def l1(generated: np.ndarray, truth: np.ndarray) -> float:
    a, b = np.asarray(generated), np.asarray(truth)
    if a.shape != b.shape or a.ndim < 3 or len(a) == 0:
        raise ValueError(
            f"generated and true images must share one non-empty [N, H, W(, C)] shape; got {a.shape}, {b.shape}"
        )
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255); got {a.dtype} and {b.dtype}")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0)
