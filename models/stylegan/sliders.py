"""The sliders of `anime-stylegan` versions of the unconditional route: linear directions in W, and their
`control_success`.

Those versions (registered before the family took the conditional route, models/stylegan/conditional.py) hold, per
tag, a unit direction in W and sigma, the spread of their fitting latents along it (`sliders.safetensors`), fitted
InterFaceGAN-style with a linear SVM on latents the labelling tagger read. The service still serves them (a slider at
+-1 is +-3 sigma) and experiments/sliders_on_page.py still scores them; the family trains no new ones.

`control_success` (per tag, on latents never used for fitting): each latent w moves by +3 sigma and by -3 sigma
along the direction; the **judge tagger** reads the three images. A move counts where the start is on the other side
of the tag (for +, the tag is not read at w; for -, it is), and succeeds when the tag's reading crosses to the
intended side while no other group's reading changes. Success = successes / counted moves.
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
