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
