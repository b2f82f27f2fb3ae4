"""The shard files without torch (workers import this): the .npy header, the writer, row writes, the manifest
reader (dataset/manifest.py writes it).

Layout: one `.npy` per size, uint8 [N, S, S, 3] (RGB), with a fixed 128-byte header so that the row count can be
rewritten in place after compaction. Row i of every shard and line i of `manifest.csv` (dataset/manifest.py)
describe the same image.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

HEADER_LEN = 128  # bytes; fixed so the row count can be rewritten in place after compaction


def shard_name(size: int) -> str:
    return f"images_{size}.npy"


def _header(n: int, size: int) -> bytes:
    d = {"descr": "|u1", "fortran_order": False, "shape": (n, size, size, 3)}
    body = b"\x93NUMPY\x01\x00"
    text = repr(d).encode("latin1")
    pad = HEADER_LEN - len(body) - 2 - len(text) - 1
    assert pad >= 0
    return body + (HEADER_LEN - len(body) - 2).to_bytes(2, "little") + text + b" " * pad + b"\n"


class ShardWriter:
    """Writes rows [S, S, 3] into a preallocated .npy on disk, compacts it in place (`move_rows`), `finish` cuts it.

    Rows go in with pwrite at their offset (`write_rows` does the same from a worker process): a memory map costs
    a page fault per 4 KiB on first touch, which on this VM doubled the time to fill a shard."""

    def __init__(self, path: str | os.PathLike[str], capacity: int, size: int):
        self.path, self.capacity, self.size = Path(path), capacity, size
        self.row_bytes = size * size * 3
        with open(self.path, "wb") as f:
            f.write(_header(capacity, size))
            f.truncate(HEADER_LEN + capacity * self.row_bytes)

    def write(self, i: int, img: np.ndarray) -> None:
        write_rows(str(self.path), self.size, [(i, img)])

    def move_rows(self, moves: list[tuple[int, int]]) -> None:
        """Copy row src to row dst for each (src, dst), in order, with dst < src (see fill_holes).

        Consecutive runs move as blocks of up to 16 MiB (read whole, then written lower)."""
        moves = [(a, b) for a, b in moves if a != b]
        if not moves:
            return
        rb = self.row_bytes
        block = max(1, (16 << 20) // rb)
        fd = os.open(self.path, os.O_RDWR)
        try:
            k = 0
            while k < len(moves):
                src, dst = moves[k]
                assert dst < src, (src, dst)
                m = 1
                while k + m < len(moves) and m < block and moves[k + m] == (src + m, dst + m):
                    m += 1
                os.pwrite(fd, os.pread(fd, m * rb, HEADER_LEN + src * rb), HEADER_LEN + dst * rb)
                k += m
        finally:
            os.close(fd)

    def finish(self, rows: int) -> None:
        """Keep the first `rows` rows (move_rows put them there): rewrite the header, cut the file."""
        fd = os.open(self.path, os.O_RDWR)
        try:
            os.pwrite(fd, _header(rows, self.size), 0)
            os.ftruncate(fd, HEADER_LEN + rows * self.row_bytes)
        finally:
            os.close(fd)


def fill_holes(keep: list[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """Compaction with the fewest row moves: rows `keep` (ascending) of a shard are kept; the kept rows at or past
    row len(keep) move into the rejected rows' places below it, in order. Returns (the source row of each final
    row, the (src, dst) moves): only as many rows move as were rejected below len(keep), not every row after the
    first reject."""
    n = len(keep)
    kept_low = {i for i in keep if i < n}
    holes = [p for p in range(n) if p not in kept_low]
    high = [i for i in keep if i >= n]
    assert len(holes) == len(high)
    order = list(range(n))
    for p, i in zip(holes, high):
        order[p] = i
    return order, list(zip(high, holes))


def write_rows(path: str, size: int, rows: list[tuple[int, np.ndarray]]) -> None:
    """Write rows (index, uint8 [size, size, 3]) into a shard made by ShardWriter; safe from any process on the same
    disk, since every row has its own bytes."""
    rb = size * size * 3
    fd = os.open(path, os.O_WRONLY)
    try:
        for i, img in rows:
            assert img.shape == (size, size, 3) and img.dtype == np.uint8, img.shape
            os.pwrite(fd, np.ascontiguousarray(img).data, HEADER_LEN + i * rb)
    finally:
        os.close(fd)


def read_manifest(root: str | os.PathLike[str]) -> list[dict[str, str]]:
    with open(Path(root) / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
