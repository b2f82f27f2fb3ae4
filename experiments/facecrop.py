"""The two face detectors of `ingest.crop` side by side: AnimeFace (no download) and the lbpcascade_animeface cascade.

    .venv/bin/python -m experiments.facecrop --cascade path/to/lbpcascade_animeface.xml [--count 200]

Test images we can make without downloading any: faces of the built-in generated set, each upscaled to a random size
(96-256 px) and pasted at a random place on a 384 px page of flat or noisy background, so the true face box is
known. Per detector: the share of pages where it finds a face, the share where the largest face it finds overlaps
the pasted face (its centre inside it), the time per page; between them: how often they agree (both miss, or both hit with IoU ≥
0.3 between their boxes). Writes experiments/results/facecrop-<profile>-<machine kind>.json (the profile of
params.yaml, whose `generated` section draws the faces).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from core.atomic import write_json
from experiments import ROOT, result_path


def iou(a, b) -> float:
    if a is None or b is None:
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / float(aw * ah + bw * bh - inter)


def centred_in(box, page_box) -> bool:
    """The detected box's centre lies inside the pasted face image (which is a face with hair and background: a
    detector's box is smaller than it, so IoU with it says little)."""
    if box is None:
        return False
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x, y, w, h = page_box
    return x <= cx <= x + w and y <= cy <= y + h and box[2] <= w * 1.2


def pages(count: int, seed: int):
    """(page uint8 [384, 384, 3], true face box) for `count` generated faces."""
    import cv2

    from core.params import load_params
    from synth.faces.render import render_index

    gp = load_params(ROOT / "params.yaml").generated
    rng = np.random.default_rng(seed)
    for i in range(count):
        face = render_index(i, seed, gp)[0]
        side = int(rng.integers(96, 257))
        face = cv2.resize(np.asarray(face), (side, side), interpolation=cv2.INTER_CUBIC)
        if rng.random() < 0.5:
            page = np.full((384, 384, 3), rng.integers(150, 256, 3), np.uint8)
        else:
            page = rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)
        x, y = (int(v) for v in rng.integers(0, 384 - side + 1, 2))
        page[y : y + side, x : x + side] = face
        yield page, (x, y, side, side)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cascade", required=True, help="lbpcascade_animeface.xml")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", help="default: experiments/results/facecrop-<profile>-<machine kind>.json")
    args = ap.parse_args()
    from core.params import CascadeParams, load_params
    from dataset.facecrop import detect_face, detect_face_animeface

    cp = CascadeParams(path=args.cascade)
    detectors = {"animeface": detect_face_animeface, "cascade": lambda img: detect_face(img, cp)}
    found = {k: [] for k in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    truth = []
    for page, box in pages(args.count, args.seed):
        truth.append(box)
        for name, fn in detectors.items():
            t0 = time.perf_counter()
            found[name].append(fn(page))
            seconds[name] += time.perf_counter() - t0
    n = len(truth)
    out = {"pages": n, "seed": args.seed, "images": "generated faces, 96-256 px, on 384 px pages"}
    for name in detectors:
        out[name] = {
            "found": round(sum(b is not None for b in found[name]) / n, 4),
            "on_the_face": round(sum(centred_in(b, t) for b, t in zip(found[name], truth)) / n, 4),
            "ms_per_page": round(1000 * seconds[name] / n, 2),
        }
    a, c = found["animeface"], found["cascade"]
    out["agreement"] = round(
        sum((x is None and y is None) or (x is not None and y is not None and iou(x, y) >= 0.3) for x, y in zip(a, c))
        / n,
        4,
    )
    write_json(args.out or result_path("facecrop", load_params(ROOT / "params.yaml").profile), out)
    print(f"facecrop: {out}")


if __name__ == "__main__":
    main()
