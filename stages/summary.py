"""Stage `summary`: the headline figures of the run, one small metrics file for `dvc exp show` and `dvc metrics diff`.

    python -m stages.summary      # metrics/summary.json from metrics/<stage>.json

metrics/summary.json = {summary: {<target key>: its test figure, targets, targets_met, targets_missed,
served_generator}}: the targets of core/headline.py (the same definitions the README's results table and each model
page's targets list are generated from), at most 40 figures. It is the only file dvc.yaml declares under `metrics:`;
the stages' full files stay beside it (`dvc metrics show metrics/dcgan.json`, `dvc metrics diff a b --targets
metrics/dcgan.json`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import BadInput, run_main
from core.headline import SUMMARY, Metrics, summary

STAGES = (  # every stage that writes metrics/<stage>.json (dvc.yaml lists the same files as this stage's deps)
    "ingest",
    "pixel_baseline",
    "tagger",
    "render",
    "pose_import",
    "pose",
    "label",
    "dcgan",
    "stylegan",
    "sr",
    "pose2sketch",
    "evaluate",
)
INPUTS = tuple(Path(f"metrics/{stage}.json") for stage in STAGES)
OUT = Path(f"metrics/{SUMMARY}.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", default=str(OUT.parent), help="the folder of the stages' metrics/<stage>.json")
    args = ap.parse_args()
    folder = Path(args.metrics)
    files = [folder / p.name for p in INPUTS]
    missing = [f.as_posix() for f in files if not f.is_file()]
    if missing:
        raise BadInput(f"no {', '.join(missing)} to summarise; run the stages that write them first (dvc repro)")
    doc = summary(Metrics(files=files))
    write_json(folder / OUT.name, {SUMMARY: doc})
    print(f"summary: {doc['targets_met']} of {doc['targets']} targets met; missed: {doc['targets_missed'] or 'none'}")


if __name__ == "__main__":
    run_main(main, "summary")
