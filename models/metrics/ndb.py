"""Number of statistically different bins (Richardson & Weiss 2018; `ndb_ratio`, lower is better).

k-means splits the training vectors into bins; each generated vector falls into the bin of its nearest centroid. A
bin is "different" when a two-proportion z-test rejects equal train and fake shares at level alpha. The ratio is the
share of different bins: near alpha for a generator that matches the training distribution, near 1 for a collapsed
one (its samples pile into a few bins and leave the rest empty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.cluster import KMeans

from models.metrics.registry import register

N_INIT = 3  # k-means restarts: the bins only need to be reasonable, and each restart costs a full clustering


@dataclass(frozen=True)
class NdbBins:
    train_share: np.ndarray  # [bins] share of the training vectors in each bin
    fake_share: np.ndarray  # [bins] share of the fake vectors in each bin
    p_value: np.ndarray  # [bins] two-sided p-value of the pooled two-proportion z-test


def _check(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} vectors must be a non-empty [N, D] array; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} vectors hold NaN or infinity: the extractor or the images are broken")
    return x.astype(np.float64, copy=False)


def ndb_bins(train: np.ndarray, fake: np.ndarray, bins: int = 100, seed: int = 0) -> NdbBins:
    """Per-bin train and fake shares and z-test p-values, with `bins` k-means clusters fitted on train [N, D]."""
    train, fake = _check("train", train), _check("fake", fake)
    if train.shape[1] != fake.shape[1]:
        raise ValueError(f"train and fake vectors differ in width: {train.shape[1]} vs {fake.shape[1]}")
    if bins < 2:
        raise ValueError(f"ndb needs at least 2 bins; got bins={bins}")
    # at least two training vectors per bin on average, or the bins are noise and the test has nothing to count
    if bins > len(train) // 2:
        raise ValueError(
            f"ndb with bins={bins} needs at least {2 * bins} train vectors; got {len(train)} "
            f"(lower bins to at most {len(train) // 2} or pass more vectors)"
        )
    km = KMeans(n_clusters=bins, n_init=N_INIT, random_state=seed).fit(train)
    n_t, n_f = len(train), len(fake)
    c_t = np.bincount(km.labels_, minlength=bins).astype(np.float64)
    c_f = np.bincount(km.predict(fake), minlength=bins).astype(np.float64)
    p_t, p_f = c_t / n_t, c_f / n_f
    pooled = (c_t + c_f) / (n_t + n_f)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_f))
    # se is 0 only when both shares are 0 (or both 1): no evidence of a difference, so p = 1
    z = np.divide(p_t - p_f, se, out=np.zeros(bins), where=se > 0)
    return NdbBins(train_share=p_t, fake_share=p_f, p_value=2 * norm.sf(np.abs(z)))


@register("ndb_ratio", lower_is_better=True)
def ndb_ratio(train: np.ndarray, fake: np.ndarray, bins: int = 100, alpha: float = 0.05, seed: int = 0) -> float:
    """Share of the `bins` k-means bins (fitted on train [N, D]) where the fake share differs at level alpha."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    return float((ndb_bins(train, fake, bins=bins, seed=seed).p_value < alpha).mean())
