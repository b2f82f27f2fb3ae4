"""The unconditional route's sliders: directions in W, and their `control_success`.

StyleGAN versions registered before the conditional route (models/stylegan/conditional.py) carry their sliders as
unit directions in W fitted InterFaceGAN-style (Shen et al. 2020: a linear SVM per tag on latents read by the
labelling tagger), with sigma, the spread of the fitting latents along each. The service still steers such a version
(serve/bundles.py), and experiments/sliders_on_page.py still scores it, by this module's `control_success`. The
conditional route's sliders are DCGAN's kind (models/dcgan/sliders.py); nothing fits W directions any more.

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

STEP_SIGMAS = 3.0


tags = slider_tags  # one slider per tag, the same for every family (models/metrics/generators.py)


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
