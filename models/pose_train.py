"""Training and judging posenet, and the retrieval index over 3D-model projections.

- `train_posenet`: one network on every kind (stick figures, sketches, projections) of the same poses in each batch,
  each image placed anew (random scale and translation; the joints move with it), joint loss plus a contrastive
  loss that pulls each pose's stick figure and sketch embeddings to its projection's; AdamW + one-cycle, time
  budget, resumable pickle-free checkpoints per epoch.
- `pck`: the share of joints within `alpha` x image size of the truth (`pck_0_05` at alpha 0.05).
- `embed_images`: the learned pose embedding of images; `embed_joints`: a pose embedding from joints (centred,
  divided by their RMS radius), the comparison.
- `RetrievalIndex`: embeddings of the projections (computed from the images alone) in scikit-learn
  NearestNeighbors; stored as arrays (`index.npz`) + JSON, rebuilt on load, never pickled.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import checkpoint
from models import batchnorm
from models.posenet import PoseNet, gaussian_targets


@dataclass
class PoseTrainConfig:
    width: int = 32
    size: int = 64
    epochs: int = 12
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    heatmap_weight: float = 1.0  # the Gaussian heatmap cross-entropy beside the coordinates' L1
    sigma: float = 1.0  # heatmap cells
    place: float = 0.5  # share of training images placed anew: a scale in `scale`, a translation keeping joints in
    scale: tuple[float, float] = (0.8, 1.15)
    embed_weight: float = 0.5  # the contrastive loss of the pose embedding
    embed_detached: bool = False  # True: that loss trains the embedding head only, never the trunk
    temperature: float = 0.1
    max_minutes: float = 10.0


@dataclass
class PoseTrainResult:
    net: PoseNet
    epochs_done: int
    stopped_by_budget: bool
    seconds: float
    history: list[dict] = field(default_factory=list)


def to_input(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> float [N, 3, S, S] in [0, 1], channels-last."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float().div_(255.0)
    return t.contiguous(memory_format=torch.channels_last)


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
    y: np.ndarray,
    cfg: PoseTrainConfig,
    seed: int,
    ckpt_name: str | None = None,
    log=None,
) -> PoseTrainResult:
    """images: per kind uint8 [N, S, S, 3], all of the same N poses (row i of every kind is pose i);
    y float32 [N, 11, 2] pixels, shared by the kinds. Each step takes batch // kinds poses, every kind of each."""
    kinds = list(images)
    n = len(y)
    if any(len(v) != n for v in images.values()) or n < 2:
        raise ValueError(f"every kind needs the same {n} (>= 2) poses; got {[len(v) for v in images.values()]}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = PoseNet(cfg.width, cfg.size, cfg.embed_detached).to(memory_format=torch.channels_last)
    xt = {k: torch.from_numpy(np.ascontiguousarray(v.transpose(0, 3, 1, 2))) for k, v in images.items()}
    yt = torch.from_numpy(np.array(y, np.float32))
    per_step = max(2, cfg.batch // len(kinds))
    steps = max(1, math.ceil(n / per_step))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    hm = cfg.size // 2
    start, history, spent = 0, [], 0.0
    if ckpt_name:
        meta = checkpoint.load(ckpt_name, net, opt, sched)
        if meta is not None:
            start, history, spent = meta["epoch"], meta["history"], meta["seconds"]
    t0 = time.perf_counter() - spent
    stopped = False
    for epoch in range(start, cfg.epochs):
        if epoch > start and time.perf_counter() - t0 > cfg.max_minutes * 60:  # at least one epoch
            stopped = True
            break
        net.train()
        gen.manual_seed(seed + 7919 * epoch)  # per epoch, so that a resumed run draws what an unbroken one would
        order = torch.randperm(n, generator=gen)
        total = err = 0.0
        seen = 0
        for b in range(steps):
            idx = order[b * per_step : (b + 1) * per_step]
            if len(idx) < 2:
                continue  # batch norm and the contrastive loss need two
            xb = torch.cat([xt[k][idx] for k in kinds]).float().div_(255.0)
            yb = yt[idx].repeat(len(kinds), 1, 1)
            if cfg.place > 0:
                theta, yb = random_placement(yb, cfg.size, gen, cfg.scale, share=cfg.place)
                xb = _place(xb, theta)
            pred, logp, emb = net(xb.contiguous(memory_format=torch.channels_last))
            l1 = (pred - yb).abs().mean() / cfg.size * 10
            ce = -(gaussian_targets(yb, cfg.size, hm, cfg.sigma) * logp).sum(-1).mean()
            loss = l1 + cfg.heatmap_weight * ce / math.log(hm * hm)
            if cfg.embed_weight:
                loss = loss + cfg.embed_weight * _contrastive(emb, kinds, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(xb)
            err += float((pred.detach() - yb).norm(dim=-1).mean()) * len(xb)
            seen += len(xb)
        record = {
            "epoch": epoch + 1,
            "train_loss": total / max(seen, 1),
            "train_px_error": err / max(seen, 1),
            "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        if log is not None:
            log({"train_loss": record["train_loss"], "train_px_error": record["train_px_error"]}, epoch + 1)
        if ckpt_name:
            meta = {"epoch": epoch + 1, "history": history, "seconds": record["seconds"]}
            checkpoint.save(ckpt_name, net, opt, sched, meta)
    _recalibrate_batch_norm(net, torch.cat([xt[k] for k in kinds]), cfg.batch)
    if ckpt_name:
        checkpoint.clear(ckpt_name)
    return PoseTrainResult(net.eval(), len(history), stopped, time.perf_counter() - t0, history)


def _recalibrate_batch_norm(net: nn.Module, xt: torch.Tensor, batch: int, limit: int = 8192) -> None:
    """Precise BN (models/batchnorm.py) over up to `limit` training images spread over the set."""
    pick = torch.linspace(0, len(xt) - 1, min(len(xt), limit)).long()
    batchnorm.recalibrate(
        net,
        (xt[pick[i : i + batch]] for i in range(0, len(pick), batch)),
        lambda xb: net(xb.float().div_(255.0).contiguous(memory_format=torch.channels_last)),
    )


@torch.no_grad()
def predict(net: PoseNet, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 [N, S, S, 3] -> joints float32 [N, 11, 2] in pixels."""
    net.eval()
    out = [net(to_input(x[i : i + batch]))[0].numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 11, 2), np.float32)


@torch.no_grad()
def embed_images(net: PoseNet, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 [N, S, S, 3] -> posenet's unit pose embeddings float32 [N, EMBED_DIM]."""
    net.eval()
    out = [net(to_input(x[i : i + batch]))[2].numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, net.embed_dim), np.float32)


def pck(pred: np.ndarray, truth: np.ndarray, size: int, alpha: float = 0.05) -> float:
    """Share of joints within alpha * size pixels of the truth."""
    if pred.shape != truth.shape or len(pred) == 0:
        raise ValueError(f"pck needs equal, non-empty shapes; got {pred.shape} and {truth.shape}")
    return float((np.linalg.norm(pred - truth, axis=-1) <= alpha * size).mean())


def per_joint_error(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean pixel error per joint [11]."""
    return np.linalg.norm(pred - truth, axis=-1).mean(axis=0)


def embed_joints(joints: np.ndarray) -> np.ndarray:
    """joints [N, 11, 2] -> [N, 22]: centred, divided by the RMS radius (position- and scale-free)."""
    c = joints - joints.mean(axis=1, keepdims=True)
    r = np.sqrt((c**2).sum(axis=-1).mean(axis=1))[:, None, None]
    return (c / np.maximum(r, 1e-6)).reshape(len(joints), -1).astype(np.float32)


class RetrievalIndex:
    """Nearest 3D-model projection by pose embedding. `ids` name the projections (pose-set ids)."""

    def __init__(self, embeddings: np.ndarray, ids: list[str]):
        from sklearn.neighbors import NearestNeighbors

        if len(embeddings) != len(ids) or len(ids) == 0:
            raise ValueError(f"{len(embeddings)} embeddings for {len(ids)} ids")
        self.embeddings = np.asarray(embeddings, np.float32)
        self.ids = list(ids)
        self.nn = NearestNeighbors(n_neighbors=min(5, len(ids))).fit(self.embeddings)

    def query(self, embeddings: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(distances [N, k], row indices [N, k])."""
        return self.nn.kneighbors(np.asarray(embeddings, np.float32), n_neighbors=min(k, len(self.ids)))

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "index.npz", embeddings=self.embeddings)
        doc = {"ids": self.ids, "metric": "euclidean", "embedding": "posenet's unit pose embedding"}
        (folder / "index.json").write_text(json.dumps({**doc, **(extra or {})}) + "\n")

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RetrievalIndex:
        folder = Path(folder)
        try:
            with np.load(folder / "index.npz", allow_pickle=False) as z:
                emb = z["embeddings"]
            ids = json.loads((folder / "index.json").read_text())["ids"]
            return cls(emb, ids)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{folder}: not a retrieval index ({err})") from None


def retrieval_top1(index: RetrievalIndex, query: np.ndarray, truth_rows: np.ndarray) -> float:
    """Share of queries whose nearest indexed projection is their own (row truth_rows[i])."""
    _, rows = index.query(query, 1)
    return float((rows[:, 0] == truth_rows).mean())
