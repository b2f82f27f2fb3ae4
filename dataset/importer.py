"""Import the sources: their files -> packed image shards (one per size), a manifest, a reject report and a summary.

Every file is read once in a worker (dataset/decoding.py: process pool or Dask): sha256, decode (bad input is
rejected with a code and a reason, never a crash), face crop or square, perceptual hash, one resize per size, the
rows written straight into the shards; a content-addressed cache makes re-imports decode only new files. While the
workers go on, duplicates are dropped in source order, across sources too (dataset/dedup.py); then the last kept rows
fill the places of rejected ones (rows stay in source order but for those), images are grouped by character and
perceptual hash over every source, split by group, and the manifest is written in row order, each row naming its
source, its path there and its licence. The outputs appear together by one rename; an interrupted run
leaves the last good output.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from core.atomic import atomic_path, write_json
from core.errors import BadInput
from core.names import UNKNOWN
from core.params import Params
from dataset.decoding import DecodeSettings, decode_all
from dataset.dedup import Dedup
from dataset.layouts import display
from dataset.lock import verify_files
from dataset.manifest import ManifestRow, write_manifest
from dataset.rejects import Reject, count_by_code, describe, write_report
from dataset.shardfile import ShardWriter, fill_holes, shard_name
from dataset.sources import CACHE_DIR, Source
from dataset.split import SPLITS, assign_splits, group_ids

DECODE_CACHE = CACHE_DIR / "ingest"
WORKER_MODULES = ["dataset.decoding"]  # what the fork server imports once for the workers (core.pool.start_server)


def ingest(
    params: Params,
    out: Path,
    sources: list[Source],
    locked_files: list[dict[str, str] | None] | None = None,
    cache_root: Path | None = None,
) -> dict:
    """Build the ingest outputs of `sources` (in order: the first of two duplicates is kept) into `out` (replaced
    atomically). Returns the metrics.

    `locked_files` (per source, path -> sha256 from the source lock, None for a source pinned otherwise): the files
    read must be exactly these, else nothing is replaced and the user is told to re-lock. The decode cache lives in
    `cache_root` (default DECODE_CACHE) unless ingest.cache is false.
    """
    t0 = time.perf_counter()
    ip = params.ingest
    sizes = tuple(ip.sizes)
    settings = DecodeSettings.from_params(ip, (cache_root or DECODE_CACHE) if ip.cache else None)
    items = [it for src in sources for it in src.items]
    owner = [k for k, src in enumerate(sources) for _ in src.items]  # source index of each file
    specs = [sources[k].spec for k in owner]
    files = [(it.rel, str(it.path), it.crop) for it in items]  # the crop as its source settled it (open_source)
    problems = [replace(r, source=src.spec) for src in sources for r in src.problems]
    n = len(items)
    named = " + ".join(src.spec for src in sources)
    if n == 0 and problems:
        roots = ", ".join(str(src.root) for src in sources)
        raise BadInput(
            f"source {named}: nothing to import under {roots}; {len(problems)} left out: {describe(problems)}"
        )
    if n == 0:
        raise BadInput(f"source {named}: no image files found under {', '.join(str(src.root) for src in sources)}")
    with atomic_path(out, durable=False) as tmp:
        tmp.mkdir(parents=True)
        writers = {s: ShardWriter(tmp / shard_name(s), n, s) for s in sizes}
        dedup = Dedup(ip.near_duplicate_bits, specs)
        stream = decode_all(files, settings, ip, {s: str(w.path) for s, w in writers.items()})
        for i, d in enumerate(tqdm(stream, total=n, desc="ingest", unit="img", disable=None)):
            d.rel = display(d.rel)
            for s, img in zip(sizes, d.images):  # the rows that a worker did not write itself
                writers[s].write(i, img)
            d.images = ()  # the rows live in the shards now
            dedup.add(d)
        dedup.settle()
        decoded = dedup.decoded

        for k, src in enumerate(sources):
            if locked_files is not None and locked_files[k] is not None:
                read = {d.rel: d.sha256 for d, o in zip(decoded, owner) if o == k and d.sha256}
                verify_files(src, read, locked_files[k])
        if not dedup.keep:
            raise BadInput(f"source {named}: all {n} files were rejected: {describe(dedup.rejects)}")
        keep, moves = fill_holes(dedup.keep)
        for w in writers.values():
            w.move_rows(moves)
            w.finish(len(keep))

        kept = [items[i] for i in keep]
        ids = [decoded[i].sha256[:16] for i in keep]
        # one grouping over every source: a character or a perceptual hash that two sources share is one group
        groups = group_ids([it.character for it in kept], [decoded[i].phash for i in keep])
        keys = [f"c:{it.character}" if it.character else f"i:{id_}" for it, id_ in zip(kept, ids)]
        splits = assign_splits(keys, groups, ip.split.val, ip.split.test, params.seed)
        rows = [
            ManifestRow(
                id=id_,
                source=specs[i],
                path=display(it.rel),
                sha256=decoded[i].sha256,
                phash=decoded[i].phash,
                width=decoded[i].width,
                height=decoded[i].height,
                split=sp,
                group=g,
                character=it.character,
                tags=dict(it.tags),
                extra_tags=it.extra,
                licence=sources[owner[i]].licence,
            )
            for i, it, id_, g, sp in zip(keep, kept, ids, groups, splits)
        ]
        write_manifest(tmp / "manifest.csv", rows)
        rejects: list[Reject] = [*problems, *dedup.rejects]
        write_report(tmp / "rejects.csv", rejects)

        cache_hits = sum(d.cached for d in decoded)
        seconds = time.perf_counter() - t0
        split_counts = Counter(splits)
        unmapped = Counter(t for it in items for t in it.extra)
        by_source = _by_source(sources, owner, keep, rows, rejects)
        metrics = {
            "layout": "+".join(dict.fromkeys(src.layout for src in sources)),
            "files": n,
            "images": len(keep),
            "rejected": len(rejects),
            "rejected_by_reason": count_by_code(rejects),
            "images_by_split": {s: split_counts.get(s, 0) for s in SPLITS},
            "images_by_source": {spec: v["images"] for spec, v in by_source.items()},
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
                "source": named,
                "sizes": list(sizes),
                "licence": "; ".join(dict.fromkeys(src.licence for src in sources)),
                "sources": by_source,
                "unmapped_top": dict(unmapped.most_common(50)),
                **stable,
            },
        )
    for key in ("files", "tagged", "rejected", "layout", "licence"):  # the metrics layout: flat `<figure>_by_source`
        metrics[f"{key}_by_source"] = {spec: v[key] for spec, v in by_source.items()}
    return metrics


def _by_source(sources: list[Source], owner: list[int], keep: list[int], rows: list[ManifestRow], rejects) -> dict:
    """Per source spec: its layout, licence, files read, images kept, rejected, and kept images with any tag."""
    kept = Counter(owner[i] for i in keep)
    tagged = Counter(r.source for r in rows if any(v != UNKNOWN for v in r.tags.values()))
    refused = Counter(r.source for r in rejects)
    files = Counter(owner)
    return {
        src.spec: {
            "layout": src.layout,
            "licence": src.licence,
            "files": files.get(k, 0),
            "images": kept.get(k, 0),
            "tagged": tagged.get(src.spec, 0),
            "rejected": refused.get(src.spec, 0),
        }
        for k, src in enumerate(sources)
    }
