"""Label Studio's result formats, written by the push (pre-annotations) and read back from its exports.

A keypoint is stored in percent of the image: a joint at pixel x (centres at integers) is at 100 * (x + 0.5) / width
percent; labeling/labels.py parses it back. An export is cut down (`normalise_export`) to what the `label` stage
reads, in a stable order, so that unchanged annotations give the same bytes.
"""

from __future__ import annotations

import json

import numpy as np

from core.names import JOINTS
from labeling import configs


def keypoint_results(joints: np.ndarray, size: int) -> list[dict]:
    """11 joints [11, 2] in pixels (centres at integers) -> Label Studio keypoint regions (percent of the image)."""
    joints = np.asarray(joints)
    assert joints.shape == (len(JOINTS), 2), joints.shape
    return [
        {
            "from_name": configs.POSE_CONTROL,
            "to_name": configs.POSE_IMAGE,
            "type": "keypointlabels",
            "original_width": size,
            "original_height": size,
            "value": {
                "x": float((x + 0.5) / size * 100),
                "y": float((y + 0.5) / size * 100),
                "width": 0.75,
                "keypointlabels": [name],
            },
        }
        for name, (x, y) in zip(JOINTS, joints)
    ]


def choice_results(values: dict[str, str]) -> list[dict]:
    """{group: value} -> one single-choice region per group that has a value."""
    return [
        {"from_name": g, "to_name": configs.TAG_IMAGE, "type": "choices", "value": {"choices": [v]}}
        for g, v in values.items()
        if v
    ]


def _clean_result(r: dict) -> dict:
    keep = ("from_name", "to_name", "type", "value", "original_width", "original_height")
    return {k: r[k] for k in keep if k in r}


def normalise_export(tasks: list[dict]) -> list[dict]:
    """Only what the label stage reads, in a stable order: tasks by ref_id, annotations by id, regions by label.

    Cancelled (skipped) annotations and tasks without an annotation are left out.
    """
    out = []
    for t in tasks:
        anns = []
        for a in t.get("annotations", []):
            if a.get("was_cancelled"):
                continue
            result = sorted(
                (_clean_result(r) for r in a.get("result", [])), key=lambda r: json.dumps(r, sort_keys=True)
            )
            anns.append({"id": a["id"], "completed_by": a.get("completed_by"), "result": result})
        if anns:
            out.append(
                {
                    "ref_id": str(t["data"].get("ref_id")),
                    "image": t["data"].get("image"),
                    "annotations": sorted(anns, key=lambda a: a["id"]),
                }
            )
    return sorted(out, key=lambda t: t["ref_id"])
