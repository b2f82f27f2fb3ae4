"""Stage `render`: the OpenCV pose sets (stick figures, 3D-model projections, sketch targets, hand-drawn-style
figures, joint ground truth).

    python -m stages.render      # data/render/ (see synth/pose/poseset.py), metrics/render.json

Poses are sampled within the joint-angle limits of synth/pose/skeleton.py from the families in `render.families`, each
seen from a camera within `render.max_yaw` degrees of the front (or, for a `render.back_view` share, of the back).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from core.atomic import atomic_path, write_json
from core.errors import run_main
from core.params import load_params
from synth.pose.figure import KINDS
from synth.pose.poseset import PoseSet, render_sets

OUT = Path("data/render")
METRICS = Path("metrics/render.json")


def run(params, out: Path, workers: int | None = None) -> dict:
    p = params.render
    t0 = time.perf_counter()
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        info = render_sets(p, params.seed, tmp, workers if workers is not None else p.workers)
    seconds = time.perf_counter() - t0
    ps = PoseSet(out)
    total = sum(info["counts"].values())
    return {
        "poses": total,
        "poses_by_split": info["counts"],
        "images": len(KINDS) * total,
        "size": info["size"],
        "poses_by_family": dict(sorted(Counter(r["family"] for r in ps.meta).items())),
        "back_views": sum(abs(float(r["yaw"])) > 90 for r in ps.meta),
        "seconds": round(seconds, 2),
        "poses_per_s": round(total / max(seconds, 1e-9), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = run(params, Path(args.out))
    write_json(args.metrics, {"render": metrics})
    print(
        f"render: {metrics['poses']} poses x ({', '.join(KINDS)}) at {metrics['size']} px in "
        f"{metrics['seconds']} s ({metrics['poses_per_s']} poses/s) -> {args.out}/"
    )


if __name__ == "__main__":
    run_main(main, "render")
