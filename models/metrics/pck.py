"""`pck_0_05`: the share of joints within alpha x image size of the truth (alpha 0.05); and the error per joint.

A joint whose truth is NaN (an annotated joint out of frame: it has no place in the image) is not counted; `counted`
narrows the count further (e.g. to the occluded joints).
"""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register


@register("pck_0_05")
def pck(
    pred: np.ndarray, truth: np.ndarray, size: int, alpha: float = 0.05, counted: np.ndarray | None = None
) -> float:
    """Share of the joints with a truth (and in `counted` [N, 11], when given) within alpha * size pixels of it."""
    if pred.shape != truth.shape or len(pred) == 0:
        raise ValueError(f"pck needs equal, non-empty shapes; got {pred.shape} and {truth.shape}")
    near = np.linalg.norm(pred - truth, axis=-1) <= alpha * size  # [N, 11]; False where the truth is NaN
    known = np.isfinite(truth).all(axis=-1)
    if counted is not None:
        known &= counted
    if not known.any():
        raise ValueError("pck needs at least one joint with a truth to count")
    return float(near.mean() if known.all() else near[known].mean())


def per_joint_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean pixel error per joint [11]."""
    return np.linalg.norm(pred - truth, axis=-1).mean(axis=0)
