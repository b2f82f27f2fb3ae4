"""Training the tagger CNN: class-weighted cross-entropy per attribute group, flips and shifts, AdamW + one-cycle.

Images are held in memory as uint8 (64 px: 12 KiB each) and batched by index, which on two cores is several times
faster than a DataLoader. Resumption, seeding, the time budget and checkpoints are the training loop's
(models/engine/loop.py); every setting comes from params section `tagger`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.names import ATTRIBUTES, GROUPS
from core.params import TaggerParams
from models.engine import batchnorm, loop
from models.engine.loop import LoopResult
from models.tagger.net import TaggerNet, to_tensor


def class_weights(y: np.ndarray) -> dict[str, torch.Tensor]:
    """Per group, weights ~ 1/sqrt(class frequency) over labelled rows, mean 1: rare tags count more, without the
    instability of full inverse frequency. A class absent from training gets weight 1."""
    out = {}
    for g, name in enumerate(GROUPS):
        labels = y[:, g][y[:, g] >= 0]
        counts = np.bincount(labels, minlength=len(ATTRIBUTES[name])).astype(np.float64)
        w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        present = w > 0
        w[present] /= w[present].mean()
        w[~present] = 1.0
        out[name] = torch.tensor(w, dtype=torch.float32)
    return out


def _augment(xb: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flips per image (every attribute is left-right symmetric) and one random shift per batch."""
    flip = torch.rand(xb.shape[0], generator=gen) < 0.5
    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    if shift:
        dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=gen))
        xb = nn.functional.pad(xb, (shift, shift, shift, shift), mode="replicate")
        s = xb.shape[-1] - 2 * shift
        xb = xb[:, :, shift + dy : shift + dy + s, shift + dx : shift + dx + s]
    return xb


def _low_res(xb: torch.Tensor, share: float, size: int, gen: torch.Generator) -> torch.Tensor:
    """Each row, with probability `share`, shown at `size` px: area-averaged down, then enlarged back by repetition
    as the network enlarges a small image it reads (models/tagger/net.py), e.g. a 32 px generator's output."""
    pick = torch.rand(xb.shape[0], generator=gen) < share
    if not bool(pick.any()):
        return xb
    side = xb.shape[-1]
    small = nn.functional.interpolate(
        nn.functional.interpolate(xb[pick], size=size, mode="area"), size=side, mode="area"
    )
    out = xb.clone()
    out[pick] = small
    return out


def train_cnn(
    x_train: np.ndarray,
    y_train: np.ndarray,
    tp: TaggerParams,
    seed: int,
    checkpoint_name: str | None = None,
    log=None,
    low_res: float = 0.0,
    low_size: int = 32,
) -> LoopResult:
    """Train one TaggerNet on uint8 [N, S, S, 3] images and labels [N, groups] (-1 unknown) with the settings of
    params section `tagger`, through the one training loop (models/engine/loop.py). `low_res`: the share of rows
    shown at `low_size` px (`_low_res`; the judge's, params `tagger.judge_low_res`); 0 draws nothing more."""
    torch.manual_seed(seed)
    net = TaggerNet(tp.width, tp.size).to(memory_format=torch.channels_last)  # 1.4x faster convs on CPU
    x = to_tensor(x_train)
    y = torch.from_numpy(y_train.astype(np.int64))
    weights = class_weights(y_train)
    losses = {
        g: nn.CrossEntropyLoss(weight=weights[g], ignore_index=-1, label_smoothing=tp.label_smoothing) for g in GROUPS
    }
    opt = torch.optim.AdamW(net.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=tp.lr, total_steps=tp.epochs * loop.steps_for(len(x), tp.batch), pct_start=0.2
    )

    def step(idx: torch.Tensor, gen: torch.Generator):
        xb = _augment(x[idx], tp.shift, gen).float().div_(255.0)
        if low_res:
            xb = _low_res(xb, low_res, low_size, gen)
        xb = xb.contiguous(memory_format=torch.channels_last)
        out = net(xb)
        yb = y[idx]
        # a group with no label in this batch adds nothing (its loss would be 0/0): labels may cover a few groups
        terms = [
            tp.group_weights.get(g, 1.0) * losses[g](out[g], yb[:, k])
            for k, g in enumerate(GROUPS)
            if bool((yb[:, k] >= 0).any())
        ]
        loss = sum(terms) if terms else 0.0 * sum(o.sum() for o in out.values())
        return loss, {"train_loss": float(loss.detach())}, len(idx)

    return loop.fit(
        net,
        opt,
        sched,
        step,
        rows=len(x),
        batch=tp.batch,
        epochs=tp.epochs,
        seed=seed,
        max_minutes=tp.max_minutes,
        checkpoint_name=checkpoint_name,
        log=log,
        finish=lambda: _recalibrate_batch_norm(net, x, tp.batch),
        desc="tagger",
    )


def _recalibrate_batch_norm(net: TaggerNet, x: torch.Tensor, batch: int, limit: int = 8192) -> None:
    """Precise BN (models/engine/batchnorm.py) over the first `limit` training images: without it a short run's eval-mode
    features can sit in dead ReLUs, which makes fd_tagger meaningless."""
    n = min(len(x), limit)
    batchnorm.recalibrate(
        net,
        (x[i : min(i + batch, n)] for i in range(0, n, batch)),
        lambda xb: net.trunk(
            ((xb.float().div_(255.0) - net.mean) / net.std).contiguous(memory_format=torch.channels_last)
        ),
    )
