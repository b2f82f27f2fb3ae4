"""Deterministic grouped train/val/test split.

Images that share a character or an identical perceptual hash form one group (union-find), and a group lands in one
split as a whole. A group's split is a pure function of the seed and the group's smallest key, so adding images to a
source never moves existing groups between splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SPLITS = ("train", "val", "test")


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_ids(characters: Sequence[str], phashes: Sequence[int]) -> list[int]:
    """Group number of each image: images joined by a shared non-empty character or an identical phash."""
    uf = _UnionFind(len(characters))
    seen: dict[tuple[str, object], int] = {}
    for i, (ch, ph) in enumerate(zip(characters, phashes)):
        for key in ((("c", ch) if ch else None), ("p", ph)):
            if key is None:
                continue
            if key in seen:
                uf.union(seen[key], i)
            else:
                seen[key] = i
    return [uf.find(i) for i in range(len(characters))]


def assign_splits(keys: Sequence[str], groups: Sequence[int], val: float, test: float, seed: int) -> list[str]:
    """Split of each image. `keys` are stable per-image ids; a group is placed by its smallest key."""
    root_key: dict[int, str] = {}
    for k, g in zip(keys, groups):
        if g not in root_key or k < root_key[g]:
            root_key[g] = k
    placed: dict[int, str] = {}
    for g, k in root_key.items():
        digest = hashlib.sha256(f"{seed}:{k}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        placed[g] = "test" if u < test else "val" if u < test + val else "train"
    return [placed[g] for g in groups]
