"""Training posenet: one network on every kind (stick figures, sketches, projections) of the same poses in each batch.

Each image is placed anew (random scale and translation; the joints move with it); the loss is the joints' L1 plus a
heatmap cross-entropy plus a contrastive loss that pulls each pose's stick figure and sketch embeddings to its
projection's; AdamW + one-cycle. Resumption, seeding, the time budget and checkpoints are the training loop's
(models/engine/loop.py); every setting comes from params section `pose`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.params import PoseParams
from models.engine import batchnorm, loop
from models.engine.loop import LoopResult
from models.pose.net import PoseNet, gaussian_targets


def random_placement(
    joints: torch.Tensor,
    size: int,
    gen: torch.Generator,
    scale: tuple[float, float],
    margin: float = 2.0,
    share: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For a `share` of the images (the others stay as they are), a random scale about the image centre and a
    translation that keeps every joint `margin` px inside: (affine theta [B, 2, 3] for F.affine_grid, moved
    joints [B, 11, 2])."""
    b = len(joints)
    c = (size - 1) / 2
    s = torch.empty(b).uniform_(scale[0], scale[1], generator=gen)
    keep = torch.rand(b, generator=gen) >= share
    s = torch.where(keep, torch.ones_like(s), s)
    moved = (joints - c) * s[:, None, None] + c
    lo = margin - moved.amin(dim=1)
    hi = size - 1 - margin - moved.amax(dim=1)
    u = torch.rand(b, 2, generator=gen)
    t = torch.where(lo <= hi, lo + u * (hi - lo), (lo + hi) / 2)  # [B, 2] pixels
    t = torch.where(keep[:, None], torch.zeros_like(t), t)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = -(2 * t / size) / s[:, None]
    return theta, moved + t[:, None, :]


def joint_loss(
    pred: torch.Tensor,
    logp: torch.Tensor,
    y: torch.Tensor,
    size: int,
    sigma: float,
    heatmap_weight: float,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """The joints' L1 plus the heatmap cross-entropy. pred, y [B, 11, 2] pixels; logp [B, 11, (size/2)^2].

    `known` [B, 11] (None: every joint) marks the joints that have a target: an annotated joint out of frame has
    none (NaN in y) and adds neither loss nor gradient; the means are over the known joints."""
    hm = size // 2
    if known is None:
        l1 = (pred - y).abs().mean() / size * 10
        ce = -(gaussian_targets(y, size, hm, sigma) * logp).sum(-1).mean()
    else:
        w = known.to(pred.dtype)
        y = torch.where(known[..., None], y, torch.zeros_like(y))  # any finite stand-in: its weight is 0
        n = w.sum().clamp_min(1.0)
        l1 = ((pred - y).abs().sum(-1) * w).sum() / (2 * n) / size * 10
        ce = -((gaussian_targets(y, size, hm, sigma) * logp).sum(-1) * w).sum() / n
    return l1 + heatmap_weight * ce / math.log(hm * hm)


def _place(xb: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = nn.functional.affine_grid(theta, list(xb.shape), align_corners=False)
    return nn.functional.grid_sample(xb, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _contrastive(emb: torch.Tensor, kinds: list[str], temperature: float) -> torch.Tensor:
    """InfoNCE (both directions) between each kind's embeddings and the projections' of the same poses;
    emb [K * P, D], rows grouped by kind."""
    if "projection" not in kinds:
        return emb.sum() * 0
    k = len(kinds)
    e = emb.reshape(k, -1, emb.shape[-1])
    target = torch.arange(e.shape[1])
    p = kinds.index("projection")
    losses = []
    for i in range(k):
        if i != p:
            logits = e[i] @ e[p].T / temperature
            losses.append(nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))
    return torch.stack(losses).mean() / 2 if losses else emb.sum() * 0


def train_posenet(
    images: dict[str, np.ndarray],
    y: np.ndarray | dict[str, np.ndarray],
    pp: PoseParams,
    size: int,
    seed: int,
    checkpoint_name: str | None = None,
    log=None,
    annotated: tuple[np.ndarray, np.ndarray] | None = None,
) -> LoopResult:
    """images: per kind uint8 [N, S, S, 3], all of the same N poses (row i of every kind is pose i);
    y float32 [N, 11, 2] pixels, shared by the kinds, or per kind (the drawn kind's joints follow the one-colour
    left/right rule, synth/pose/skeleton.py). Each step takes batch // kinds poses, every kind of each.
    `annotated`: images an annotator gave joints to (uint8 [M, S, S, 3], joints [M, 11, 2], NaN for a joint out
    of frame: left out of the loss; an occluded joint's estimated point trains like a visible one); each step adds
    max(1, batch // 8) of them, drawn at random, whose joint losses count `pose.label_weight` times.
    Settings from params section `pose`; the loop is models/engine/loop.py."""
    kinds = list(images)
    targets = y if isinstance(y, dict) else {k: y for k in kinds}
    if set(targets) != set(kinds):
        raise ValueError(f"targets for kinds {sorted(targets)}, images of {sorted(kinds)}")
    n = len(targets[kinds[0]])
    sizes = [len(v) for v in images.values()] + [len(v) for v in targets.values()]
    if any(m != n for m in sizes) or n < 2:
        raise ValueError(f"every kind needs the same {n} (>= 2) poses and targets; got {sizes}")
    torch.manual_seed(seed)
    net = PoseNet(pp.width, size, pp.embed_detached).to(memory_format=torch.channels_last)
    xt = {k: torch.from_numpy(np.ascontiguousarray(v.transpose(0, 3, 1, 2))) for k, v in images.items()}
    yt = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in targets.items()}
    per_step = max(2, pp.batch // len(kinds))
    opt = torch.optim.AdamW(net.parameters(), lr=pp.lr, weight_decay=pp.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=pp.lr, total_steps=pp.epochs * loop.steps_for(n, per_step), pct_start=0.15
    )
    scale = (pp.scale.lo, pp.scale.hi)
    if annotated is not None and len(annotated[0]):
        xa = torch.from_numpy(np.ascontiguousarray(annotated[0].transpose(0, 3, 1, 2)))
        ya = torch.from_numpy(np.array(annotated[1], np.float32))
        ka = torch.isfinite(ya).all(dim=-1)  # [M, 11]: False where out of frame (no target)
        ka = None if bool(ka.all()) else ka  # every joint in frame: the loss as it always was
        per_step_annotated = max(1, pp.batch // 8)
    else:
        xa = ka = None

    def loss_of(pred, logp, yb, known=None):
        return joint_loss(pred, logp, yb, size, pp.sigma, pp.heatmap_weight, known)

    def step(idx: torch.Tensor, gen: torch.Generator):
        xb = torch.cat([xt[k][idx] for k in kinds]).float().div_(255.0)
        yb = torch.cat([yt[k][idx] for k in kinds])
        if pp.place > 0:
            theta, yb = random_placement(yb, size, gen, scale, share=pp.place)
            xb = _place(xb, theta)
        pred, logp, emb = net(xb.contiguous(memory_format=torch.channels_last))
        loss = loss_of(pred, logp, yb)
        if pp.embed_weight:
            loss = loss + pp.embed_weight * _contrastive(emb, kinds, pp.temperature)
        px = float((pred.detach() - yb).norm(dim=-1).mean())
        logged = {"train_loss": float(loss.detach()), "train_px_error": px}
        if xa is not None:  # (drawn after everything else: without annotations the run is what it always was)
            pick = torch.randint(len(xa), (per_step_annotated,), generator=gen)
            pa, la, _ = net(xa[pick].float().div_(255.0).contiguous(memory_format=torch.channels_last))
            known = ka[pick] if ka is not None else None
            loss = loss + pp.label_weight * loss_of(pa, la, ya[pick], known)
            err = (pa.detach() - ya[pick]).norm(dim=-1)
            logged["train_px_error_annotated"] = float(err[known].mean() if known is not None else err.mean())
        return loss, logged, len(xb)

    return loop.fit(
        net,
        opt,
        sched,
        step,
        rows=n,
        batch=per_step,
        epochs=pp.epochs,
        seed=seed,
        max_minutes=pp.max_minutes,
        checkpoint_name=checkpoint_name,
        log=log,
        finish=lambda: _recalibrate_batch_norm(net, torch.cat([xt[k] for k in kinds]), pp.batch),
        desc="posenet",
    )


def _recalibrate_batch_norm(net: nn.Module, xt: torch.Tensor, batch: int, limit: int = 8192) -> None:
    """Precise BN (models/engine/batchnorm.py) over up to `limit` training images spread over the set."""
    pick = torch.linspace(0, len(xt) - 1, min(len(xt), limit)).long()
    batchnorm.recalibrate(
        net,
        (xt[pick[i : i + batch]] for i in range(0, len(pick), batch)),
        lambda xb: net(xb.float().div_(255.0).contiguous(memory_format=torch.channels_last)),
    )
