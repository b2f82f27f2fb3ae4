"""Stage `ingest`: a source -> packed image shards (one per size), a manifest and a reject report.

    python -m stages.ingest                                  # the source of params.yaml, into data/ingest/
    python -m stages.ingest --source dir:/photos --out /tmp/x  # any source by hand (no lock check)

Every file is read once in a worker (dataset/decoding.py: process pool or Dask): sha256, decode (bad input is
rejected with a reason, never a crash), face crop or square, perceptual hash, one resize per size, the rows written
straight into the shards; a content-addressed cache makes re-imports decode only new files. While the workers go on,
the parent drops exact and near duplicates in source order; then the last kept rows fill the places of rejected
ones (rows stay in source order but for those), and it groups by character and perceptual hash, splits by group and
writes the manifest in row order. Outputs appear together by
one rename; an interrupted run leaves the last good output.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from core.pool import start_server
from dataset.attributes import GROUPS
from dataset.decoding import Decoded, DecodeSettings, decode_all
from dataset.layouts import display
from dataset.phash import NearDuplicates
from dataset.shardfile import ShardWriter, fill_holes, shard_name
from dataset.sources import CACHE_DIR, Source, open_source
from dataset.split import SPLITS, assign_splits, group_ids
from stages.source import LOCK, read_lock

OUT = Path("data/ingest")
METRICS = Path("metrics/ingest.json")
DECODE_CACHE = CACHE_DIR / "ingest"


def ingest(
    params: Params,
    out: Path,
    source: Source,
    locked_files: dict[str, str] | None = None,
    cache_root: Path | None = None,
) -> dict:
    """Build the ingest outputs of `source` into `out` (replaced atomically). Returns the metrics.

        `locked_files` (path -> sha256 from the source lock): the files read must be exactly these, else nothing is
        replaced and the user is told to re-lock. The decode cache lives in `cache_root` (default DECODE_CACHE) unless
    ingest.cache is false.
    """
    t0 = time.perf_counter()
    ip = params.ingest
    sizes = tuple(ip.sizes)
    settings = DecodeSettings.from_params(ip, (cache_root or DECODE_CACHE) if ip.cache else None)
    files = [(it.rel, str(it.path), it.crop if ip.crop == "auto" else ip.crop) for it in source.items]
    n = len(source.items)
    if n == 0:
        raise BadInput(f"source {source.spec}: no image files found under {source.root}")
    rejects: list[tuple[str, str]] = list(source.problems)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        writers = {s: ShardWriter(tmp / shard_name(s), n, s) for s in sizes}
        decoded: list[Decoded] = []
        keep: list[int] = []
        dedup = _Dedup(ip.near_duplicate_bits, decoded, keep, rejects)
        stream = decode_all(files, settings, ip, {s: str(w.path) for s, w in writers.items()})
        for i, d in enumerate(tqdm(stream, total=n, desc="ingest", unit="img", disable=None)):
            d.rel = display(d.rel)
            for s, img in zip(sizes, d.images):  # the rows that a worker did not write itself
                writers[s].write(i, img)
            d.images = ()  # the rows live in the shards now
            decoded.append(d)
            dedup.pending += 1
            if dedup.pending >= 256:
                dedup.settle()  # while the workers go on
        dedup.settle()

        if locked_files is not None:
            _verify_lock(source, decoded, locked_files)
        cache_hits = sum(d.cached for d in decoded)
        if not keep:
            raise BadInput(f"source {source.spec}: all {n} files were rejected; see the reasons above")
        keep, moves = fill_holes(keep)
        for w in writers.values():
            w.move_rows(moves)
            w.finish(len(keep))

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
                    display(it.rel),
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
        reasons = Counter(r.split(":")[0].split(" of ")[0].split(" (")[0] for _, r in rejects)
        unmapped = Counter(t for it in source.items for t in it.extra)
        metrics = {
            "layout": source.layout,
            "files": n,
            "images": len(keep),
            "rejected": len(rejects),
            "rejected_by_reason": dict(sorted(reasons.items())),
            "split": {s: split_counts.get(s, 0) for s in SPLITS},
            "groups": len(set(groups)),
            "unmapped_tags": sum(unmapped.values()),
            "decoded": n - cache_hits,
            "cache_hits": cache_hits,
            "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 1),
        }
        # Timings and cache counts stay out of the DVC output: an unchanged input gives byte-identical outputs.
        stable = {k: v for k, v in metrics.items() if k not in ("seconds", "images_per_s", "decoded", "cache_hits")}
        write_json(
            tmp / "summary.json",
            {
                "source": source.spec,
                "sizes": list(sizes),
                "licence": source.licence,
                "unmapped_top": dict(unmapped.most_common(50)),
                **stable,
            },
        )
    return metrics


class _Dedup:
    """Drops exact (sha256) and near (pHash) duplicates in source order as results arrive, while the workers go on."""

    def __init__(self, max_bits: int, decoded: list[Decoded], keep: list[int], rejects: list[tuple[str, str]]):
        self.decoded, self.keep, self.rejects = decoded, keep, rejects
        self.near = NearDuplicates(max_bits)
        self.first_sha: dict[str, int] = {}
        self.unique: list[int] = []  # source index of each hash given to `near`
        self.done = 0
        self.pending = 0

    def settle(self) -> None:
        batch = range(self.done, len(self.decoded))
        self.done, self.pending = len(self.decoded), 0
        fresh = []
        for i in batch:
            d = self.decoded[i]
            if d.reject:
                self.rejects.append((d.rel, d.reject))
                continue
            prior = self.first_sha.setdefault(d.sha256, i)
            if prior != i:
                self.rejects.append((d.rel, f"exact duplicate of {self.decoded[prior].rel}"))
            else:
                fresh.append(i)
        if not fresh:
            return
        dup_of = self.near.add(np.array([self.decoded[i].phash for i in fresh], np.uint64))
        self.unique.extend(fresh)
        for i, root in zip(fresh, dup_of):
            if root >= 0:
                j = self.unique[root]
                dist = int(np.bitwise_count(np.uint64(self.decoded[i].phash ^ self.decoded[j].phash)))
                self.rejects.append((self.decoded[i].rel, f"near duplicate of {self.decoded[j].rel} ({dist} bits)"))
            else:
                self.keep.append(i)


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
    """Every image file listed now must be in the lock, every locked image must still be there, hashes equal."""
    listed = {display(r) for r in source.listed}
    images = {k for k in locked if k in listed or Path(k).suffix.lower() not in (".csv", ".json", ".txt")}
    changed = set(listed) ^ images
    changed |= {d.rel for d in decoded if d.sha256 and locked.get(d.rel) != d.sha256}
    changed = sorted(changed)
    if changed:
        raise BadInput(
            f"source {source.spec} changed since {LOCK} was written ({len(changed)} files differ, "
            f"e.g. {changed[0]!r}); run `make lock` and repeat"
        )


WORKER_MODULES = ["dataset.decoding"]  # what the fork server imports once for the workers


def main() -> None:
    start_server(WORKER_MODULES)  # in the background while params load and the source is listed
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--source", help="a source spec; overrides ingest.source and skips the lock check")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    lock = None
    if args.source:
        params = params.model_copy(update={"ingest": params.ingest.model_copy(update={"source": args.source})})
        params = type(params).model_validate(params.model_dump())  # validate the spec like any params value
    else:
        check_lock(params, LOCK)
        lock = read_lock(LOCK)
    source = open_source(params, lock)
    out = Path(args.out)
    locked = lock.get("files") if lock else None
    metrics = ingest(params, out, source, locked)
    write_json(args.metrics, {"ingest": metrics})
    print(
        f"ingest: {metrics['images']} images kept of {metrics['files']} files, {metrics['rejected']} rejected "
        f"(report: {out / 'rejects.csv'}), split {metrics['split']}, {metrics['images_per_s']} files/s"
    )


if __name__ == "__main__":
    run_main(main, "ingest")
