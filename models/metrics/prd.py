"""Improved precision and recall of generated features (Kynkäänniemi et al. 2019; `precision` and `recall`, higher
is better): precision is the share of fake vectors inside the real manifold, recall the share of real vectors inside
the fake one. A manifold is the union of k-NN balls: each vector's ball reaches its k-th nearest other vector (k = 3).

Precision falls when the generator makes things that look like no real sample; recall falls when it covers only some
of the real modes (mode collapse), which FD mixes into one number.
"""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register

_BLOCK_ENTRIES = 1 << 22  # distances held at once (32 MiB of float64): N = 10k real vectors need ~1 GB otherwise


def _check_features(name: str, x: np.ndarray, min_rows: int, k: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} features must be [N, D]; got shape {x.shape}")
    if len(x) < min_rows:
        raise ValueError(
            f"{name} features: need at least {min_rows} vectors (k + 1 = {k + 1} for the k-NN radius); got {len(x)}"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"{name} features hold NaN or infinity: the extractor or the images are broken")
    # float64: the squared-norm expansion below cancels badly in float32 for nearby vectors
    return x.astype(np.float64, copy=False)


def _sq_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [len(a), len(b)] via |a|^2 + |b|^2 - 2ab: one matrix product, no [n, m, D] temp."""
    d = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)  # rounding can make coincident vectors slightly negative


def _block_rows(n_cols: int) -> int:
    return max(1, _BLOCK_ENTRIES // max(n_cols, 1))


def _knn_radii_sq(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each vector in x [N, D] (float64) to its k-th nearest other vector [N].

    Self is excluded by index, not by value, so an exact duplicate of a vector still counts as a neighbour at 0.
    """
    n = len(x)
    x_sq = (x * x).sum(axis=1)
    radii = np.empty(n)
    step = _block_rows(n)
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        d = _sq_distances(x[rows], x, x_sq)
        d[np.arange(len(rows)), rows] = np.inf
        radii[rows] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return radii


def _coverage(ref: np.ndarray, query: np.ndarray, k: int) -> float:
    """Share of query vectors inside the union of the k-NN balls of ref."""
    radii = _knn_radii_sq(ref, k)
    ref_sq = (ref * ref).sum(axis=1)
    inside = 0
    step = _block_rows(len(ref))
    for start in range(0, len(query), step):
        d = _sq_distances(query[start : start + step], ref, ref_sq)
        inside += int((d <= radii[None, :]).any(axis=1).sum())
    return inside / len(query)


def _check_pair(real: np.ndarray, fake: np.ndarray, k: int, ref: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    # only the set whose balls are built (ref) needs k + 1 vectors; the other needs one
    real = _check_features("real", real, k + 1 if ref == "real" else 1, k)
    fake = _check_features("fake", fake, k + 1 if ref == "fake" else 1, k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    return real, fake


@register("precision", lower_is_better=False)
def precision(real: np.ndarray, fake: np.ndarray, k: int = 3) -> float:
    """Share of fake vectors [M, D] inside the union of the k-NN balls of the real vectors [N, D]."""
    real, fake = _check_pair(real, fake, k, ref="real")
    return _coverage(real, fake, k)


@register("recall", lower_is_better=False)
def recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> float:
    """Share of real vectors [N, D] inside the union of the k-NN balls of the fake vectors [M, D]."""
    real, fake = _check_pair(real, fake, k, ref="fake")
    return _coverage(fake, real, k)
