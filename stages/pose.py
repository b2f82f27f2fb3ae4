"""Stage `pose`: train posenet on the rendered pose sets and build the retrieval index over 3D-model projections
(models/pose/family.py).

    python -m stages.pose      # data/pose/ (bundle: posenet + index), metrics/pose.json, MLflow `posenet`

Posenet learns the 11 joints from the kinds in `pose.kinds`, with the annotated sketches (data/label/joints.json)
and annotated pictures of the pose source (data/pose_import) joining training by their split; the retrieval index
embeds 3D-model projections with posenet's pose embedding. The bundle (model.safetensors, config.json, index.npz,
index.json) is registered as a version of `anime-posenet` with alias `challenger`.
metrics/pose.json = {pose: {posenet: {...}, joints_embedding: {...}, floor: {...}}}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import run_main
from core.params import Params, load_params
from models.pose import family

RENDER = Path("data/render")  # the render stage's output (stages/render.OUT)
LABELS = Path("data/label/joints.json")  # the label stage's (stages/label.OUT)
IMPORTED = Path("data/pose_import")  # the pose_import stage's: the pose project's own source

OUT = Path("data/pose")
METRICS = Path("metrics/pose.json")
MODEL = family.MODEL


def run(params: Params, render_dir: Path, out: Path, labels: Path | None = LABELS, imported: Path = IMPORTED) -> dict:
    """Train, score, index, register. `labels`: the label stage's joints.json (None: the pose sets' truth only);
    `imported`: the pose_import stage's images, whose annotated ones join training or scoring by their split."""
    return family.stage(params, {"render": render_dir, "labels": labels, "imported": imported}, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(RENDER))
    ap.add_argument("--labels", default=str(LABELS), help="joints.json of the label stage ('': the truth only)")
    ap.add_argument("--imported", default=str(IMPORTED), help="the pose_import stage's output")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    labels = Path(args.labels) if args.labels else None
    metrics = run(params, Path(args.data), Path(args.out), labels, Path(args.imported))
    write_json(args.metrics, {"pose": metrics})
    print(f"pose: {family.summary(metrics)}")


if __name__ == "__main__":
    run_main(main, "pose")
