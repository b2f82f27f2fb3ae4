"""Packed image shards: one `.npy` file per size, uint8 [N, S, S, 3] (RGB), memory-mapped for reading.

Why plain `.npy` and not HDF5: `np.load(mmap_mode="r")` gives zero-copy random access from any number of DataLoader
workers (HDF5 handles do not survive fork and need a lock), the format is a 128-byte header plus raw rows that any
tool reads, DVC hashes one file per size, and rows are written in place (pwrite) with bounded memory. Row i of every
shard and line i of `manifest.csv` describe the same image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.names import GROUPS, index_of
from dataset.shardfile import HEADER_LEN, ShardWriter, read_manifest, shard_name, write_rows

__all__ = ["HEADER_LEN", "ImageShards", "ShardWriter", "read_manifest", "shard_name", "write_rows"]


class ImageShards(Dataset):
    """The one torch Dataset over ingest's output, used by all training code.

    Item i: (image float32 [3, S, S], labels int64 [len(GROUPS)]) with images in [0, 1] (`signed=True`: [-1, 1])
    and labels the class index per attribute group in GROUPS order, -1 where unlabelled.
    """

    def __init__(self, root: str | os.PathLike[str], size: int, split: str | None = None, signed: bool = False):
        self.root, self.size, self.signed = Path(root), size, signed
        path = self.root / shard_name(size)
        if not path.exists():
            have = sorted(p.name for p in self.root.glob("images_*.npy"))
            raise FileNotFoundError(f"{path}: no shard of size {size}; have {have} (add {size} to ingest.sizes)")
        self.images = np.load(path, mmap_mode="r")
        rows = read_manifest(self.root)
        assert len(rows) == len(self.images), f"{path}: {len(self.images)} rows but manifest has {len(rows)}"
        self.index = np.array([i for i, r in enumerate(rows) if split is None or r["split"] == split], np.int64)
        self.labels = np.array([[index_of(g, r[g]) for g in GROUPS] for r in rows], np.int64).reshape(
            len(rows), len(GROUPS)
        )
        self.ids = [rows[i]["id"] for i in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = self.index[i]
        img = torch.from_numpy(np.array(self.images[j])).permute(2, 0, 1).float().div_(255.0)  # [3, S, S]
        if self.signed:
            img = img.mul_(2.0).sub_(1.0)
        return img, torch.from_numpy(self.labels[j])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All selected rows at once: uint8 [N, S, S, 3] and labels [N, len(GROUPS)] (for scikit-learn)."""
        return np.asarray(self.images[self.index]), self.labels[self.index]
