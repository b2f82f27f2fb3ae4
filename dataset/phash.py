"""Perceptual hashes (64-bit DCT pHash) and the near-duplicate search over them."""

from __future__ import annotations

import cv2
import numpy as np


def phash(img: np.ndarray) -> int:
    """64-bit perceptual hash of an RGB image [H, W, 3]: sign of the 8x8 low DCT frequencies against their median."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    rest = low[1:]  # the DC term would dominate the median; of 63 values the median is the 32nd smallest
    bits = low > np.partition(rest, 31)[31]
    return int(np.packbits(bits).view(">u8")[0])


class NearDuplicates:
    """Near-duplicate search fed in order, a block at a time (ingest feeds it while the workers decode).

    `add(hashes)` returns, for each new hash, the index (over everything added so far) of the first earlier hash
    within `max_bits` Hamming distance, followed to the root of its chain (a -> b -> c gives c -> a), else -1: the
    first of a cluster is kept, every later member points at a kept one. The comparisons are vectorised in blocks
    of at most 8 M pairs (64 MiB of temporaries) whatever the set size.
    """

    def __init__(self, max_bits: int):
        self.max_bits = max_bits
        self.hashes = np.empty(1024, np.uint64)
        self.first = np.empty(1024, np.int64)
        self.n = 0

    def add(self, new: np.ndarray) -> np.ndarray:
        new = np.asarray(new, np.uint64)
        start, stop_all = self.n, self.n + len(new)
        if stop_all > len(self.hashes):
            cap = max(stop_all, 2 * len(self.hashes))
            self.hashes = np.resize(self.hashes, cap)
            self.first = np.resize(self.first, cap)
        self.hashes[start:stop_all] = new
        self.first[start:stop_all] = -1
        self.n = stop_all
        if self.max_bits >= 0:
            i = start
            while i < stop_all:
                rows = max(1, min(stop_all - i, (8 << 20) // max(i, 1)))
                stop = i + rows
                # every earlier hash, this block's own earlier rows included
                close = np.bitwise_count(self.hashes[i:stop, None] ^ self.hashes[None, :stop]) <= self.max_bits
                close &= np.arange(stop)[None, :] < np.arange(i, stop)[:, None]
                has = close.any(axis=1)
                self.first[i:stop][has] = close[has].argmax(axis=1)
                i = stop
            for k in range(start, stop_all):  # earlier entries already point at roots
                j = self.first[k]
                if j >= 0 and self.first[j] >= 0:
                    self.first[k] = self.first[j]
        return self.first[start:stop_all].copy()


def near_duplicates(hashes: np.ndarray, max_bits: int) -> np.ndarray:
    """NearDuplicates over one array at once."""
    return NearDuplicates(max_bits).add(hashes)
