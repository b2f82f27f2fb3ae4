"""Stage `label`: the committed Label Studio exports plus the generated sets' ground truth -> label files. No network.

    python -m stages.label      # data/label/{tags.csv, joints.json, report.json}, metrics/label.json

- tags.csv: one row per image id (sorted): `id, source, <group>...`: the source's own tags (from the ingest manifest;
  `source` is its spec, `generated` for the built-in set) with the annotators' consensus over them, group by group:
  a human value overrides the source's for that group and adds one where the source had none; the row's `source`
  becomes `label-studio`. The tagger trains on this file.
- joints.json: `{"joints": [11 names], "items": [{"id", "source", "size": [w, h], "joints": [22 numbers]}]}`, sorted
  by id; the pose sets' ground truth (`render`) plus the annotated poses (the per-joint median of the annotators),
  pixels with centres at integers.
- Disputed tasks (labeling/disputes.py: a tag group without a strict majority, a joint whose median has no majority
  within `label.joint_tolerance`) are left out of both files until more annotations resolve them, and listed in
  the report; `labeling.sync push` asks for another annotation of each.
- report.json: every problem found in the exports (a missing, duplicated or outside joint, an unknown label or
  choice, a value of the wrong type or out of range, a task given twice: the task or annotation is left out, the
  rest is kept, nothing crashes), and the agreement of several annotators on one task:
  per-joint disagreement in pixels and Cohen's kappa per attribute group.

Files are written in a stable order and only when their content changes, so DVC re-runs downstream stages only when
labels really changed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from core.atomic import write_json, write_text
from core.errors import BadInput, run_main
from core.names import GROUPS
from core.params import Params, load_params
from labeling.configs import tag_groups
from labeling.disputes import disputed_refs
from labeling.labels import Parsed, agreement, consensus_joints, consensus_tags, parse_pose, parse_tags
from synth.pose.skeleton import JOINTS

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

    # tags: the generated set's own, then the annotators' consensus over them
    rows: dict[str, dict[str, str]] = {}
    if (ingest / "manifest.csv").exists():
        from dataset.shards import read_manifest

        for r in read_manifest(ingest):
            values = {g: r.get(g, "") for g in GROUPS}
            if any(values.values()):
                rows[r["id"]] = {"source": r.get("source") or "import", **values}
    for ref, anns in parsed.tags.items():
        if ref in disputed["tags"]:
            continue  # out of training until resolved; the source's own values stay
        base = {k: v for k, v in rows.get(ref, {}).items() if k != "source" and v}
        rows[ref] = {**base, **consensus_tags(anns), "source": "label-studio"}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(groups)
    w.writerow(["id", "source", *names])
    for ref in sorted(rows):
        w.writerow([ref, rows[ref]["source"], *(rows[ref].get(g, "") for g in names)])

    # joints: the pose sets' ground truth, then the annotated poses
    items: dict[str, dict] = {}
    if (render / "info.json").exists():
        from synth.pose.poseset import PoseSet

        ps = PoseSet(render)
        truth = np.asarray(ps.array("joints"))
        for m in ps.meta:
            j = truth[int(m["index"])]
            items[m["id"]] = {"source": "render", "size": [ps.size, ps.size], "joints": j.reshape(-1).tolist()}
    for ref, anns in parsed.joints.items():
        if ref in disputed["pose"]:
            continue
        j = consensus_joints(anns)
        items[ref] = {"source": "label-studio", "size": list(anns[0][2]), "joints": j.reshape(-1).tolist()}
    doc = {
        "joints": list(JOINTS),
        "items": [
            {"id": ref, **items[ref], "joints": [round(float(x), 3) for x in items[ref]["joints"]]}
            for ref in sorted(items)
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_if_changed(out / "tags.csv", buf.getvalue())
    _write_if_changed(out / "joints.json", json.dumps(doc, separators=(",", ":")) + "\n")
    agree = agreement(parsed, groups)
    names_of = {"tags": lambda gs: gs, "pose": lambda js: [JOINTS[j] for j in js]}
    report = {
        "problems": parsed.problems,
        "agreement": agree,
        "disputed": {kind: {ref: names_of[kind](v) for ref, v in sorted(d.items())} for kind, d in disputed.items()},
    }
    _write_if_changed(out / "report.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
    return {
        "tag_rows": len(rows),
        "tag_rows_annotated": sum(r["source"] == "label-studio" for r in rows.values()),
        "joint_items": len(items),
        "joint_items_annotated": len(parsed.joints) - len(disputed["pose"]),
        "tag_tasks_disputed": len(disputed["tags"]),
        "pose_tasks_disputed": len(disputed["pose"]),
        "problems": len(parsed.problems),
        "kappa_by_group": agree["kappa"],
        "joint_disagreement_px_mean": (
            round(float(np.mean(list(agree["joint_disagreement_px"].values()))), 3)
            if agree["joint_disagreement_px"]
            else None
        ),
    }


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
