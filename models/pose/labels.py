"""Annotated poses for posenet: `data/label/joints.json` (the `label` stage) joined to the pose sets and to the pose
project's own source (stage pose_import: `imported_sets`, each image keeping the split of its manifest).

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


def _annotated_items(joints_json: str | os.PathLike[str]) -> list[dict]:
    try:
        doc = json.loads(Path(joints_json).read_text(encoding="utf-8"))
        return [i for i in doc["items"] if i.get("source") == "label-studio"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{joints_json}: not the label stage's joints.json ({err})") from None


def _scaled(item: dict, size: int) -> np.ndarray:
    """The item's joints [11, 2] scaled from the annotated image's size to `size` (pixel centres at integers)."""
    w, h = item["size"]
    joints = np.asarray(item["joints"], np.float32).reshape(11, 2)
    return (joints + 0.5) * np.array([size / w, size / h], np.float32) - 0.5


def _by_split(picked: dict[str, list[tuple[int, np.ndarray]]], images, size: int) -> dict:
    out = {}
    for split, rows in picked.items():
        if not rows:
            out[split] = (np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 11, 2), np.float32))
            continue
        rows.sort(key=lambda r: r[0])
        x = np.stack([np.asarray(images[r]) for r, _ in rows])
        if x.ndim == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        out[split] = (x, np.stack([j for _, j in rows]))
    return out


def annotated_sets(joints_json: str | os.PathLike[str], ps) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split, (sketch images uint8 [M, S, S, 3], annotated joints float32 [M, 11, 2] in pose-set pixels)."""
    row_of = {m["id"]: (int(m["index"]), m["split"]) for m in ps.meta}
    picked: dict[str, list[tuple[int, np.ndarray]]] = {"train": [], "val": [], "test": []}
    for item in _annotated_items(joints_json):
        if item["id"] in row_of:  # else an image from outside the pose sets
            row, split = row_of[item["id"]]
            picked[split].append((row, _scaled(item, ps.size)))
    return _by_split(picked, ps.array("sketch"), ps.size)


def imported_sets(joints_json: str | os.PathLike[str], import_dir: Path, size: int) -> dict:
    """The same for the pose project's own source (stage pose_import): per split of its manifest, (images uint8
    [M, size, size, 3], annotated joints [M, 11, 2] in `size` pixels). Empty when there is no such source."""
    picked: dict[str, list[tuple[int, np.ndarray]]] = {"train": [], "val": [], "test": []}
    shard = import_dir / f"images_{size}.npy"
    if not (import_dir / "manifest.csv").exists() or not shard.exists():
        return _by_split(picked, None, size)
    from dataset.shards import read_manifest

    row_of = {r["id"]: (i, r["split"]) for i, r in enumerate(read_manifest(import_dir))}
    for item in _annotated_items(joints_json):
        if item["id"] in row_of:
            row, split = row_of[item["id"]]
            picked[split].append((row, _scaled(item, size)))
    return _by_split(picked, np.load(shard, mmap_mode="r"), size)
