"""Judging posenet: `pck_0_05` per kind on validation and test, the retrieval index and `retrieval_top1`, figures.

- `pck_0_05` (models/metrics/pck.py) per kind (stick figures, sketches, projections), validation beside test.
- The retrieval index embeds 3D-model projections from the images alone (posenet's pose embedding). The queries are
  the test stick figures drawn anew at another random scale (0.75-1.25) and place, so that a hit cannot come from
  where the figure sits in the frame; a hit when the projection of the same pose and camera comes back first.
  `retrieval_top1` against the test projections, `retrieval_top1_all` against every split's (the index that is
  saved and served), `retrieval_top1_joints` with posenet's joints instead of the learned embedding.
"""

from __future__ import annotations

import time

import numpy as np

from core.names import JOINTS, POSE_KINDS
from models.metrics.pck import pck, per_joint_error
from models.pose.net import PoseNet, embed_images, predict
from models.pose.retrieval import RetrievalIndex, embed_joints, retrieval_top1
from models.pose.train import random_placement
from synth.pose.figure import draw_stick
from synth.pose.skeleton import STICK_INDEX
from synth.sheet import tile

KINDS = POSE_KINDS


def evaluate(net: PoseNet, ps, splits: dict, size: int, seed: int) -> tuple[dict, dict, RetrievalIndex]:
    """(figures, predictions per (split, kind), the index over every split's projections) of a trained posenet.

    `splits[split][kind]` = (images uint8 [N, S, S, 3], joints [N, 11, 2]); `ps` the PoseSet (for ids)."""
    figures: dict = {"val": {}, "test": {}}
    preds: dict = {}
    t_infer, n_infer = 0.0, 0
    for s in ("val", "test"):
        for k in KINDS:
            x, y = splits[s][k]
            t0 = time.perf_counter()
            p = predict(net, x)
            if s == "test":
                t_infer += time.perf_counter() - t0
                n_infer += len(x)
            preds[s, k] = p
            figures[s][k] = {
                "pck_0_05": pck(p, y, size),
                "px_error": float(np.linalg.norm(p - y, axis=-1).mean()),
            }
    # the retrieval index: embeddings of projections, from the images alone. The queries are the test stick
    # figures drawn anew at another random scale and place, so that a hit cannot come from where the figure sits
    query_joints, query = replaced_sticks(splits["test"]["stick"][1], size, seed)
    proj = {s: splits[s]["projection"][0] for s in ("train", "val", "test")}
    emb = {s: embed_images(net, proj[s]) for s in proj}
    ids = {s: [ps.meta[i]["id"] for i in ps.rows(s)] for s in proj}
    q_emb = embed_images(net, query)
    own = np.arange(len(query))
    top1 = retrieval_top1(RetrievalIndex(emb["test"], ids["test"]), q_emb, own)
    q_pred = predict(net, query)
    top1_joints = retrieval_top1(
        RetrievalIndex(embed_joints(preds["test", "projection"]), ids["test"]), embed_joints(q_pred), own
    )
    index_all = RetrievalIndex(np.concatenate([emb[s] for s in proj]), sum((ids[s] for s in proj), []))
    top1_all = retrieval_top1(index_all, q_emb, own + len(emb["train"]) + len(emb["val"]))

    test = figures["test"]
    metrics = {
        "pck_0_05": {k: round(test[k]["pck_0_05"], 4) for k in KINDS},
        "px_error": {k: round(test[k]["px_error"], 3) for k in KINDS},
        "pck_0_05_stick_replaced": round(pck(q_pred, query_joints, size), 4),
        "val_pck_0_05": {k: round(figures["val"][k]["pck_0_05"], 4) for k in KINDS},
        "retrieval_top1": round(top1, 4),
        "retrieval_candidates": len(emb["test"]),
        "retrieval_top1_joints": round(top1_joints, 4),
        "retrieval_top1_all": round(top1_all, 4),
        "index_size": len(index_all.ids),
        "inference_images_per_s": round(n_infer / max(t_infer, 1e-9), 1),
    }
    return metrics, preds, index_all


def overlay(images: np.ndarray, pred: np.ndarray, truth: np.ndarray, zoom: int = 3) -> np.ndarray:
    """A grid of images with truth (green) and prediction (red) skeletons."""
    import cv2

    tiles = []
    for img, p, t in zip(images, pred, truth):
        big = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST).copy()
        for pts, color in ((t, (0, 170, 0)), (p, (220, 0, 0))):
            q = (pts + 0.5) * zoom - 0.5
            for a, b in STICK_INDEX:
                cv2.line(big, tuple(int(v) for v in q[a]), tuple(int(v) for v in q[b]), color, 1, cv2.LINE_AA)
        tiles.append(big)
    return tile(tiles, cols=8)


def replaced_sticks(joints: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The stick figures of these poses drawn again at a random scale (0.75-1.25) and place: (joints, images)."""
    import torch

    gen = torch.Generator().manual_seed(seed + 0x51C)
    _, moved = random_placement(torch.from_numpy(np.array(joints, np.float32)), size, gen, (0.75, 1.25), 3.0)
    moved = moved.numpy()
    rng = np.random.default_rng([seed, 0x51C])
    return moved, np.stack([draw_stick(j, size, 4, rng) for j in moved])


def joint_plot(errors: dict[str, np.ndarray]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(errors)
    for k, (kind, e) in enumerate(errors.items()):
        ax.bar(np.arange(len(JOINTS)) + k * width, e, width, label=kind)
    ax.set_xticks(np.arange(len(JOINTS)) + 0.4 - width / 2, JOINTS, rotation=45, ha="right")
    ax.set_ylabel("mean error (px)")
    ax.legend()
    fig.tight_layout()
    return fig


def log_figures(preds: dict, splits: dict) -> None:
    """The per-joint error plot and the test prediction grids (truth green, prediction red) to the active MLflow run."""
    import matplotlib.pyplot as plt

    from core import tracking

    errors = {k: per_joint_error(preds["test", k], splits["test"][k][1]) for k in KINDS}
    fig = joint_plot(errors)
    tracking.log_figure(fig, "per_joint_error.png")
    plt.close(fig)
    for k in ("stick", "sketch"):
        x, y = splits["test"][k]
        tracking.log_image(overlay(x[:32], preds["test", k][:32], y[:32]), f"test_{k}_predictions.png")
