"""Annotated poses for posenet: `data/label/joints.json` (the `label` stage) joined to the pose sets.

An item with `source` `label-studio` whose id is a pose-set id is a sketch an annotator gave 11 joints to (the
pose project receives the pose sets' sketches). Its joints are scaled from the annotated image's size to the pose
set's; it keeps its pose-set split: annotated training sketches join posenet's training (models/pose/train.py,
`pose.label_weight`), annotated validation and test sketches are scored (`pck_0_05_annotated`), never trained on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def annotated_sets(joints_json: str | os.PathLike[str], ps) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split, (sketch images uint8 [M, S, S, 3], annotated joints float32 [M, 11, 2] in pose-set pixels)."""
    try:
        doc = json.loads(Path(joints_json).read_text(encoding="utf-8"))
        items = [i for i in doc["items"] if i.get("source") == "label-studio"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{joints_json}: not the label stage's joints.json ({err})") from None
    row_of = {m["id"]: (int(m["index"]), m["split"]) for m in ps.meta}
    picked: dict[str, list[tuple[int, np.ndarray]]] = {"train": [], "val": [], "test": []}
    for item in items:
        if item["id"] not in row_of:
            continue  # an image from outside the pose sets
        row, split = row_of[item["id"]]
        w, h = item["size"]
        joints = np.asarray(item["joints"], np.float32).reshape(11, 2)
        joints = (joints + 0.5) * np.array([ps.size / w, ps.size / h], np.float32) - 0.5  # pixel centres at integers
        picked[split].append((row, joints))
    sketches = ps.array("sketch")
    out = {}
    for split, rows in picked.items():
        if not rows:
            out[split] = (np.zeros((0, ps.size, ps.size, 3), np.uint8), np.zeros((0, 11, 2), np.float32))
            continue
        rows.sort(key=lambda r: r[0])
        x = np.stack([np.asarray(sketches[r]) for r, _ in rows])
        if x.ndim == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        out[split] = (x, np.stack([j for _, j in rows]))
    return out
