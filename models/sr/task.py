"""`anime-srgan` as a task of the adversarial engine (models/engine/gan.py does the adversarial part: non-saturating
loss, R1, EMA, checkpoints): G starts from the content model (models/sr/train.py); its extra loss is
`content_weight` x L1 plus `perceptual_weight` x the mean squared distance of the judge tagger's feature maps (its
first three blocks) of the output and the true image (`Perceptual`). The judge is another seed than the pinned
extractor that scores the outputs (`fd_tagger`), and it is frozen: gradients pass through it to G, never into it,
and the scoring network never gives G gradients.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.params import SrParams
from models.engine.gan import Batch
from models.sr.net import SrDiscriminator, SrNet
from models.sr.train import _flip, crop, low_res, signed, to_nchw
from models.tagger.net import TaggerNet


class Perceptual(nn.Module):
    """Mean squared distance of a frozen tagger's feature maps after its first `depth` blocks (images in [-1, 1])."""

    def __init__(self, net: TaggerNet, depth: int = 3):
        super().__init__()
        self.blocks = net.trunk[:depth]
        self.size = net.config["size"]
        self.register_buffer("mean", net.mean.clone(), persistent=False)
        self.register_buffer("std", net.std.clone(), persistent=False)
        self.eval().requires_grad_(False)

    def maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=self.size, mode="area")
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            want = self.maps(real)
        return torch.stack([F.mse_loss(a, b) for a, b in zip(self.maps(fake), want, strict=True)]).mean()


class SrganTask:
    """`anime-srgan` for the engine: real = the true images, G's input = their low-resolution versions."""

    def __init__(self, G: SrNet, hi: np.ndarray, p: SrParams, perceptual: Perceptual, weight: float, seed: int):
        g = p.gan
        torch.manual_seed(seed)
        self.G = G
        self.patch = p.patch if p.patch and p.patch < hi.shape[1] else 0
        self.D = SrDiscriminator(self.patch or hi.shape[1], g.ndf)
        fused = {"fused": True} if torch.cuda.is_available() else {}
        self.opt_g = torch.optim.Adam(G.parameters(), lr=g.lr_g, betas=g.betas, **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=g.lr_d, betas=g.betas, **fused)
        self.hi, self.lo = to_nchw(hi), to_nchw(low_res(hi, p.scale))
        self.rows = len(hi)
        self.perceptual = perceptual
        self.content_weight, self.perceptual_weight = g.content_weight, weight

    def batch(self, idx: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int) -> Batch:
        flip = (torch.rand(global_batch, generator=gen) < 0.5)[rows]
        lo, hi = _flip(*crop(self.lo[idx], self.hi[idx], self.patch, gen), flip)
        return Batch(signed(hi), (signed(lo),), None)

    def fixed_inputs(self, n: int, gen: torch.Generator) -> tuple:
        return (signed(self.lo[torch.randint(self.rows, (n,), generator=gen)]),)

    def d_extra(self, batch: Batch, aux_real: dict, aux_fake: dict):
        return torch.zeros(()), {}

    def g_extra(self, batch: Batch, fake: torch.Tensor, aux_fake: dict):
        l1 = F.l1_loss(fake.float(), batch.real.float())
        perc = self.perceptual.to(fake.device)(fake.float(), batch.real.float())
        loss = self.content_weight * l1 + self.perceptual_weight * perc
        return loss, {"l1": float(l1.detach()), "perceptual": float(perc.detach())}

    def finish(self, g_ema: nn.Module, gen: torch.Generator) -> None:  # no batch norm to recalibrate
        pass
