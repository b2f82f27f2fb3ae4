"""Write the source lock (dataset/lock.py): the spec of `ingest.source` and what pins its content (a DVC dependency
of ingest).

    python -m stages.source            # (make lock) rewrites source.lock.json only when the source changed
    python -m stages.source --check    # exit 2 if source.lock.json is stale

`make pipeline` runs this before `dvc repro`, so a changed source re-runs ingest and an unchanged one does not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.atomic import write_json
from core.errors import BadInput, run_main
from core.params import load_params
from dataset.lock import LOCK, compute_lock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--lock", default=str(LOCK))
    ap.add_argument("--check", action="store_true", help="only check; exit 2 when stale")
    args = ap.parse_args()
    lock = compute_lock(load_params(args.params))
    path = Path(args.lock)
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    if old == lock:
        print(f"source: {lock['spec']} unchanged")
        return
    if args.check:
        raise BadInput(f"{path} is stale for source {lock['spec']!r}; run `make lock`")
    write_json(path, lock)
    print(f"source: {lock['spec']} locked -> {path}")


if __name__ == "__main__":
    run_main(main, "source")
