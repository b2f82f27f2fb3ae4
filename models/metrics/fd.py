"""Fréchet distance between Gaussians fitted to two feature sets (`fd_tagger` in the tagger CNN's feature space;
lower is better). The extractor that makes the features is models/tagger/extractor.py."""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


@register("fd_tagger", lower_is_better=True)
def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between Gaussians fitted to feature sets a [N, D] and b [M, D]:
    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).

    tr((S1 S2)^1/2) is the sum of the square roots of the eigenvalues of the symmetric PSD matrix S1^1/2 S2 S1^1/2
    (similar to S1 S2), so it is computed exactly with two symmetric eigendecompositions: no complex sqrtm, and no
    offset added to singular covariances (dead feature channels), which would bias small distances to zero.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two feature vectors per set")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("the feature vectors hold NaN or infinity: the extractor or the images are broken")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    fd = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    return float(max(fd, 0.0))  # only rounding can make it negative
