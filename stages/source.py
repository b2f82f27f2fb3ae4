"""Write the source locks (dataset/lock.py): per source of `ingest.sources`, its spec and what pins its content (a
DVC dependency of ingest), and the same for `label.pose_source` in pose_source.lock.json (of stage pose_import).

    python -m stages.source            # (make lock) rewrites a lock only when its source changed
    python -m stages.source --check    # exit 2 if a lock is stale

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
from stages.pose_import import LOCK as POSE_LOCK
from stages.pose_import import compute_pose_lock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--lock", default=str(LOCK))
    ap.add_argument("--check", action="store_true", help="only check; exit 2 when stale")
    ap.add_argument("--pose-lock", default=str(POSE_LOCK))
    args = ap.parse_args()
    params = load_params(args.params)
    for lock, path in ((compute_lock(params), Path(args.lock)), (compute_pose_lock(params), Path(args.pose_lock))):
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        name = " + ".join(e["spec"] for e in lock["sources"]) if "sources" in lock else lock["spec"] or "(none)"
        if old == lock:
            print(f"source: {name} unchanged")
            continue
        if args.check:
            raise BadInput(f"{path} is stale for source {name!r}; run `make lock`")
        write_json(path, lock)
        print(f"source: {name} locked -> {path}")


if __name__ == "__main__":
    run_main(main, "source")
