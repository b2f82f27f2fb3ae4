"""The pose sets on disk: what the `render` stage writes and the pose models read.

    data/render/
      stick.npy        uint8 [N, S, S, 3]  stick figures (RGB)
      projection.npy   uint8 [N, S, S]     3D-model projections (grey)
      sketch.npy       uint8 [N, S, S]     sketch targets (grey)
      drawn.npy        uint8 [N, S, S, 3]  hand-drawn-style figures (one colour; synth/pose/drawn.py)
      joints.npy       float32 [N, 11, 2]  the ground truth of all four: pixels, x right, y down, centres at integers;
                                           the drawn figures are scored by the one-colour rule (`split`)
      points3d.npy     float32 [N, 16, 3]  the body-frame 3D points (the 11 joints, then elbows, hips, nose)
      meta.csv         index, id, split, family, yaw, pitch, roll, distance
      info.json        size, counts, joint and stick names, the left/right rule, the generator's version
      sheet_<kind>.png 8 x 8 contact sheets

Rows are train, then val, then test. Sample i is drawn from its own generator, seeded by (seed, split, i), so any
sample can be re-drawn alone, and changing the test count never changes a training image. The drawn figure has a
generator of its own (seeded the same way plus a salt) and its own style per split (`render.drawn.train` for
training, `render.drawn.held_out` for validation and test), so its settings never change the other kinds.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.params import RenderParams
from synth.pose import figure as posegen
from synth.pose import skeleton
from synth.sheet import tile

VERSION = 2  # bump when a change to the renderer changes its images
SPLITS = ("train", "val", "test")
ONE_COLOUR = ("drawn",)  # kinds whose left and right follow the one-colour rule
_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}


DRAWN_SALT = 0xD4A


def sample_rng(seed: int, split: str, i: int, salt: int | None = None) -> np.random.Generator:
    return np.random.default_rng([seed, 0x9053, _SPLIT_SEED[split], i] + ([] if salt is None else [salt]))


def render_one(seed: int, split: str, i: int, p: RenderParams) -> tuple[dict, dict]:
    """(images and joints, metadata) of sample i of a split."""
    rng = sample_rng(seed, split, i)
    pose = skeleton.sample_pose(rng, str(rng.choice(p.families)))
    cam = skeleton.sample_camera(rng, p.max_yaw, p.back_view)
    style = p.drawn.train if split == "train" else p.drawn.held_out
    drawn = (style, sample_rng(seed, split, i, DRAWN_SALT))
    out = posegen.render_sample(pose, cam, p.size, p.supersample, rng, drawn)
    out["points3d"] = pose.points3d().astype(np.float32)
    meta = {
        "family": pose.family,
        "yaw": round(cam.yaw, 3),
        "pitch": round(cam.pitch, 3),
        "roll": round(cam.roll, 3),
        "distance": round(cam.distance, 3),
    }
    return out, meta


def _render_chunk(args: tuple[int, str, int, int, RenderParams]) -> tuple[dict[str, np.ndarray], list[dict]]:
    seed, split, start, stop, p = args
    n = stop - start
    s = p.size
    arrays = {
        "stick": np.empty((n, s, s, 3), np.uint8),
        "projection": np.empty((n, s, s), np.uint8),
        "sketch": np.empty((n, s, s), np.uint8),
        "drawn": np.empty((n, s, s, 3), np.uint8),
        "joints": np.empty((n, len(skeleton.JOINTS), 2), np.float32),
        "points3d": np.empty((n, len(skeleton.ALL_POINTS), 3), np.float32),
    }
    metas = []
    for k in range(n):
        out, meta = render_one(seed, split, start + k, p)
        for name, arr in arrays.items():
            arr[k] = out[name]
        metas.append(meta)
    return arrays, metas


def render_sets(p: RenderParams, seed: int, out: Path, workers: int = 0) -> dict:
    """Render every split into folder `out` (which must exist and be empty); returns the info written."""
    from core.pool import process_pool

    jobs = []
    for split in SPLITS:
        n = getattr(p.count, split)
        step = max(50, min(500, n // (4 * max(workers or os.cpu_count() or 1, 1)) or 1))
        jobs += [(seed, split, a, min(a + step, n), p) for a in range(0, n, step)]
    total = sum(getattr(p.count, s) for s in SPLITS)
    s = p.size
    files = {
        "stick": np.lib.format.open_memmap(out / "stick.npy", "w+", np.uint8, (total, s, s, 3)),
        "projection": np.lib.format.open_memmap(out / "projection.npy", "w+", np.uint8, (total, s, s)),
        "sketch": np.lib.format.open_memmap(out / "sketch.npy", "w+", np.uint8, (total, s, s)),
        "drawn": np.lib.format.open_memmap(out / "drawn.npy", "w+", np.uint8, (total, s, s, 3)),
        "joints": np.lib.format.open_memmap(out / "joints.npy", "w+", np.float32, (total, len(skeleton.JOINTS), 2)),
        "points3d": np.lib.format.open_memmap(
            out / "points3d.npy", "w+", np.float32, (total, len(skeleton.ALL_POINTS), 3)
        ),
    }
    base = {}
    row = 0
    for split in SPLITS:
        base[split] = row
        row += getattr(p.count, split)
    rows: list[dict] = [{} for _ in range(total)]
    workers = workers or (os.cpu_count() or 1)
    results = map(_render_chunk, jobs) if workers == 1 else None
    pool = None
    if results is None:
        pool = process_pool(workers, preload=["synth.pose.poseset"])
        results = pool.map(_render_chunk, jobs)
    try:
        for (sd, split, a, b, _), (arrays, metas) in zip(jobs, results):
            del sd
            lo = base[split] + a
            for name, arr in arrays.items():
                files[name][lo : lo + (b - a)] = arr
            for k, meta in enumerate(metas):
                rows[lo + k] = {"index": lo + k, "id": f"{split}-{a + k:06d}", "split": split, **meta}
    finally:
        if pool is not None:
            pool.shutdown()
    for arr in files.values():
        arr.flush()
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["index", "id", "split", "family", "yaw", "pitch", "roll", "distance"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (out / "meta.csv").write_text(buf.getvalue(), encoding="utf-8")
    info = {
        "version": VERSION,
        "size": s,
        "counts": {sp: getattr(p.count, sp) for sp in SPLITS},
        "joints": list(skeleton.JOINTS),
        "sticks": [list(st) for st in skeleton.STICKS],
        "points3d": list(skeleton.ALL_POINTS),
        "left_right": "left_* is the character's own left, whatever the camera (front view: the image's right)",
        "left_right_drawn": "drawn figures are read as facing the viewer: the arm whose shoulder is further right "
        "in the image is the left arm, the leg whose knee is further right the left leg",
        "coordinates": "pixels, x right, y down, pixel centres at integers",
    }
    (out / "info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    for kind in posegen.KINDS:
        contact_sheet(files[kind][:64], out / f"sheet_{kind}.png")
    return info


def contact_sheet(images: np.ndarray, path: Path, cols: int = 8, zoom: int = 2) -> None:
    import cv2

    sheet = tile(list(images), cols=cols, zoom=zoom)
    ok, png = cv2.imencode(".png", sheet[..., ::-1])
    if not ok:
        raise OSError(f"could not encode {path}")
    Path(path).write_bytes(png.tobytes())


@dataclass
class PoseSet:
    """The rendered pose sets, read back (memory-mapped) by split."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        try:
            self.info = json.loads((self.root / "info.json").read_text())
            with open(self.root / "meta.csv", newline="", encoding="utf-8") as f:
                self.meta = list(csv.DictReader(f))
        except (OSError, ValueError) as err:
            raise FileNotFoundError(f"{self.root}: no rendered pose set ({err}); run the render stage first") from None
        self.size = int(self.info["size"])

    def rows(self, split: str | None = None) -> np.ndarray:
        return np.array([int(r["index"]) for r in self.meta if split is None or r["split"] == split], np.int64)

    def array(self, name: str) -> np.ndarray:
        if name not in (*posegen.KINDS, "joints", "points3d"):
            raise ValueError(f"unknown pose-set array {name!r}")
        arr = np.load(self.root / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if len(arr) != len(self.meta):
            raise ValueError(f"{self.root}/{name}.npy has {len(arr)} rows, meta.csv {len(self.meta)}")
        return arr

    def split(self, split: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 [n, S, S, 3] (grey kinds repeated to 3 channels), joints float32 [n, 11, 2]); the drawn
        kind's joints follow the one-colour left/right rule (skeleton.canonical_left_right)."""
        idx = self.rows(split)
        x = np.asarray(self.array(kind)[idx[0] : idx[-1] + 1]) if len(idx) else np.zeros((0, self.size, self.size))
        if x.ndim == 3:
            x = np.repeat(x[..., None], 3, axis=3)
        y = np.asarray(self.array("joints")[idx[0] : idx[-1] + 1]) if len(idx) else np.zeros((0, 11, 2))
        return x, skeleton.canonical_left_right(y) if kind in ONE_COLOUR else y


def main() -> None:
    import argparse

    from core.params import load_params

    ap = argparse.ArgumentParser(description="Contact sheets of the rendered pose kinds (the docs' figures).")
    ap.add_argument("--contact-sheets", metavar="FOLDER", required=True, help="writes pose_<kind>.png there")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    p = params.render
    samples = [render_one(params.seed, "train", i, p)[0] for i in range(64)]
    out = Path(args.contact_sheets)
    out.mkdir(parents=True, exist_ok=True)
    for kind in posegen.KINDS:
        contact_sheet(np.stack([s[kind] for s in samples]), out / f"pose_{kind}.png")
        print(out / f"pose_{kind}.png")


if __name__ == "__main__":
    main()
