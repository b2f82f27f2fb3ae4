"""Stage `ingest`: a source -> packed image shards (one per size), a manifest and a reject report.

    python -m stages.ingest                                  # the source of params.yaml, into data/ingest/
    python -m stages.ingest --source dir:/photos --out /tmp/x  # any source by hand (no lock check)

Every file is read once in a worker process: sha256, decode (bad input is rejected with a reason, never a crash),
centre square, perceptual hash, one resize per size. The parent writes rows straight into memory-mapped shards, then
drops exact and near duplicates, groups by character and perceptual hash, splits by group, and compacts the shards
in place. Outputs appear together by one rename; an interrupted run leaves the last good output.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from dataset.attributes import GROUPS
from dataset.imageio import RejectedImage, center_square, decode_image, resize_square
from dataset.phash import near_duplicates, phash
from dataset.shards import ShardWriter, shard_name
from dataset.sources import MAX_FILE_BYTES, Source, open_source
from dataset.split import SPLITS, assign_splits, group_ids
from stages.source import LOCK, read_lock

OUT = Path("data/ingest")
METRICS = Path("metrics/ingest.json")


@dataclass
class Decoded:
    rel: str
    sha256: str = ""
    phash: int = 0
    width: int = 0
    height: int = 0
    images: tuple[np.ndarray, ...] = ()
    reject: str = ""


def decode_file(path: Path, rel: str, sizes: tuple[int, ...], max_pixels: int) -> Decoded:
    """Read, hash, decode, square and resize one file; any failure becomes a reject reason."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if st.st_size > MAX_FILE_BYTES:
            return Decoded(rel, reject=f"file too large: {st.st_size} bytes > {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except OSError as err:
        return Decoded(rel, reject=f"unreadable: {err.strerror or err}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        img = decode_image(data, max_pixels)
    except RejectedImage as err:
        return Decoded(rel, sha256=sha, reject=str(err))
    h, w = img.shape[:2]
    sq = center_square(img)
    return Decoded(rel, sha, phash(sq), w, h, tuple(resize_square(sq, s) for s in sizes))


def _decode_chunk(job: tuple[list[tuple[str, str]], tuple[int, ...], int]) -> list[Decoded]:
    files, sizes, max_pixels = job
    return [decode_file(Path(path), rel, sizes, max_pixels) for rel, path in files]


def _decoded_stream(source: Source, sizes: tuple[int, ...], max_pixels: int, workers: int, chunk: int = 32):
    """Decoded files in source order; a bounded number of chunks in flight keeps memory flat for any source size."""
    files = [(it.rel, str(it.path)) for it in source.items]
    jobs = [(files[i : i + chunk], sizes, max_pixels) for i in range(0, len(files), chunk)]
    if workers == 1:
        for job in jobs:
            yield from _decode_chunk(job)
        return
    with ProcessPoolExecutor(workers) as pool:
        window = workers * 4
        pending = [pool.submit(_decode_chunk, job) for job in jobs[:window]]
        next_job = len(pending)
        while pending:
            done = pending.pop(0).result()
            if next_job < len(jobs):
                pending.append(pool.submit(_decode_chunk, jobs[next_job]))
                next_job += 1
            yield from done


def ingest(params: Params, out: Path, source: Source, locked_files: dict[str, str] | None = None) -> dict:
    """Build the ingest outputs of `source` into `out` (replaced atomically). Returns the metrics.

    `locked_files` (rel -> sha256 from the source lock): the files read must be exactly these, else nothing is
    replaced and the user is told to re-lock.
    """
    t0 = time.perf_counter()
    ip = params.ingest
    sizes = tuple(ip.sizes)
    workers = ip.workers or os.cpu_count() or 1
    n = len(source.items)
    if n == 0:
        raise BadInput(f"source {source.spec}: no image files found under {source.root}")
    rejects: list[tuple[str, str]] = list(source.problems)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        writers = {s: ShardWriter(tmp / shard_name(s), n, s) for s in sizes}
        decoded: list[Decoded] = []
        for i, d in enumerate(
            tqdm(
                _decoded_stream(source, sizes, ip.max_pixels, workers), total=n, desc="ingest", unit="img", disable=None
            )
        ):
            for s, img in zip(sizes, d.images):
                writers[s].write(i, img)
            d.images = ()  # the rows live in the shards now
            decoded.append(d)
            if d.reject:
                rejects.append((d.rel, d.reject))

        if locked_files is not None:
            _verify_lock(source, decoded, locked_files)
        ok = [i for i, d in enumerate(decoded) if not d.reject]
        first_sha: dict[str, int] = {}
        unique = []
        for i in ok:
            prior = first_sha.setdefault(decoded[i].sha256, i)
            if prior != i:
                rejects.append((decoded[i].rel, f"exact duplicate of {decoded[prior].rel}"))
            else:
                unique.append(i)
        dup_of = near_duplicates(np.array([decoded[i].phash for i in unique], np.uint64), ip.near_duplicate_bits)
        keep = []
        for k, i in enumerate(unique):
            if dup_of[k] >= 0:
                j = unique[dup_of[k]]
                dist = int(np.bitwise_count(np.uint64(decoded[i].phash ^ decoded[j].phash)))
                rejects.append((decoded[i].rel, f"near duplicate of {decoded[j].rel} ({dist} bits)"))
            else:
                keep.append(i)
        if not keep:
            raise BadInput(f"source {source.spec}: all {n} files were rejected; see the reasons above")
        for w in writers.values():
            w.finish(np.array(keep))

        items = [source.items[i] for i in keep]
        ids = [decoded[i].sha256[:16] for i in keep]
        groups = group_ids([it.character for it in items], [decoded[i].phash for i in keep])
        keys = [f"c:{it.character}" if it.character else f"i:{id_}" for it, id_ in zip(items, ids)]
        splits = assign_splits(keys, groups, ip.split.val, ip.split.test, params.seed)

        manifest = io.StringIO()
        w = csv.writer(manifest, lineterminator="\n")
        w.writerow(
            [
                "id",
                "source",
                "path",
                "sha256",
                "phash",
                "width",
                "height",
                "split",
                "group",
                "character",
                *GROUPS,
                "extra_tags",
                "licence",
            ]
        )
        for i, it, id_, g, sp in zip(keep, items, ids, groups, splits):
            d = decoded[i]
            w.writerow(
                [
                    id_,
                    source.spec,
                    it.rel,
                    d.sha256,
                    f"{d.phash:016x}",
                    d.width,
                    d.height,
                    sp,
                    g,
                    it.character,
                    *(it.tags[gr] for gr in GROUPS),
                    json.dumps(it.extra),
                    source.licence,
                ]
            )
        (tmp / "manifest.csv").write_text(manifest.getvalue(), encoding="utf-8")

        report = io.StringIO()
        rw = csv.writer(report, lineterminator="\n")
        rw.writerow(["path", "reason"])
        rw.writerows(sorted(rejects))
        (tmp / "rejects.csv").write_text(report.getvalue(), encoding="utf-8")

        seconds = time.perf_counter() - t0
        split_counts = Counter(splits)
        reasons = Counter(r.split(":")[0].split(" of ")[0] for _, r in rejects)
        metrics = {
            "files": n,
            "images": len(keep),
            "rejected": len(rejects),
            "rejected_by_reason": dict(sorted(reasons.items())),
            "split": {s: split_counts.get(s, 0) for s in SPLITS},
            "groups": len(set(groups)),
            "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 1),
        }
        # Timings stay out of the DVC output: an unchanged input must give byte-identical outputs.
        stable = {k: v for k, v in metrics.items() if k not in ("seconds", "images_per_s")}
        write_json(
            tmp / "summary.json", {"source": source.spec, "sizes": list(sizes), "licence": source.licence, **stable}
        )
    return metrics


def check_lock(params: Params, lock_path: Path) -> None:
    """The committed lock must describe the source in params; `make lock` rewrites it."""
    from dataset.sources import compute_lock

    lock = read_lock(lock_path)
    if lock.get("spec") != params.ingest.source:
        raise BadInput(
            f"{lock_path} is for source {lock.get('spec')!r} but ingest.source is "
            f"{params.ingest.source!r}; run `make lock`"
        )
    if params.ingest.source == "generated" and lock != compute_lock(params):
        raise BadInput(f"{lock_path} is stale for the generated source (params or generator changed); run `make lock`")


def _verify_lock(source: Source, decoded: list[Decoded], locked: dict[str, str]) -> None:
    read = {d.rel: d.sha256 for d in decoded}
    images = {k: v for k, v in locked.items() if k not in ("tags.csv", "provenance.json")}
    changed = sorted(set(read) ^ set(images) | {k for k in read.keys() & images.keys() if read[k] != images[k]})
    if changed:
        raise BadInput(
            f"source {source.spec} changed since {LOCK} was written ({len(changed)} files differ, "
            f"e.g. {changed[0]!r}); run `make lock` and repeat"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--source", help="a source spec; overrides ingest.source and skips the lock check")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    if args.source:
        params = params.model_copy(update={"ingest": params.ingest.model_copy(update={"source": args.source})})
        params = type(params).model_validate(params.model_dump())  # validate the spec like any params value
    else:
        check_lock(params, LOCK)
    source = open_source(params)
    out = Path(args.out)
    locked = None if args.source else read_lock(LOCK).get("files")
    metrics = ingest(params, out, source, locked)
    write_json(args.metrics, {"ingest": metrics})
    print(
        f"ingest: {metrics['images']} images kept of {metrics['files']} files, {metrics['rejected']} rejected "
        f"(report: {out / 'rejects.csv'}), split {metrics['split']}, {metrics['images_per_s']} files/s"
    )


if __name__ == "__main__":
    run_main(main, "ingest")
