"""Stage `label`: the committed Label Studio exports plus the generated sets' ground truth -> label files. No network.

    python -m stages.label      # data/label/{tags.csv, joints.json, report.json}, metrics/label.json

- tags.csv: one row per image id (sorted): `id, source, <group>...`: the source's own tags (from the ingest manifest;
  `source` is its spec, `generated` for the built-in set) with the annotators' consensus over them, group by group:
  a human value overrides the source's for that group and adds one where the source had none; the row's `source`
  becomes `label-studio`. The tagger trains on this file.
- joints.json: `{"joints": [11 names], "items": [{"id", "source", "size": [w, h], "joints": [22 numbers]}]}`, sorted
  by id; the pose sets' ground truth (`render`) plus the annotated poses (the per-joint median of the annotators),
  pixels with centres at integers. An annotated item with a joint occluded or out of frame also has `visibility`
  (11 of visible / occluded / out_of_frame); an out-of-frame joint's two numbers are null. Without it, all visible.
- Disputed tasks (labeling/disputes.py: a tag group without a strict majority, a joint whose median has no majority
  within `label.joint_tolerance`) are left out of both files until more annotations resolve them, and listed in
  the report; `labeling.sync push` asks for another annotation of each.
- report.json: every problem found in the exports (a missing, duplicated or outside joint, an unknown label or
  choice, a value of the wrong type or out of range, a task given twice: the task or annotation is left out, the
  rest is kept, nothing crashes), and the agreement of several annotators on one task:
  per-joint disagreement in pixels and Cohen's kappa per attribute group; and per annotator (`by_annotator`,
  labeling/annotators.py): their annotations, and their agreement with the others' consensus on shared tasks.

Files are written in a stable order and only when their content changes, so DVC re-runs downstream stages only when
labels really changed. This module reads the exports and writes; labeling/files.py computes the files' content.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.atomic import write_json, write_text
from core.errors import BadInput, run_main
from core.params import Params, load_params
from labeling.annotators import annotator_figures, by_annotator
from labeling.configs import tag_groups
from labeling.disputes import disputed_refs
from labeling.files import figures, joint_items, joints_json, report_json, tag_rows, tags_csv
from labeling.labels import Parsed, agreement, parse_pose, parse_tags

EXPORTS = Path("labeling/exports")
INGEST = Path("data/ingest")  # the ingest stage's output
RENDER = Path("data/render")  # the render stage's output
OUT = Path("data/label")
METRICS = Path("metrics/label.json")


def _load_export(path: Path):
    """The export's JSON as written (labeling/labels.py checks its shape: a bad task is a problem row, not a crash)."""
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        msg = f"{path}: not a readable export ({err}); pull it again with `python -m labeling.sync pull`"
        raise BadInput(msg) from None


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_text(path, text)


def run(params: Params, exports: Path, ingest: Path, render: Path, out: Path) -> dict:
    groups = tag_groups(params.label.extra_groups)
    parsed = Parsed()
    parse_pose(_load_export(exports / "pose.json"), parsed)
    parse_tags(_load_export(exports / "tags.json"), groups, parsed)
    disputed = disputed_refs(parsed, params.label.joint_tolerance)
    rows = tag_rows(parsed, disputed, ingest)  # the generated set's own tags, then the annotators' consensus
    items = joint_items(parsed, disputed, render)  # the pose sets' ground truth, then the annotated poses
    out.mkdir(parents=True, exist_ok=True)
    _write_if_changed(out / "tags.csv", tags_csv(rows, groups))
    _write_if_changed(out / "joints.json", joints_json(items))
    agree = agreement(parsed, groups)
    team = by_annotator(parsed, groups)  # each annotator against the others (labeling/annotators.py)
    _write_if_changed(out / "report.json", report_json(parsed, {**agree, "by_annotator": team}, disputed))
    return {**figures(rows, items, parsed, disputed, agree), "annotators": annotator_figures(team)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--exports", default=str(EXPORTS))
    ap.add_argument("--ingest", default=str(INGEST))
    ap.add_argument("--render", default=str(RENDER))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    m = run(params, Path(args.exports), Path(args.ingest), Path(args.render), Path(args.out))
    write_json(args.metrics, {"label": m})
    print(
        f"label: {m['tag_rows']} tag rows ({m['tag_rows_annotated']} annotated), {m['joint_items']} joint items "
        f"({m['joint_items_annotated']} annotated), {m['problems']} problems (data/label/report.json)"
    )


if __name__ == "__main__":
    run_main(main, "label")
