"""Annotated poses for posenet: `data/label/joints.json` (the `label` stage) joined to the pose sets and to the pose
project's own source (stage pose_import: `imported_sets`, each image keeping the split of its manifest).

An item with `source` `label-studio` whose id is a pose-set id is a sketch an annotator gave 11 joints to (the
pose project receives the pose sets' sketches). Its joints are scaled from the annotated image's size to the pose
set's; it keeps its pose-set split: annotated training sketches join posenet's training (models/pose/train.py,
`pose.label_weight`), annotated validation and test sketches are scored (`pck_0_05_annotated`), never trained on.

Each set carries the joints' visibility (the item's `visibility`, all visible without one) as codes, the index in
core/names.VISIBILITY (VISIBLE, OCCLUDED, OUT_OF_FRAME): a joint out of frame has NaN coordinates (no target,
not scored); an occluded one keeps its estimated point. An item with no joint in frame is left out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from core.names import VISIBILITY

VISIBLE, OCCLUDED, OUT_OF_FRAME = range(len(VISIBILITY))  # the codes of the sets' visibility arrays


def _annotated_items(joints_json: str | os.PathLike[str]) -> list[tuple[dict, np.ndarray]]:
    """The label-studio items of the file, each with its visibility codes [11]."""
    try:
        doc = json.loads(Path(joints_json).read_text(encoding="utf-8"))
        return [(i, _visibility(i)) for i in doc["items"] if i.get("source") == "label-studio"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{joints_json}: not the label stage's joints.json ({err})") from None


def _scaled(item: dict, size: int) -> np.ndarray:
    """The item's joints [11, 2] scaled from the annotated image's size to `size` (pixel centres at integers); NaN
    where the file has null (out of frame)."""
    w, h = item["size"]
    joints = np.array([np.nan if v is None else v for v in item["joints"]], np.float32).reshape(11, 2)
    return (joints + 0.5) * np.array([size / w, size / h], np.float32) - 0.5


def _visibility(item: dict) -> np.ndarray:
    """The item's visibility codes [11] (uint8)."""
    names = item.get("visibility", [VISIBILITY[VISIBLE]] * 11)
    if not isinstance(names, list) or len(names) != 11 or not all(v in VISIBILITY for v in names):
        raise ValueError(f"item {item['id']!r}: visibility {names!r:.80} is not 11 of {list(VISIBILITY)}")
    return np.array([VISIBILITY.index(v) for v in names], np.uint8)


def _picked(items: list[tuple[dict, np.ndarray]], row_of: dict[str, tuple[int, str]], size: int) -> dict:
    """Per split, [(image row, joints [11, 2], visibility [11])] of the items whose id is in `row_of`."""
    picked: dict[str, list[tuple]] = {"train": [], "val": [], "test": []}
    for item, vis in items:
        if item["id"] not in row_of:  # an image from elsewhere
            continue
        if (vis == OUT_OF_FRAME).all():  # nothing to learn, nothing to score
            continue
        row, split = row_of[item["id"]]
        picked[split].append((row, _scaled(item, size), vis))
    return picked


def _by_split(picked: dict[str, list[tuple]], images, size: int) -> dict:
    out = {}
    for split, rows in picked.items():
        if not rows:
            out[split] = (
                np.zeros((0, size, size, 3), np.uint8),
                np.zeros((0, 11, 2), np.float32),
                np.zeros((0, 11), np.uint8),
            )
            continue
        rows.sort(key=lambda r: r[0])
        x = np.stack([np.asarray(images[r[0]]) for r in rows])
        if x.ndim == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        out[split] = (x, np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows]))
    return out


def annotated_sets(joints_json: str | os.PathLike[str], ps) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per split, (sketch images uint8 [M, S, S, 3], annotated joints float32 [M, 11, 2] in pose-set pixels,
    visibility codes uint8 [M, 11])."""
    row_of = {m["id"]: (int(m["index"]), m["split"]) for m in ps.meta}
    picked = _picked(_annotated_items(joints_json), row_of, ps.size)
    return _by_split(picked, ps.array("sketch"), ps.size)


def imported_sets(joints_json: str | os.PathLike[str], import_dir: Path, size: int) -> dict:
    """The same for the pose project's own source (stage pose_import): per split of its manifest, (images uint8
    [M, size, size, 3], annotated joints [M, 11, 2] in `size` pixels, visibility [M, 11]). Empty when there is no
    such source."""
    shard = import_dir / f"images_{size}.npy"
    if not (import_dir / "manifest.csv").exists() or not shard.exists():
        return _by_split({"train": [], "val": [], "test": []}, None, size)
    from dataset.shards import read_manifest

    row_of = {r["id"]: (i, r["split"]) for i, r in enumerate(read_manifest(import_dir))}
    picked = _picked(_annotated_items(joints_json), row_of, size)
    return _by_split(picked, np.load(shard, mmap_mode="r"), size)
