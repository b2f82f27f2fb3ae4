"""pose -> sketch as a task of the adversarial engine (models/engine/gan.py): pix2pix's L1 + adversarial loss.

Pairs are the render stage's stick figures and sketches of the same pose (uint8, in memory). Real = the true sketch,
G's input = the stick figure, D's condition = the stick figure too (conditional D: it judges the pair, so a sketch
that ignores its pose is fake). G's extra loss is `l1_weight` x the L1 to the true sketch (pix2pix's 100). No
DiffAugment: a translation of the sketch alone would break the pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.params import Pose2sketchParams
from models.engine.gan import Batch, to_uint8
from models.pose2sketch.net import PatchD, UNet


def _signed(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N, S, S, C] (numpy) or [N, C, S, S] (tensor) -> float [N, C, S, S] in [-1, 1], channels-last."""
    t = x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))
    return t.float().div(127.5).sub(1.0).contiguous(memory_format=torch.channels_last)


class Pose2sketchTask:
    def __init__(self, sticks: np.ndarray, sketches: np.ndarray, p: Pose2sketchParams, size: int, seed: int):
        if sticks.shape[:3] != sketches.shape[:3] or sticks.shape[-1] != 3 or sketches.ndim != 3:
            raise ValueError(
                f"expected sticks [N, S, S, 3] and sketches [N, S, S]; got {sticks.shape}, {sketches.shape}"
            )
        torch.manual_seed(seed)
        self.G, self.D = UNet(size, p.ngf), PatchD(p.ndf)
        fused = {"fused": True} if torch.cuda.is_available() else {}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=p.lr_g, betas=p.betas, **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=p.lr_d, betas=p.betas, **fused)
        self.sticks = torch.from_numpy(np.ascontiguousarray(sticks.transpose(0, 3, 1, 2)))
        self.sketches = torch.from_numpy(np.ascontiguousarray(sketches[:, None]))
        self.rows = len(sticks)
        self.l1_weight = p.l1_weight

    def batch(self, idx: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int) -> Batch:
        stick = _signed(self.sticks[idx])
        return Batch(_signed(self.sketches[idx]), (stick,), stick)

    def fixed_inputs(self, n: int, gen: torch.Generator) -> tuple:
        return (_signed(self.sticks[torch.randint(self.rows, (n,), generator=gen)]),)

    def d_extra(self, batch: Batch, aux_real: dict, aux_fake: dict):
        return torch.zeros(()), {}

    def g_extra(self, batch: Batch, fake: torch.Tensor, aux_fake: dict):
        l1 = F.l1_loss(fake.float(), batch.real.float())
        return self.l1_weight * l1, {"l1": float(l1.detach())}

    def finish(self, g_ema: nn.Module, gen: torch.Generator) -> None:  # instance norm: nothing to recalibrate
        pass


@torch.no_grad()
def draw(net: UNet, sticks: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 sticks [N, S, S, 3] -> uint8 sketches [N, S, S] with `net` in eval mode."""
    net.eval()
    out = [to_uint8(net(_signed(sticks[i : i + batch])))[..., 0] for i in range(0, len(sticks), batch)]
    return np.concatenate(out) if out else np.zeros(sticks.shape[:3], np.uint8)
