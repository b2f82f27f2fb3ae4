"""Attribute sliders: linear directions in W, fitted with scikit-learn, and `control_success`.

Fitting (InterFaceGAN-style, Shen et al. 2020): render `fit` latents, read their tags with the **labelling tagger**
(the pinned extractor), and fit a linear SVM (LinearSVC, balanced classes) per tag: one per yes/no group (`glasses=yes`)
and one per value of a multi-value group, one-vs-rest (`hair_color=red`). The unit normal of each hyperplane is the
direction; sigma is the standard deviation of the fitting latents' projections on it. A tag with fewer than
`MIN_PER_SIDE` latents on either side gets no slider (reported).

Orthogonalised variants remove from a direction its components along the other groups' directions (Gram-Schmidt,
then unit length), so moving one attribute drags the others less; `choose` keeps, per tag, whichever of the raw and
the orthogonalised direction scores the higher `control_success` on validation latents.

`control_success` (per tag, on latents never used for fitting): each latent w moves by +3 sigma and by -3 sigma
along the direction; the **judge tagger** (another seed than the labelling one) reads the three images. A move
counts where the start is on the other side of the tag (for +, the tag is not read at w; for -, it is), and succeeds
when the tag's reading crosses to the intended side (its per-tag threshold, chosen on validation by the tagger stage)
while no other group's reading changes. Success = successes / counted moves. A slider at +-1 in the service is this
+-3 sigma step.
"""

from __future__ import annotations

import numpy as np
import torch

from core.names import GROUPS
from models.metrics.generators import Show, slider_moves, slider_tags
from models.stylegan.net import Generator
from models.stylegan.task import render
from models.tagger.extractor import Tagger

MIN_PER_SIDE = 10
STEP_SIGMAS = 3.0


tags = slider_tags  # one slider per tag, the same for every family (models/metrics/generators.py)


def fit(ws: np.ndarray, reads: dict[str, np.ndarray], C: float, seed: int) -> tuple[dict, dict]:
    """(directions {tag: unit [w_dim]}, skipped {tag: reason}) from latents ws [N, w_dim] and the labelling tagger's
    readings (class index per group [N])."""
    from sklearn.svm import LinearSVC

    directions, skipped = {}, {}
    for name, g, k in tags():
        y = reads[g] == k
        if min(y.sum(), (~y).sum()) < MIN_PER_SIDE:
            skipped[name] = f"{int(y.sum())} of {len(y)} latents read {name}: too few on one side"
            continue
        svm = LinearSVC(C=C, class_weight="balanced", random_state=seed, max_iter=20000).fit(ws, y)
        n = svm.coef_[0] / np.linalg.norm(svm.coef_[0])
        directions[name] = n.astype(np.float32)
    return directions, skipped


def spread(ws: np.ndarray, directions: dict[str, np.ndarray]) -> dict[str, float]:
    """sigma per tag: the standard deviation of the latents' projections on its direction."""
    return {name: float((ws @ n).std()) for name, n in directions.items()}


def orthogonalised(directions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each direction without its components along the other groups' directions (then unit length)."""
    out = {}
    for name, n in directions.items():
        group = name.split("=")[0]
        basis: list[np.ndarray] = []
        for other, m in directions.items():
            if other.split("=")[0] == group:
                continue
            v = m - sum((m @ b) * b for b in basis)
            if np.linalg.norm(v) > 1e-6:
                basis.append(v / np.linalg.norm(v))
        v = n - sum((n @ b) * b for b in basis)
        out[name] = (v / np.linalg.norm(v)).astype(np.float32) if np.linalg.norm(v) > 1e-6 else n
    return out


def _reads(G: Generator, judge: Tagger, ws: torch.Tensor, seed: int, show: Show | None = None) -> np.ndarray:
    images = render(G, ws, seed)
    _, r = judge.read(show(images) if show else images)
    return np.stack([r[g] for g in GROUPS], axis=1)  # [N, groups]


def control_success(
    G: Generator, judge: Tagger, ws: torch.Tensor, directions: dict, sigma: dict, seed: int, show: Show | None = None
) -> dict[str, float]:
    """Per tag: the share of counted +-3 sigma moves that cross the tag's threshold the intended way and change no
    other group's reading (see the module docstring); ws [N, w_dim] never used for fitting. Noise is the same
    (`seed`) for the start and the moved images, so only the direction changes them. The judge reads the images,
    or what `show` makes of them (the page's 4x upscale)."""
    start = _reads(G, judge, ws, seed, show)
    out = {}
    for name, g, k in tags():
        if name not in directions:
            continue
        col = GROUPS.index(g)
        n = torch.from_numpy(directions[name]).to(ws.dtype)
        ok = counted = 0
        for sign in (1.0, -1.0):
            moved = _reads(G, judge, ws + sign * STEP_SIGMAS * sigma[name] * n, seed, show)
            good, n_moves = slider_moves(start, moved, col, k, sign)
            ok, counted = ok + good, counted + n_moves
        out[name] = ok / counted if counted else 0.0
    return out


def choose(raw: dict, orth: dict, success_raw: dict, success_orth: dict) -> tuple[dict, dict[str, str]]:
    """Per tag the direction with the higher validation success (raw on ties); and which was kept."""
    kept, which = {}, {}
    for name in raw:
        use_orth = success_orth.get(name, 0.0) > success_raw.get(name, 0.0)
        kept[name] = orth[name] if use_orth else raw[name]
        which[name] = "orthogonalised" if use_orth else "raw"
    return kept, which
