"""Fréchet distance and kernel inception distance in the tagger CNN's feature space (`fd_tagger`, `kid_tagger`;
lower is better for both).

The extractor is a registered `anime-tagger` version: every figure records which one (`extractor_version`), and
re-scoring loads that pinned version, so numbers computed months apart stay comparable.
"""

from __future__ import annotations

import numpy as np


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


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


def load_extractor(version: str | None = None, pinned: str = "data/tagger/extractor.json"):
    """(TaggerNet, version): the registered `anime-tagger` version given, else the one the tagger stage pinned."""
    import json
    import tempfile
    from pathlib import Path

    import mlflow

    from core import tracking
    from models.tagger_net import TaggerNet

    if version is None:
        try:
            version = str(json.loads(Path(pinned).read_text())["version"])
        except (OSError, KeyError, ValueError) as err:
            raise FileNotFoundError(f"{pinned}: no pinned extractor ({err}); run the tagger stage first") from None
    tracking._client()
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/anime-tagger/{version}", dst_path=tmp)
        return TaggerNet.load(path), str(version)


def score(real, fake, version: str | None = None, seed: int = 0) -> dict:
    """fd_tagger and kid_tagger between two uint8 image sets [N, S, S, 3], with the extractor version they used."""
    from models.tagger_train import extract_features

    net, version = load_extractor(version)
    a, b = extract_features(net, real), extract_features(net, fake)
    return {
        "fd_tagger": frechet_distance(a, b),
        "kid_tagger": kernel_distance(a, b, seed=seed),
        "extractor_version": version,
    }
