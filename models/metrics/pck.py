"""`pck_0_05`: the share of joints within alpha x image size of the truth (alpha 0.05); and the error per joint."""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register


@register("pck_0_05")
def pck(pred: np.ndarray, truth: np.ndarray, size: int, alpha: float = 0.05) -> float:
    """Share of joints within alpha * size pixels of the truth."""
    if pred.shape != truth.shape or len(pred) == 0:
        raise ValueError(f"pck needs equal, non-empty shapes; got {pred.shape} and {truth.shape}")
    return float((np.linalg.norm(pred - truth, axis=-1) <= alpha * size).mean())


def per_joint_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean pixel error per joint [11]."""
    return np.linalg.norm(pred - truth, axis=-1).mean(axis=0)
