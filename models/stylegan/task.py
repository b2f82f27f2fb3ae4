"""The StyleGAN2-style generator as a task of the adversarial engine (models/engine/gan.py).

Unconditional: real images are the ingest shard's training images (uint8 in memory, as DCGAN's); G's inputs are two
latents and, per sample, the style input from which the second one's w takes over (`style_mixing` of the samples
mix, the rest use z alone: mix_at = num_ws). R1 (lazy), EMA, DiffAugment and checkpoints are the engine's. The noise
inputs draw from torch's global generator in training, which the engine's checkpoints keep, so a resumed run draws
the same noise; sampling for scores passes a seeded generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.params import StyleganParams
from models.engine.gan import Batch, to_uint8
from models.stylegan.net import Discriminator, Generator


class StyleganTask:
    def __init__(self, images: np.ndarray, p: StyleganParams, size: int, seed: int):
        assert images.ndim == 4 and images.shape[3] == 3, f"expected uint8 [N, S, S, 3], got {images.shape}"
        torch.manual_seed(seed)
        self.G = Generator(size, p.z_dim, p.w_dim, p.mapping, p.base, p.cap)
        self.D = Discriminator(size, p.base, p.cap)
        fused = {"fused": True} if torch.cuda.is_available() else {}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=p.lr_g, betas=p.betas, **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=p.lr_d, betas=p.betas, **fused)
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        self.rows = len(images)
        self.style_mixing = p.style_mixing

    def batch(self, idx: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int) -> Batch:
        real = self.images[idx].float().div_(127.5).sub_(1.0)
        z = torch.randn(global_batch, self.G.z_dim, generator=gen)[rows]
        z2 = torch.randn(global_batch, self.G.z_dim, generator=gen)[rows]
        mix = (torch.rand(global_batch, generator=gen) < self.style_mixing)[rows]
        cut = torch.randint(1, self.G.num_ws, (global_batch,), generator=gen)[rows]
        return Batch(real, (z, z2, torch.where(mix, cut, torch.full_like(cut, self.G.num_ws))), None)

    def fixed_inputs(self, n: int, gen: torch.Generator) -> tuple:
        """Fixed latents and a noise seed: the grids never draw from the training's random stream."""
        return (
            torch.randn(n, self.G.z_dim, generator=gen),
            None,
            None,
            1.0,
            int(torch.randint(2**31, (1,), generator=gen)),
        )

    def d_extra(self, batch: Batch, aux_real: dict, aux_fake: dict):
        return torch.zeros(()), {}

    def g_extra(self, batch: Batch, fake: torch.Tensor, aux_fake: dict):
        return torch.zeros(()), {}

    def finish(self, g_ema: nn.Module, gen: torch.Generator) -> None:  # no batch norm; w_avg follows training
        pass


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
