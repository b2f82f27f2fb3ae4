"""Train the second ruler (models/ruler/net.py) on uint8 images, with the one training loop (models/engine/loop.py):
its seeding, checkpoints, resume and time budget.

Each step takes a batch of rows, makes two random views of each (`augment`) and minimises SimCLR's loss between them
(`nt_xent`); Adam with a cosine schedule. Nothing but the images is read: no tag, no split but the one it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from core.params import RulerParams
from models.engine import loop
from models.ruler.net import RulerNet, augment, nt_xent


def train(
    images: np.ndarray,
    p: RulerParams,
    seed: int,
    checkpoint_name: str | None = None,
    log: Callable[[dict[str, float], int], None] | None = None,
) -> loop.LoopResult:
    """A RulerNet of `p`'s size trained on `images` (uint8 [N, S, S, 3]); rows smaller or larger than `p.size` are
    resized by the network itself."""
    if len(images) < 2:
        raise ValueError(f"the ruler needs at least two training images; got {len(images)}")
    torch.manual_seed(seed)
    net = RulerNet(p.width, p.size, p.dim)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    steps = p.epochs * loop.steps_for(len(images), p.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    data = torch.from_numpy(np.ascontiguousarray(images))

    def step(idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float], int]:
        x = data[idx].permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != p.size:
            x = torch.nn.functional.interpolate(x, size=p.size, mode="area" if x.shape[-1] > p.size else "bilinear")
        a = net(augment(x, gen, p.min_scale, p.jitter))
        b = net(augment(x, gen, p.min_scale, p.jitter))
        loss, hit = nt_xent(a, b, p.temperature)
        return loss, {"loss": float(loss.detach()), "pair_found": hit}, len(idx)

    return loop.fit(
        net,
        opt,
        sched,
        step,
        rows=len(images),
        batch=p.batch,
        epochs=p.epochs,
        seed=seed,
        max_minutes=p.max_minutes,
        checkpoint_name=checkpoint_name,
        log=log,
        desc="ruler",
    )
