"""The label stage's files (stages/label.py), computed from the parsed exports (labeling/labels.py), the disputes
(labeling/disputes.py) and the generated sets' own ground truth. Each function returns the file's text or its rows;
the stage writes them (and only when their content changes).

- `tag_rows` / `tags_csv`: one row per image id, the source's own tags with the annotators' consensus over them.
- `joint_items` / `joints_json`: the pose sets' ground truth plus the annotated poses (per-joint median), with a
  `visibility` list on an item where some joint is occluded or out of frame (an out-of-frame joint's coordinates
  are null).
- `report_json`: every problem found in the exports, the agreement of several annotators, the disputed tasks.
- `figures`: what metrics/label.json holds.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from core.names import GROUPS, VISIBILITY
from labeling.labels import VISIBLE, Parsed, consensus_joints, consensus_tags
from synth.pose.skeleton import JOINTS


def tag_rows(parsed: Parsed, disputed: dict, ingest: Path) -> dict[str, dict[str, str]]:
    """id -> {"source", <group>: value}: the ingest manifest's own tags (`ingest`: the ingest stage's output; none
    when it has no manifest), then the consensus of each undisputed annotated task over them."""
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
    return rows


def tags_csv(rows: dict[str, dict[str, str]], groups: dict[str, tuple[str, ...]]) -> str:
    """tags.csv: `id, source, <group>...`, sorted by id."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(groups)
    w.writerow(["id", "source", *names])
    for ref in sorted(rows):
        w.writerow([ref, rows[ref]["source"], *(rows[ref].get(g, "") for g in names)])
    return buf.getvalue()


def joint_items(parsed: Parsed, disputed: dict, render: Path) -> dict[str, dict]:
    """id -> {"source", "size", "joints"[, "visibility"]}: the pose sets' ground truth (`render`: the render stage's output; none
    when it has not run), then the consensus of each undisputed annotated pose."""
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
        j, vis = consensus_joints(anns)
        items[ref] = {"source": "label-studio", "size": list(anns[0].size), "joints": j.reshape(-1).tolist()}
        if set(vis) != {VISIBLE}:  # written only where a joint is not visible: older files stay byte for byte
            items[ref]["visibility"] = list(vis)
    return items


def joints_json(items: dict[str, dict]) -> str:
    """joints.json: the joint names and the items sorted by id, coordinates to 3 decimals (null for a joint out of
    frame), compact."""
    doc = {
        "joints": list(JOINTS),
        "items": [
            {"id": ref, **items[ref], "joints": [_coordinate(x) for x in items[ref]["joints"]]} for ref in sorted(items)
        ],
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"


def _coordinate(x: float) -> float | None:
    return round(float(x), 3) if math.isfinite(x) else None


def report_json(parsed: Parsed, agree: dict, disputed: dict) -> str:
    """report.json: the problems, the agreement (labeling/labels.agreement) and the disputed tasks by kind."""
    names_of = {"tags": lambda gs: gs, "pose": lambda js: [JOINTS[j] for j in js]}
    report = {
        "problems": parsed.problems,
        "agreement": agree,
        "disputed": {kind: {ref: names_of[kind](v) for ref, v in sorted(d.items())} for kind, d in disputed.items()},
    }
    return json.dumps(report, indent=1, sort_keys=True) + "\n"


def visibility_counts(items: dict[str, dict]) -> dict[str, int]:
    """How many joints of the annotated items (the consensus written to joints.json) are visible, occluded, out of
    frame."""
    counts = dict.fromkeys(VISIBILITY, 0)
    for item in items.values():
        if item.get("source") == "label-studio":
            for v in item.get("visibility", [VISIBLE] * len(JOINTS)):
                counts[v] += 1
    return counts


def figures(rows: dict, items: dict, parsed: Parsed, disputed: dict, agree: dict) -> dict:
    """metrics/label.json's figures."""
    return {
        "tag_rows": len(rows),
        "tag_rows_annotated": sum(r["source"] == "label-studio" for r in rows.values()),
        "joint_items": len(items),
        "joint_items_annotated": len(parsed.joints) - len(disputed["pose"]),
        "annotated_joints_by_visibility": visibility_counts(items),
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
