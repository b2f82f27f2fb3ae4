"""The ingest decode cache: what decoding a file gave, keyed by the file's sha256 and the crop mode.

Lives in `.cache/ingest/<settings digest>/` (outside the DVC outputs; the digest covers the decoder version, sizes,
pixel limit and cascade settings, so a change there starts a new cache). Entries are written in *packs*, one file per
chunk of work, because creating one small file per image cost more than decoding the PNG on this disk:

    pack = entry* index
    entry = u32 meta length, meta JSON {phash, width, height, reject_code, reject}, raw uint8 rows of each size in order
    index = JSON {key: [offset, length]}, u64 index length, MAGIC

A pack appears by rename when complete; a pack with a bad trailer is ignored and a bad entry is a miss, so a damaged
cache only costs time. Delete the folder to reclaim the space; nothing else reads it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

MAGIC = b"ANIPACK1"
TRAILER = 8 + len(MAGIC)
MAX_INDEX_BYTES = 64 << 20


class PackCache:
    """One process's view of a cache folder: the index of every complete pack, plus the packs it writes."""

    def __init__(self, root: str | os.PathLike[str], sizes: tuple[int, ...]):
        self.root, self.sizes = Path(root), sizes
        self.row_bytes = [s * s * 3 for s in sizes]
        self.index: dict[str, tuple[str, int, int]] = {}
        self.seen: set[str] = set()
        self.mtime_ns = -1
        self.refresh()

    def refresh(self) -> None:
        """Read the index of every pack not read yet (packs written since by other workers included); one stat when
        the folder has not changed."""
        try:
            mtime = self.root.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self.mtime_ns:
            return
        self.mtime_ns = mtime
        for pack in self.root.glob("*.pack"):
            if pack.name in self.seen:
                continue
            self.seen.add(pack.name)
            try:
                with open(pack, "rb") as f:
                    f.seek(-TRAILER, os.SEEK_END)
                    tail = f.read(TRAILER)
                    if tail[8:] != MAGIC:
                        continue
                    n = int.from_bytes(tail[:8], "little")
                    if not 0 < n <= MAX_INDEX_BYTES:
                        continue
                    f.seek(-TRAILER - n, os.SEEK_END)
                    entries = json.loads(f.read(n))
                for key, (offset, length) in entries.items():
                    self.index[key] = (pack.name, int(offset), int(length))
            except (OSError, ValueError, TypeError):
                continue  # a damaged pack is ignored: its files are decoded again

    def get(self, key: str) -> tuple[dict, tuple[np.ndarray, ...]] | None:
        hit = self.index.get(key)
        if hit is None:
            return None
        name, offset, length = hit
        try:
            with open(self.root / name, "rb") as f:
                f.seek(offset)
                data = f.read(length)
            n = int.from_bytes(data[:4], "little")
            meta = json.loads(data[4 : 4 + n])
            images: tuple[np.ndarray, ...] = ()
            if not meta["reject_code"]:
                flat = np.frombuffer(data, np.uint8, offset=4 + n)
                if flat.size != sum(self.row_bytes):
                    return None
                parts, at = [], 0
                for size, nbytes in zip(self.sizes, self.row_bytes):
                    parts.append(flat[at : at + nbytes].reshape(size, size, 3))
                    at += nbytes
                images = tuple(parts)
            return meta, images
        except (OSError, KeyError, ValueError, TypeError):
            return None  # a damaged entry is just a miss

    def put_many(self, entries: list[tuple[str, dict, tuple[np.ndarray, ...]]]) -> None:
        """Write one pack holding `entries` (key, meta, rows). Errors (a full disk) are swallowed: only speed is lost."""
        if not entries:
            return
        name = f"{time.time_ns():x}-{os.getpid()}.pack"
        tmp = self.root / f".{name}.tmp"
        index: dict[str, list[int]] = {}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                at = 0
                for key, meta, images in entries:
                    blob = json.dumps(meta).encode()
                    start = at
                    f.write(len(blob).to_bytes(4, "little") + blob)
                    at += 4 + len(blob)
                    for img in images:
                        f.write(np.ascontiguousarray(img).data)
                        at += img.nbytes
                    index[key] = [start, at - start]
                blob = json.dumps(index).encode()
                f.write(blob + len(blob).to_bytes(8, "little") + MAGIC)
            os.replace(tmp, self.root / name)
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        self.seen.add(name)
        for key, (offset, length) in index.items():
            self.index[key] = (name, offset, length)


_OPEN: dict[str, PackCache] = {}


def open_cache(root: str, sizes: tuple[int, ...]) -> PackCache:
    """The process-wide PackCache of `root` (a worker reads the pack indices once, then only new packs)."""
    cache = _OPEN.get(root)
    if cache is None or cache.sizes != sizes:
        cache = _OPEN[root] = PackCache(root, sizes)
    else:
        cache.refresh()
    return cache
