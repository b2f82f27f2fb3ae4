"""Stage `ingest`: the sources -> packed image shards (one per size), a manifest and a reject report
(dataset/importer.py).

    python -m stages.ingest                                  # the sources of params.yaml, into data/ingest/
    python -m stages.ingest --source dir:/photos --out /tmp/x  # any sources by hand (repeat --source; no lock check)

The stage's sources are checked against source.lock.json (dataset/lock.py) first; metrics go to metrics/ingest.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import run_main
from core.params import load_params
from core.pool import start_server
from dataset.importer import WORKER_MODULES, ingest
from dataset.lock import LOCK, check_lock
from dataset.sources import open_sources

OUT = Path("data/ingest")
METRICS = Path("metrics/ingest.json")


def main() -> None:
    start_server(WORKER_MODULES)  # in the background while params load and the source is listed
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument(
        "--source", action="append", help="a source spec (repeatable); replaces ingest.sources, skips the lock check"
    )
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    lock = None
    if args.source:
        raw = params.model_dump()
        raw["ingest"]["sources"] = [{"spec": spec} for spec in args.source]
        params = type(params).model_validate(raw)  # validate the specs like any params value
    else:
        lock = check_lock(params, LOCK)
    sources = open_sources(params, lock)
    out = Path(args.out)
    metrics = ingest(params, out, sources, [entry.get("files") for entry in lock] if lock else None)
    write_json(args.metrics, {"ingest": metrics})
    by_source = ", ".join(f"{spec} {n}" for spec, n in metrics["images_by_source"].items())
    print(
        f"ingest: {metrics['images']} images kept of {metrics['files']} files ({by_source}), {metrics['rejected']} "
        f"rejected (report: {out / 'rejects.csv'}), split {metrics['images_by_split']}, {metrics['images_per_s']} files/s"
    )


if __name__ == "__main__":
    run_main(main, "ingest")
