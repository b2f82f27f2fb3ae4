"""Perceptual hashes (64-bit DCT pHash) and the near-duplicate search over them."""

from __future__ import annotations

import cv2
import numpy as np


def phash(img: np.ndarray) -> int:
    """64-bit perceptual hash of an RGB image [H, W, 3]: sign of the 8x8 low DCT frequencies against their median."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.packbits(bits).view(">u8")[0])


def near_duplicates(hashes: np.ndarray, max_bits: int, block: int = 2048) -> np.ndarray:
    """For each hash, the index of the first earlier hash within `max_bits` Hamming distance, else -1.

    `hashes` is uint64 [N]; the first of a cluster is kept, every later member points at a kept one. Blocked
    O(N^2 / block) vectorised comparisons: about a second for 60k hashes.
    """
    n = len(hashes)
    first = np.full(n, -1, np.int64)
    if max_bits < 0 or n == 0:
        return first
    hashes = hashes.astype(np.uint64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = hashes[start:stop]
        # Compare against every earlier hash, this block included (strictly earlier index only).
        dist = np.bitwise_count(rows[:, None] ^ hashes[None, :stop])
        close = dist <= max_bits
        idx = np.arange(start, stop)
        close &= np.arange(stop)[None, :] < idx[:, None]
        has = close.any(axis=1)
        first[start:stop][has] = close[has].argmax(axis=1)
    # Point at a kept image: follow chains (a -> b -> c) to their root.
    for i in range(n):
        j = first[i]
        if j >= 0 and first[j] >= 0:
            first[i] = first[j]
    return first
