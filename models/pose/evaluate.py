"""Judging posenet: `pck_0_05` per kind and retrieval top-1, on validation (which chooses) and test (which reports).

- `pck_0_05` (models/metrics/pck.py) per kind (stick figures, sketches, projections, hand-drawn-style figures; the
  last scored by the one-colour left/right rule), validation beside test; the headline `pck_0_05` is the mean over
  the kinds, the kinds under `pck_0_05_by_kind`.
- The retrieval index embeds 3D-model projections from their images (posenet's pose embedding). The queries are
  a split's stick figures drawn anew (`replaced_sticks`): each at the size of *another* pose of the split, chosen at
  random, and at a random place, so that neither where a figure sits nor how big it is says which candidate is its
  own; a hit when the projection of the same pose and camera comes back first. What comes back is the index's answer
  under `pose.retrieval`: the embedding's k nearest projections put in order by their joints (the render stage's, or
  posenet's reading of each projection) against posenet's reading of the query (models/pose/retrieval.py `rerank`);
  `embedding_nearest` holds the same figures for the embedding's nearest alone. Like with like:
  `val_retrieval_top1` (validation queries among the validation projections) and `retrieval_top1_at_val_size` (a
  random subset of as many test poses, among their projections) count the same number of candidates;
  `retrieval_top1` asks among every test projection and `retrieval_top1_all` among every split's (the index that is
  saved and served). What an artist needs is a reference in the query's pose, not the one projection it came from:
  `retrieval_pose_top1` counts a hit when the reference returned has every joint within pck 0.05 of the query's own
  projection's joints (another camera or a near-identical pose qualifies), `retrieval_pose_error_px` is the mean
  joint distance between the two; both among the split's projections, validation beside test.
- Annotated images held out of training (`labelled_figures`): pck over their joints in frame, and over the occluded
  ones alone when there are any.
- Beside posenet, under their own keys: `embedding_nearest` (above), `joints_embedding` (the same retrieval with
  posenet's joints of both sides, centred and scaled, instead of the learned embedding) and `floor` (chance for retrieval; the training split's mean pose of
  each kind predicted for every image of the kind for `pck_0_05`).
"""

from __future__ import annotations

import time

import numpy as np

from core.names import JOINTS, POSE_KINDS
from models.metrics.pck import pck, per_joint_error
from models.pose.labels import OCCLUDED
from models.pose.net import PoseNet, embed_images, predict
from models.pose.retrieval import RetrievalIndex, embed_joints, retrieval_pose, retrieval_top1
from synth.pose.figure import draw_stick
from synth.pose.skeleton import STICK_INDEX
from synth.sheet import tile

KINDS = POSE_KINDS
QUERY_SALT = {"val": 0x51D, "test": 0x51C}  # the query stream of each split (test's is the one used since issue 5)


def _r4(d: dict) -> dict:
    return {k: round(float(v), 4) for k, v in d.items()}


def _top1(index_emb: np.ndarray, ids: list[str], query_emb: np.ndarray, **how) -> float:
    """Top-1 when query i's own candidate is row i of `index_emb`; `how`: `rerank`'s query_joints, index_joints, k
    and weight (none: the embedding's nearest)."""
    return retrieval_top1(RetrievalIndex(index_emb, ids), query_emb, np.arange(len(query_emb)), **how)


def evaluate(net: PoseNet, ps, splits: dict, size: int, seed: int, retrieval=None) -> tuple[dict, dict, RetrievalIndex]:
    """(metrics, predictions per (split, kind), the index over every split's projections) of a trained posenet.

    `splits[split][kind]` = (images uint8 [N, S, S, 3], joints [N, 11, 2]); `ps` the PoseSet (for ids);
    `retrieval` params.pose.retrieval (k, weight, joints: how a reference is returned; None: the embedding's
    nearest). `metrics` = {"posenet": {...}, "embedding_nearest": {...}, "joints_embedding": {...}, "floor": {...}}
    (the layout of metrics/pose.json)."""
    preds: dict = {}
    found: dict = {"val": {}, "test": {}}
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
            found[s][k] = {"pck": pck(p, y, size), "px": float(np.linalg.norm(p - y, axis=-1).mean())}

    proj = {s: splits[s]["projection"][0] for s in ("train", "val", "test")}
    ids = {s: [ps.meta[i]["id"] for i in ps.rows(s)] for s in proj}
    emb = {s: embed_images(net, proj[s]) for s in proj}
    joint_emb = {s: embed_joints(preds[s, "projection"]) for s in ("val", "test")}
    queries = {s: replaced_sticks(splits[s]["stick"][1], size, seed, QUERY_SALT[s]) for s in ("val", "test")}
    q_pred = {s: predict(net, queries[s][1]) for s in queries}
    q_emb = {s: embed_images(net, queries[s][1]) for s in queries}
    q_joint = {s: embed_joints(q_pred[s]) for s in queries}
    top_k, weight, source = (retrieval.k, retrieval.weight, retrieval.joints) if retrieval else (1, 0.0, None)
    # the projections' joints the index keeps: the render stage's, or posenet's reading of each projection
    if source == "rendered":
        known = {s: splits[s]["projection"][1] for s in proj}
    else:
        known = {s: preds[s, "projection"] if (s, "projection") in preds else predict(net, proj[s]) for s in proj}

    # like with like: as many test poses as validation has, drawn once per seed
    n_val, n_test = len(ids["val"]), len(ids["test"])
    sub = np.sort(np.random.default_rng([seed, 0x600]).choice(n_test, min(n_val, n_test), replace=False))
    sub_ids = [ids["test"][i] for i in sub]

    def how(s: str, rows=slice(None)) -> dict:  # the returned reference: the index's settings, the query's joints
        return {"query_joints": q_pred[s][rows], "index_joints": known[s][rows], "k": top_k, "weight": weight}

    def retrieval_figures(**h) -> dict:
        """Top-1 (exact and pose-level) on both splits; `h` maps a split to `how`'s settings (none: the nearest)."""
        out = {
            "retrieval_top1": _top1(emb["test"], ids["test"], q_emb["test"], **h.get("test", {})),
            "retrieval_top1_at_val_size": _top1(emb["test"][sub], sub_ids, q_emb["test"][sub], **h.get("sub", {})),
            "val_retrieval_top1": _top1(emb["val"], ids["val"], q_emb["val"], **h.get("val", {})),
        }
        for s, prefix in (("test", ""), ("val", "val_")):  # the reference's pose against the query's (same camera)
            true = splits[s]["projection"][1]
            found_pose = retrieval_pose(RetrievalIndex(emb[s], ids[s]), q_emb[s], true, true, size, **h.get(s, {}))
            out.update({prefix + key: v for key, v in found_pose.items()})
        return out

    index_all = RetrievalIndex(
        np.concatenate([emb[s] for s in proj]),
        sum((ids[s] for s in proj), []),
        np.concatenate([known[s] for s in proj]),
        top_k,
        weight,
    )
    offset = len(ids["train"]) + len(ids["val"])
    top1_all = float((index_all.nearest(q_emb["test"], q_pred["test"]) == np.arange(n_test) + offset).mean())

    reranked = {"test": how("test"), "val": how("val"), "sub": how("test", sub)} if top_k > 1 else {}
    posenet = {
        "pck_0_05": float(np.mean([found["test"][k]["pck"] for k in KINDS])),
        "val_pck_0_05": float(np.mean([found["val"][k]["pck"] for k in KINDS])),
        **retrieval_figures(**reranked),
        "retrieval_top1_all": top1_all,
        "pck_0_05_queries": pck(q_pred["test"], queries["test"][0], size),
    }
    posenet = _r4(posenet)
    posenet.update(
        {
            "pck_0_05_by_kind": _r4({k: found["test"][k]["pck"] for k in KINDS}),
            "val_pck_0_05_by_kind": _r4({k: found["val"][k]["pck"] for k in KINDS}),
            "px_error_by_kind": {k: round(found["test"][k]["px"], 3) for k in KINDS},
            "retrieval_candidates": n_test,
            "val_retrieval_candidates": n_val,
            "retrieval_k": top_k,
            "retrieval_weight": weight,
            "retrieval_joints": source,
            "index_size": len(index_all.ids),
            "inference_images_per_s": round(n_infer / max(t_infer, 1e-9), 1),
        }
    )
    embedding_nearest = _r4(retrieval_figures())  # the embedding's nearest alone, what k 1 returns
    joints_embedding = _r4(
        {
            "retrieval_top1": _top1(joint_emb["test"], ids["test"], q_joint["test"]),
            "retrieval_top1_at_val_size": _top1(joint_emb["test"][sub], sub_ids, q_joint["test"][sub]),
            "val_retrieval_top1": _top1(joint_emb["val"], ids["val"], q_joint["val"]),
        }
    )
    mean_pose = {k: splits["train"][k][1].mean(axis=0) for k in KINDS}  # the drawn kind's by its own rule
    floor_pck = {
        k: pck(np.broadcast_to(mean_pose[k], splits["test"][k][1].shape), splits["test"][k][1], size) for k in KINDS
    }
    floor = {
        "pck_0_05": round(float(np.mean(list(floor_pck.values()))), 4),
        "pck_0_05_by_kind": _r4(floor_pck),
        "retrieval_top1": round(1 / n_test, 6),
        "val_retrieval_top1": round(1 / n_val, 6),
    }
    figures = {"posenet": posenet, "embedding_nearest": embedding_nearest, "joints_embedding": joints_embedding}
    return {**figures, "floor": floor}, preds, index_all


def labelled_figures(net: PoseNet, held: list[tuple[np.ndarray, ...]], size: int, key: str) -> dict:
    """Figures on annotated images held out of training (models/pose/labels.py's sets: images, joints, visibility):
    `pck_0_05_<key>` over the joints in frame (visible and occluded; out of frame has no truth), `<key>_scored`
    images, and, when some joints are occluded, `pck_0_05_<key>_occluded` over those alone with their count
    `<key>_occluded_joints`. Empty when no image is held out."""
    held = [h for h in held if len(h[0])]
    if not held:
        return {}
    x, y, vis = (np.concatenate([h[i] for h in held]) for i in range(3))
    pred = predict(net, x)
    out = {f"pck_0_05_{key}": round(pck(pred, y, size), 4), f"{key}_scored": len(x)}
    occluded = vis == OCCLUDED
    if occluded.any():
        out[f"pck_0_05_{key}_occluded"] = round(pck(pred, y, size, counted=occluded), 4)
        out[f"{key}_occluded_joints"] = int(occluded.sum())
    return out


def replaced_sticks(
    joints: np.ndarray, size: int, seed: int, salt: int = QUERY_SALT["test"]
) -> tuple[np.ndarray, np.ndarray]:
    """The stick figures of these poses drawn again, each at the size of another pose of the set (a random
    permutation: independent of its own size) and at a random place 3 px or more inside: (joints, images).

    Size is the RMS distance of the joints from their centroid; a figure that would not fit is shrunk to fit."""
    j = np.asarray(joints, np.float64)
    n, margin = len(j), 3.0
    rng = np.random.default_rng([seed, salt])
    centred = j - j.mean(axis=1, keepdims=True)
    radius = np.sqrt((centred**2).sum(axis=-1).mean(axis=1))
    target = radius[rng.permutation(n)]
    scale = target / np.maximum(radius, 1e-6)
    extent = (centred.max(axis=1) - centred.min(axis=1)).max(axis=1)  # the larger of width and height
    scale = np.minimum(scale, (size - 1 - 2 * margin) / np.maximum(extent, 1e-6))
    moved = centred * scale[:, None, None]
    lo = margin - moved.min(axis=1)  # [N, 2]: the smallest offset keeping every joint inside
    hi = size - 1 - margin - moved.max(axis=1)
    moved = moved + (lo + rng.random((n, 2)) * (hi - lo))[:, None, :]
    moved = moved.astype(np.float32)
    return moved, np.stack([draw_stick(p, size, 4, rng) for p in moved])


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
    for k in ("stick", "sketch", "drawn"):
        x, y = splits["test"][k]
        tracking.log_image(overlay(x[:32], preds["test", k][:32], y[:32]), f"test_{k}_predictions.png")
