"""The retrieval index over 3D-model projections, `retrieval_top1` and the pose-level `retrieval_pose`.

- `RetrievalIndex`: embeddings of the projections (posenet's pose embedding, computed from the images alone) in
  scikit-learn NearestNeighbors; stored as arrays (`index.npz`) + JSON, rebuilt on load, never pickled.
- `embed_joints`: a pose embedding from joints (centred, divided by their RMS radius): the comparison without a
  learned embedding.
- `rerank`: the embedding's k nearest projections put in order by how far each one's joints are from the query's
  (both through `embed_joints`), the embedding distance added with a weight; k and the weight are chosen on
  validation (experiments/retrieval_rerank.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def embed_joints(joints: np.ndarray) -> np.ndarray:
    """joints [N, 11, 2] -> [N, 22]: centred, divided by the RMS radius (position- and scale-free)."""
    c = joints - joints.mean(axis=1, keepdims=True)
    r = np.sqrt((c**2).sum(axis=-1).mean(axis=1))[:, None, None]
    return (c / np.maximum(r, 1e-6)).reshape(len(joints), -1).astype(np.float32)


class RetrievalIndex:
    """Nearest 3D-model projection by pose embedding. `ids` name the projections (pose-set ids); `joints` [N, 11, 2]
    (optional), each projection's pose, with `k` and `weight`, re-rank what the embedding finds (`nearest`)."""

    def __init__(
        self, embeddings: np.ndarray, ids: list[str], joints: np.ndarray | None = None, k: int = 1, weight: float = 0.0
    ):
        from sklearn.neighbors import NearestNeighbors

        if len(embeddings) != len(ids) or len(ids) == 0:
            raise ValueError(f"{len(embeddings)} embeddings for {len(ids)} ids")
        if joints is not None and np.shape(joints) != (len(ids), 11, 2):
            raise ValueError(f"joints of shape {np.shape(joints)} for {len(ids)} ids, expected ({len(ids)}, 11, 2)")
        if int(k) < 1 or not float(weight) >= 0:
            raise ValueError(f"k {k}, weight {weight}: expected k >= 1 and weight >= 0")
        self.embeddings = np.asarray(embeddings, np.float32)
        self.ids = list(ids)
        self.joints = None if joints is None else np.asarray(joints, np.float32)
        self.k, self.weight = int(k), float(weight)
        self.nn = NearestNeighbors(n_neighbors=min(5, len(ids))).fit(self.embeddings)

    def query(self, embeddings: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(distances [N, k], row indices [N, k])."""
        return self.nn.kneighbors(np.asarray(embeddings, np.float32), n_neighbors=min(k, len(self.ids)))

    def nearest(self, embeddings: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
        """The row returned for each query [N]: `rerank` by the index's own settings when the query's joints and
        the projections' are known, else the embedding's nearest."""
        return rerank(self, embeddings, joints, self.joints, self.k, self.weight)

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"embeddings": self.embeddings} | ({"joints": self.joints} if self.joints is not None else {})
        np.savez(folder / "index.npz", **arrays)
        doc = {"ids": self.ids, "metric": "euclidean", "embedding": "posenet's unit pose embedding"}
        doc["rerank"] = {"k": self.k, "weight": self.weight}
        (folder / "index.json").write_text(json.dumps({**doc, **(extra or {})}) + "\n")

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RetrievalIndex:
        """The saved index; one saved before joints were kept returns the embedding's nearest alone."""
        folder = Path(folder)
        try:
            with np.load(folder / "index.npz", allow_pickle=False) as z:
                emb = z["embeddings"]
                joints = z["joints"] if "joints" in z.files else None
            doc = json.loads((folder / "index.json").read_text())
            how = doc.get("rerank") or {}
            return cls(emb, doc["ids"], joints, int(how.get("k", 1)), float(how.get("weight", 0.0)))
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise ValueError(f"{folder}: not a retrieval index ({err})") from None


def rerank(
    index: RetrievalIndex,
    query: np.ndarray,
    query_joints: np.ndarray | None = None,
    index_joints: np.ndarray | None = None,
    k: int = 1,
    weight: float = 0.0,
) -> np.ndarray:
    """The row of the indexed projection returned for each query, [N]: among the embedding's `k` nearest, the one of
    least `embedding distance + weight * joint distance`, the joint distance being the mean per joint between the
    query's joints and the projection's, each set centred and divided by its RMS radius (`embed_joints`: position-
    and scale-free). k 1 (or no joints) is the embedding's nearest alone."""
    dist, rows = index.query(query, max(1, k) if query_joints is not None and index_joints is not None else 1)
    if rows.shape[1] == 1:
        return rows[:, 0]
    q = embed_joints(np.asarray(query_joints, np.float32)).reshape(len(rows), 1, -1, 2)
    c = embed_joints(np.asarray(index_joints, np.float32))[rows].reshape(*rows.shape, -1, 2)  # [N, k, 11, 2]
    score = dist + weight * np.linalg.norm(c - q, axis=-1).mean(axis=-1)
    return rows[np.arange(len(rows)), score.argmin(axis=1)]


def retrieval_top1(index: RetrievalIndex, query: np.ndarray, truth_rows: np.ndarray, **how) -> float:
    """Share of queries whose returned indexed projection is their own (row truth_rows[i]); `how`: `rerank`'s
    query_joints, index_joints, k and weight (none: the embedding's nearest)."""
    return float((rerank(index, query, **how) == truth_rows).mean())


def retrieval_pose(
    index: RetrievalIndex, query: np.ndarray, pose_joints: np.ndarray, truth_joints: np.ndarray, size: int, **how
) -> dict[str, float]:
    """What an artist gets back as a reference: the returned indexed projection's pose (`pose_joints`, the true
    joints of the indexed projections) against the query's true pose (both in the projections' frame, [N, 11, 2] px
    of `size`). `retrieval_pose_top1`: the share of queries whose reference has every joint within pck 0.05 of the
    query's (the same pose, whichever camera or copy it came from); `retrieval_pose_error_px`: the mean joint
    distance of the reference to the query's pose. `how`: `rerank`'s query_joints, index_joints, k and weight."""
    got = pose_joints[rerank(index, query, **how)]
    dist = np.linalg.norm(got - truth_joints, axis=-1)  # [N, 11]
    return {
        "retrieval_pose_top1": float((dist <= 0.05 * size).all(axis=1).mean()),
        "retrieval_pose_error_px": float(dist.mean()),
    }
