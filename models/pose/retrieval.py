"""The retrieval index over 3D-model projections, `retrieval_top1` and the pose-level `retrieval_pose`.

- `RetrievalIndex`: embeddings of the projections (posenet's pose embedding, computed from the images alone) in
  scikit-learn NearestNeighbors; stored as arrays (`index.npz`) + JSON, rebuilt on load, never pickled.
- `embed_joints`: a pose embedding from joints (centred, divided by their RMS radius): the comparison without a
  learned embedding.
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


def retrieval_pose(
    index: RetrievalIndex, query: np.ndarray, index_joints: np.ndarray, truth_joints: np.ndarray, size: int
) -> dict[str, float]:
    """What an artist gets back as a reference: the nearest indexed projection's pose against the query's true pose
    (both in the projections' frame, [N, 11, 2] px of `size`). `retrieval_pose_top1`: the share of queries whose
    reference has every joint within pck 0.05 of the query's (the same pose, whichever camera or copy it came
    from); `retrieval_pose_error_px`: the mean joint distance of the reference to the query's pose."""
    _, rows = index.query(query, 1)
    got = index_joints[rows[:, 0]]
    dist = np.linalg.norm(got - truth_joints, axis=-1)  # [N, 11]
    return {
        "retrieval_pose_top1": float((dist <= 0.05 * size).all(axis=1).mean()),
        "retrieval_pose_error_px": float(dist.mean()),
    }
