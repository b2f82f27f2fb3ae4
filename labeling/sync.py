"""Sync with Label Studio, outside the DAG: push images as tasks (with model pre-annotations), pull annotations.

    python -m labeling.sync push     # (make label-sync runs push then pull)
    python -m labeling.sync pull     # labeling/exports/{pose,tags}.json, stable: unchanged annotations, same bytes
    python -m labeling.sync pull --allow-removal   # write the server's state even where it drops annotations
    python -m labeling.sync restore  # a fresh or reset server gets the projects, tasks and annotations back

Server: `LABEL_STUDIO_URL` (default http://127.0.0.1:8080) or `--url`; token: `LABEL_STUDIO_API_KEY` or
`.labelstudio.env`; the folder the server serves local files from: `LABEL_STUDIO_DOCUMENT_ROOT` (default `data/`,
as `make labelstudio` serves it; task images are written under its `labeling/`). Models: the MLflow registry of core/tracking.py (`MLFLOW_TRACKING_URI`).
Exit codes: 0 done; 75 Label Studio is down or not answering (within 10 s), the MLflow tracking server is down, or
another run holds the checkout's run lock past `--wait` seconds; 2 a bad token, bad input, or a pull or push
refused because the server does not hold what the committed exports do (labeling/pull.py says what is checked).

The committed exports are the record of the annotators' work (labeling/record.py): a pull never drops or silently
changes an annotation they hold, a push never starts a new project on a server that lost the recorded one, and
`restore` (labeling/restore.py) brings a fresh server back to the record. Every command takes the checkout's run
lock (core/runlock.py) that the flows take, or inherits it from the flow that runs it: two syncs, or a sync and a
pipeline run, never interleave.

Push is idempotent: the projects are found by title (created with labeling/pose.xml and tags.xml otherwise, their
configs kept current), a local-files storage covers each project's image folder under `data/labeling/`, and an
image already imported (same `ref_id`) is never imported again. New tasks are imported most uncertain first (the
order Label Studio shows them), so annotators label what teaches the models most:

- pose: the pictures of the pose project's own source first (`label.pose_source`, stage pose_import), then the
  pose sets' sketches (train split), `label.pose_tasks` per push in all; uncertainty = the spread of the champion
  posenet's heatmaps; pre-annotated with its 11 joints, `model_version` `anime-posenet/<version>`.
- tags: the ingested images (`label.tag_tasks` per push; unlabelled ones first), uncertainty = 1 - the champion
  tagger's mean top probability (tags_auto.csv); pre-annotated with its values, `model_version`
  `anime-tagger/<version>`.

`label.order: random` offers a uniform sample instead of the most uncertain (experiments/active_learning.py compares them).
No registered model (or no `champion` alias) yet: tasks go in without pre-annotations.

The work is in labeling/: client.py (the server, projects, storages), candidates.py (what to push, its
uncertainty, the champions' guesses), formats.py (Label Studio's result formats), record.py (the committed record),
push.py, pull.py and restore.py.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from core.errors import Transient, run_main
from core.params import load_params
from core.runlock import Busy, lock_path, run_lock
from labeling.client import connect
from labeling.pull import pull
from labeling.push import push
from labeling.restore import restore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["push", "pull", "restore"])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--url", default=None, help="the Label Studio server (default: LABEL_STUDIO_URL)")
    ap.add_argument(
        "--allow-removal",
        action="store_true",
        help="pull: write the server's state even where it lacks annotations the exports hold (removes them)",
    )
    ap.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the run lock (default 300)")
    args = ap.parse_args()
    params = load_params(args.params)
    srv = connect(args.url)
    docs = Path(os.environ.get("LABEL_STUDIO_DOCUMENT_ROOT") or "data")
    try:
        with run_lock(lock_path(Path.cwd()), what=f"label sync {args.command}", wait_seconds=args.wait):
            if args.command == "push":
                result = push(srv, params, docs)
            elif args.command == "pull":
                result = pull(srv, allow_removal=args.allow_removal)
            else:
                result = restore(srv, params, docs)
    except Busy as err:
        raise Transient(f"{err}: the checkout's run lock stayed taken for {args.wait:.0f} s; retry later") from None
    print(json.dumps({args.command: result}, sort_keys=True))


if __name__ == "__main__":
    run_main(main, "label-sync")
