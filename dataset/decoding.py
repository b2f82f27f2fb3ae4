"""The per-file work of ingest and the executors that spread it: read, hash, decode, crop, pHash, resize.

Each file is read once: its sha256 keys a content-addressed cache (`.cache/ingest/<settings digest>/`, outside
the DVC outputs), so a re-import decodes only new or changed files. Workers run in a process pool (default) or on
a Dask cluster (`ingest.executor: dask`); either way a bounded number of chunks is in flight, so memory stays flat
whatever the source size, and results come back in source order.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.params import CascadeParams, IngestParams
from dataset.facecrop import apply_crop, check_cascade
from dataset.imageio import RejectedImage, decode_image, resize_square
from dataset.phash import phash

DECODER_VERSION = "decode-1"  # bump when decoding or resizing changes: invalidates the cache
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
    reject: str = ""
    cached: bool = False


@dataclass(frozen=True)
class DecodeSettings:
    sizes: tuple[int, ...]
    max_pixels: int
    cascade: CascadeParams
    cache_dir: str  # "" = no cache

    @classmethod
    def from_params(cls, ip: IngestParams, cache_root: Path | None) -> DecodeSettings:
        base = cls(tuple(ip.sizes), ip.max_pixels, ip.cascade, "")
        if cache_root is None:
            return base
        digest = hashlib.sha256(
            json.dumps([DECODER_VERSION, base.sizes, base.max_pixels, ip.cascade.model_dump()], sort_keys=True).encode()
        ).hexdigest()[:16]
        return cls(base.sizes, base.max_pixels, base.cascade, str((cache_root / digest).resolve()))


def _cache_path(s: DecodeSettings, sha: str, crop: str) -> Path:
    return Path(s.cache_dir) / sha[:2] / f"{sha}-{crop}.npz"


def _cache_load(path: Path, rel: str, sha: str, s: DecodeSettings) -> Decoded | None:
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            images = tuple(np.array(z[f"s{size}"]) for size in s.sizes) if not meta["reject"] else ()
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache entry is just a miss
    return Decoded(rel, sha, int(meta["phash"]), meta["width"], meta["height"], images, meta["reject"], cached=True)


def _cache_store(path: Path, d: Decoded, s: DecodeSettings) -> None:
    meta = json.dumps({"phash": d.phash, "width": d.width, "height": d.height, "reject": d.reject}).encode()
    arrays = {f"s{size}": img for size, img in zip(s.sizes, d.images)}
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(meta, np.uint8), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def decode_file(path: Path, rel: str, crop: str, s: DecodeSettings) -> Decoded:
    """One file -> its rows per size, or a reject reason. Never raises for bad input."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return Decoded(rel, reject="symbolic link not followed")
        if not stat.S_ISREG(st.st_mode):
            return Decoded(rel, reject="not a regular file")  # a FIFO or device would block or never end
        if st.st_size > MAX_FILE_BYTES:
            return Decoded(rel, reject=f"file too large: {st.st_size} bytes > {MAX_FILE_BYTES}")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return Decoded(rel, reject=f"unreadable: {err.strerror or err}")
    sha = hashlib.sha256(data).hexdigest()
    cpath = _cache_path(s, sha, crop) if s.cache_dir else None
    if cpath is not None and cpath.exists():
        hit = _cache_load(cpath, rel, sha, s)
        if hit is not None:
            return hit
    try:
        img = decode_image(data, s.max_pixels)
        h, w = img.shape[:2]
        sq = apply_crop(img, crop, s.cascade)
        d = Decoded(rel, sha, phash(sq), w, h, tuple(resize_square(sq, size) for size in s.sizes))
    except RejectedImage as err:
        d = Decoded(rel, sha256=sha, reject=str(err))
    if cpath is not None:
        try:
            _cache_store(cpath, d, s)
        except OSError:
            pass  # a full or read-only cache disk slows re-imports down, nothing more
    return d


def decode_chunk(files: list[tuple[str, str, str]], s: DecodeSettings) -> list[Decoded]:
    cv2.setNumThreads(1)  # one process per core already; nested threads only fight
    return [decode_file(Path(path), rel, crop, s) for rel, path, crop in files]


def decode_all(files: list[tuple[str, str, str]], s: DecodeSettings, ip: IngestParams) -> Iterator[Decoded]:
    """Decoded files in the order given; `files` are (rel, path, crop mode)."""
    if any(crop == "cascade" for _, _, crop in files):
        check_cascade(s.cascade)
    workers = ip.workers or os.cpu_count() or 1
    jobs = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    if ip.executor == "dask":
        yield from _dask(jobs, s, ip, workers)
    elif workers == 1:
        for job in jobs:
            yield from decode_chunk(job, s)
    else:
        yield from _processes(jobs, s, workers)


def _windowed(submit, jobs, window: int) -> Iterator[Decoded]:
    pending = [submit(job) for job in jobs[:window]]
    nxt = len(pending)
    while pending:
        done = pending.pop(0).result()
        if nxt < len(jobs):
            pending.append(submit(jobs[nxt]))
            nxt += 1
        yield from done


def _processes(jobs, s: DecodeSettings, workers: int) -> Iterator[Decoded]:
    from core.pool import process_pool

    with process_pool(workers) as pool:
        yield from _windowed(lambda job: pool.submit(decode_chunk, job, s), jobs, workers * 4)


def _dask(jobs, s: DecodeSettings, ip: IngestParams, workers: int) -> Iterator[Decoded]:
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
        yield from _windowed(lambda job: client.submit(decode_chunk, job, s, pure=False), jobs, n * 4)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
