"""Kernel inception distance between two feature sets (`kid_tagger` in the tagger CNN's feature space; lower is
better): the unbiased MMD^2 with the cubic polynomial kernel, averaged over random subsets."""

from __future__ import annotations

import numpy as np

from models.metrics.registry import register


@register("kid_tagger", lower_is_better=True)
def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 500, seed: int = 0) -> float:
    """KID: the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over random
    subsets (as in Binkowski et al. 2018)."""
    n = min(len(a), len(b), subset_size)
    if n < 2:
        raise ValueError("KID needs at least two feature vectors per set")
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), n, replace=False)]
        y = b[rng.choice(len(b), n, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        vals.append(off - 2 * kxy.mean())
    return float(np.mean(vals))


def _cubic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1) ** 3


def _offdiag_mean(k: np.ndarray, idx: np.ndarray) -> float:
    """The mean of k over pairs of distinct rows of the draw `idx` (a row drawn twice is not paired with itself)."""
    sub = k[np.ix_(idx, idx)]
    distinct = idx[:, None] != idx[None, :]
    return float(sub[distinct].mean())


def kid_interval(real: np.ndarray, fake: np.ndarray, boots: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """KID of two whole feature sets (the unbiased MMD^2 U-statistic with the cubic kernel, every pair used, no
    subsets: the sets here are small) and a bootstrap interval: both sets drawn again with replacement `boots`
    times, each draw's statistic over pairs of distinct original rows, so that a row drawn twice does not pair with
    itself and bias the within-set terms. Returns {"kid", "low", "high", "n_real", "n_fake"}."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("KID needs at least two feature vectors per set")
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    krr, kff, krf = _cubic(real, real), _cubic(fake, fake), _cubic(real, fake)
    all_r, all_f = np.arange(len(real)), np.arange(len(fake))
    point = _offdiag_mean(krr, all_r) + _offdiag_mean(kff, all_f) - 2 * float(krf.mean())
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(boots):
        r = rng.integers(0, len(real), len(real))
        f = rng.integers(0, len(fake), len(fake))
        if len(np.unique(r)) < 2 or len(np.unique(f)) < 2:
            continue
        draws.append(_offdiag_mean(krr, r) + _offdiag_mean(kff, f) - 2 * float(krf[np.ix_(r, f)].mean()))
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2]) if draws else (point, point)
    return {"kid": point, "low": float(lo), "high": float(hi), "n_real": len(real), "n_fake": len(fake)}
