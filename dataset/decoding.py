"""The per-file work of ingest and the executors that spread it: read, hash, decode, crop, pHash, resize.

Each file is read once: its sha256 keys a content-addressed cache (`.cache/ingest/<settings digest>/`, outside
the DVC outputs), so a re-import decodes only new or changed files. Workers run in a process pool (default) or on
a Dask cluster (`ingest.executor: dask`); either way a bounded number of chunks is in flight, so memory stays flat
whatever the source size, and results come back in source order.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.hashing import file_digest
from dataset.decodecache import open_cache
from dataset.facecrop import Cascade, apply_crop, check_cascade
from dataset.imageio import RejectedImage, decode_image, resize_square
from dataset.phash import phash
from dataset.shardfile import write_rows

if TYPE_CHECKING:
    from core.params import IngestParams

DECODER_VERSION = "decode-4"  # bump when decoding, resizing or the cached entry changes: invalidates the cache
MAX_FILE_BYTES = 256 << 20  # no single image file is read past this
CHUNK = 32  # files per task


@dataclass
class Decoded:
    rel: str
    sha256: str = ""
    phash: int = 0
    width: int = 0
    height: int = 0
    images: tuple[np.ndarray, ...] = ()
    reject_code: str = ""  # a dataset/rejects.py CODES key; "" = decoded
    reject: str = ""  # the reason, for people
    cached: bool = False


@dataclass(frozen=True)
class DecodeSettings:
    sizes: tuple[int, ...]
    max_pixels: int
    cascade: Cascade
    cache_dir: str  # "" = no cache

    @classmethod
    def from_params(cls, ip: IngestParams, cache_root: Path | None) -> DecodeSettings:
        base = cls(tuple(ip.sizes), ip.max_pixels, Cascade.of(ip.cascade), "")
        if cache_root is None:
            return base
        cascade = asdict(base.cascade)
        path = Path(cascade.pop("path"))  # the detector's bytes matter, not where the file lies
        cascade["sha256"] = file_digest(path) if path.is_file() else ""
        digest = hashlib.sha256(
            json.dumps([DECODER_VERSION, base.sizes, base.max_pixels, cascade], sort_keys=True).encode()
        ).hexdigest()[:16]
        return cls(base.sizes, base.max_pixels, base.cascade, str((cache_root / digest).resolve()))


def read_file(path: Path, rel: str) -> tuple[bytes | None, Decoded | None]:
    """The bytes of a regular file, or a Decoded reject (links, FIFOs, devices, oversized, unreadable).

    Opened without following a link and without blocking (a FIFO would wait for a writer forever), checked on the
    open descriptor (no swap between check and read), read to its size: about 10 us for a small file, where
    `f.read(limit)` spent 90 us allocating the limit."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, Decoded(rel, reject_code="symlink", reject="symbolic link not followed")
        return None, Decoded(rel, reject_code="unreadable", reject=f"unreadable: {err.strerror or err}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, Decoded(rel, reject_code="not_a_regular_file", reject="not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            return None, Decoded(
                rel, reject_code="file_too_large", reject=f"file too large: {st.st_size} bytes > {MAX_FILE_BYTES}"
            )
        parts, want = [], min(st.st_size, MAX_FILE_BYTES) + 1  # one byte more: a file that grew is still seen
        while want > 0:
            part = os.read(fd, want)
            if not part:
                break
            parts.append(part)
            want -= len(part)
        data = b"".join(parts) if len(parts) != 1 else parts[0]
        if len(data) > MAX_FILE_BYTES:
            return None, Decoded(
                rel, reject_code="file_too_large", reject=f"file too large: over {MAX_FILE_BYTES} bytes"
            )
        return data, None
    except OSError as err:
        return None, Decoded(rel, reject_code="unreadable", reject=f"unreadable: {err.strerror or err}")
    finally:
        os.close(fd)


def decode_bytes(data: bytes, rel: str, sha: str, crop: str, s: DecodeSettings) -> Decoded:
    """Bytes -> the rows per size, or a reject reason. Never raises for bad input."""
    try:
        img = decode_image(data, s.max_pixels)
        h, w = img.shape[:2]
        sq = apply_crop(img, crop, s.cascade)
        return Decoded(rel, sha, phash(sq), w, h, tuple(resize_square(sq, size) for size in s.sizes))
    except RejectedImage as err:
        return Decoded(rel, sha256=sha, reject_code=err.code, reject=err.reason)


def decode_chunk(
    start: int, files: list[tuple[str, str, str]], s: DecodeSettings, shards: dict[int, str] | None = None
) -> list[Decoded]:
    """Files `start`, `start + 1`, ... (rel, path, crop): read, hash, then the cache or a decode.

    With `shards` (size -> .npy path, on a disk this worker shares), rows are written straight into row
    `start + k` of each shard and only the metadata travels back."""
    cv2.setNumThreads(1)  # one process per core already; nested threads only fight
    cache = open_cache(s.cache_dir, s.sizes) if s.cache_dir else None
    out: list[Decoded] = []
    fresh = []
    for rel, path, crop in files:
        data, bad = read_file(Path(path), rel)
        if bad is not None:
            out.append(bad)
            continue
        sha = hashlib.sha256(data).hexdigest()
        key = f"{sha}-{crop}"
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            meta, images = hit
            out.append(
                Decoded(
                    rel,
                    sha,
                    int(meta["phash"]),
                    meta["width"],
                    meta["height"],
                    images,
                    meta["reject_code"],
                    meta["reject"],
                    cached=True,
                )
            )
            continue
        d = decode_bytes(data, rel, sha, crop, s)
        out.append(d)
        fresh.append(
            (
                key,
                {
                    "phash": d.phash,
                    "width": d.width,
                    "height": d.height,
                    "reject_code": d.reject_code,
                    "reject": d.reject,
                },
                d.images,
            )
        )
    if cache is not None:
        cache.put_many(fresh)
    if shards:
        for j, size in enumerate(s.sizes):
            write_rows(shards[size], size, [(start + k, d.images[j]) for k, d in enumerate(out) if d.images])
        for d in out:
            d.images = ()
    return out


def decode_all(
    files: list[tuple[str, str, str]], s: DecodeSettings, ip: IngestParams, shards: dict[int, str] | None = None
) -> Iterator[Decoded]:
    """Decoded files in the order given; `files` are (rel, path, crop mode).

    With `shards`, workers on this machine write the rows into them and the Decoded come back without images;
    a remote Dask cluster (`ingest.dask_address`) always sends the rows back, since it may not share this disk.
    """
    if any(crop == "cascade" for _, _, crop in files):
        check_cascade(s.cascade)
    workers = ip.workers or os.cpu_count() or 1
    jobs = [(i, files[i : i + CHUNK]) for i in range(0, len(files), CHUNK)]
    if ip.executor == "dask":
        yield from _dask(jobs, s, ip, workers, None if ip.dask_address else shards)
    elif workers == 1:
        for start, job in jobs:
            yield from decode_chunk(start, job, s)
    else:
        yield from _processes(jobs, s, workers, shards)


def _windowed(submit, jobs, window: int) -> Iterator[Decoded]:
    pending = [submit(job) for job in jobs[:window]]
    nxt = len(pending)
    while pending:
        done = pending.pop(0).result()
        if nxt < len(jobs):
            pending.append(submit(jobs[nxt]))
            nxt += 1
        yield from done


def _processes(jobs, s: DecodeSettings, workers: int, shards) -> Iterator[Decoded]:
    from core.pool import process_pool

    with process_pool(workers, preload=[__name__]) as pool:
        yield from _windowed(lambda job: pool.submit(decode_chunk, *job, s, shards), jobs, workers * 4)


def _dask(jobs, s: DecodeSettings, ip: IngestParams, workers: int, shards) -> Iterator[Decoded]:
    from dask.distributed import Client, LocalCluster

    from core.errors import Transient

    cluster = None
    try:
        if ip.dask_address:
            client = Client(ip.dask_address, timeout="10s")
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
            )
            client = Client(cluster)
    except OSError as err:
        raise Transient(f"ingest.dask_address {ip.dask_address}: no Dask scheduler answered ({err})") from None
    try:
        n = max(1, len(client.scheduler_info()["workers"]))
        yield from _windowed(lambda job: client.submit(decode_chunk, *job, s, shards, pure=False), jobs, n * 4)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
