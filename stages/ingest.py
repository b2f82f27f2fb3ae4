"""Stage `ingest`: a source -> packed image shards (one per size), a manifest and a reject report (dataset/importer.py).

    python -m stages.ingest                                  # the source of params.yaml, into data/ingest/
    python -m stages.ingest --source dir:/photos --out /tmp/x  # any source by hand (no lock check)

The stage source is checked against source.lock.json (dataset/lock.py) first; metrics go to metrics/ingest.json.
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
from dataset.sources import open_source

OUT = Path("data/ingest")
METRICS = Path("metrics/ingest.json")


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
        lock = check_lock(params, LOCK)
    source = open_source(params, lock)
    out = Path(args.out)
    metrics = ingest(params, out, source, lock.get("files") if lock else None)
    write_json(args.metrics, {"ingest": metrics})
    print(
        f"ingest: {metrics['images']} images kept of {metrics['files']} files, {metrics['rejected']} rejected "
        f"(report: {out / 'rejects.csv'}), split {metrics['images_by_split']}, {metrics['images_per_s']} files/s"
    )


if __name__ == "__main__":
    run_main(main, "ingest")
