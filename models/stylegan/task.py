"""Sampling the unconditional StyleGAN2-style generator (models/stylegan/net.py) through w: what the service, the
evaluate stage and experiments/sliders_on_page.py use for `anime-stylegan` versions registered before the
conditional route (models/stylegan/conditional.py), whose sliders are directions in W (models/stylegan/sliders.py).
Noise inputs draw from a seeded generator, so an image is a function of its w and seed.
"""

from __future__ import annotations

import numpy as np
import torch

from models.engine.gan import to_uint8
from models.stylegan.net import Generator


@torch.no_grad()
def render(G: Generator, ws: torch.Tensor, seed: int, batch: int = 256) -> np.ndarray:
    """uint8 [N, S, S, 3] from ws [N, w_dim] (one w for every style input), noise from `seed`."""
    G.eval()
    gen = torch.Generator().manual_seed(seed)
    out = [to_uint8(G.synthesis(G.broadcast(ws[i : i + batch]), gen)) for i in range(0, len(ws), batch)]
    return np.concatenate(out) if out else np.zeros((0, G.config["size"], G.config["size"], 3), np.uint8)


@torch.no_grad()
def latents(G: Generator, n: int, seed: int, psi: float = 1.0) -> torch.Tensor:
    """n ws [n, w_dim] from z drawn with `seed`, truncated by psi."""
    G.eval()
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.map(z, psi)


def sampler(G: Generator, psi: float = 1.0):
    """sample(n, cond, seed) for models/metrics/generators.py: unconditional, `cond` ignored."""
    return lambda n, cond, seed: render(G, latents(G, n, seed, psi), seed + 1)
