"""Stage `pose`: train posenet on the rendered pose sets and build the retrieval index over 3D-model projections.

    python -m stages.pose      # data/pose/ (bundle: posenet + index), metrics/pose.json, MLflow `posenet`

- posenet (models/pose/net.py) learns the 11 joints from the kinds in `pose.kinds` (stick figures, sketches,
  projections and hand-drawn-style figures by default), mixed; `pck_0_05` per kind on validation and test (the drawn
  figures labelled and scored by the one-colour left/right rule: docs/pose.md). Annotated sketches and annotated
  pictures of the pose source (data/label/joints.json, data/pose_import: models/pose/labels.py) join training by
  their split; held-out ones are scored (`pck_0_05_annotated`, `pck_0_05_imported`).
- The retrieval index embeds 3D-model projections from the images alone (posenet's learned pose embedding) in
  scikit-learn NearestNeighbors; `retrieval_top1` on validation and test and the other figures are
  models/pose/evaluate.py's. metrics/pose.json = {pose: {posenet: {...}, joints_embedding: {...}, floor: {...}}}.
- One MLflow run (experiment `posenet`) with the figures, a per-joint error plot and a grid of test predictions; the
  bundle (model.safetensors, config.json, index.npz, index.json) is registered as a version of `anime-posenet` with
  alias `challenger`; the evaluate stage scores it against the champion and moves `champion`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.names import POSE_KINDS
from core.params import Params, load_params
from models.metrics.pck import pck
from models.pose.evaluate import evaluate, log_figures
from models.pose.labels import annotated_sets, imported_sets
from models.pose.net import predict
from models.pose.train import train_posenet
from models.promote import promote
from synth.pose.poseset import PoseSet

RENDER = Path("data/render")  # the render stage's output (stages/render.OUT)
LABELS = Path("data/label/joints.json")  # the label stage's (stages/label.OUT)
IMPORTED = Path("data/pose_import")  # the pose_import stage's: the pose project's own source

OUT = Path("data/pose")
METRICS = Path("metrics/pose.json")
MODEL = "anime-posenet"


def run(params: Params, render_dir: Path, out: Path, labels: Path | None = LABELS, imported: Path = IMPORTED) -> dict:
    """Train, score, index, register. `labels`: the label stage's joints.json (None: the pose sets' truth only);
    `imported`: the pose_import stage's images, whose annotated ones join training or scoring by their split."""
    pp = params.pose
    tracking.preflight()
    try:
        ps = PoseSet(render_dir)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    size = ps.size
    if size % 16:
        raise BadInput(f"{render_dir}: posenet needs an image size divisible by 16, the pose set has {size}")
    splits = {s: {k: ps.split(s, k) for k in POSE_KINDS} for s in ("train", "val", "test")}
    for s in splits:
        if len(splits[s]["stick"][0]) < 2:
            raise BadInput(f"{render_dir}: the {s} split has fewer than 2 poses")
    train_images = {k: splits["train"][k][0] for k in pp.kinds}
    try:
        annotated = annotated_sets(labels, ps) if labels is not None else None
        own = imported_sets(labels, imported, size) if labels is not None else None
    except ValueError as err:
        raise BadInput(str(err)) from None
    inputs = [str(render_dir)] + ([str(labels)] if labels is not None else [])
    if own is not None and any(len(own[s][0]) for s in own):
        inputs.append(str(imported))
    ckpt = "posenet-" + checkpoint.key(pp.model_dump(), size, params.seed, [tracking.dvc_md5(p) for p in inputs])
    units = tracking.Units(params, "pose", inputs)  # a retry takes the posenet an earlier attempt registered

    def train(tmp: Path) -> dict:
        with tracking.start_run("posenet", params, "pose", ["pose", "render"], inputs, "posenet"):
            y_tr = {k: splits["train"][k][1] for k in pp.kinds}  # the drawn kind's by the one-colour rule
            extra = annotated["train"] if annotated is not None else None
            if own is not None and len(own["train"][0]):  # annotated pictures of the pose source train beside them
                extra = tuple(np.concatenate([a, b]) for a, b in zip(extra, own["train"]))
            res = train_posenet(
                train_images, y_tr, pp, size, params.seed, ckpt, log=tracking.log_metrics, annotated=extra
            )
            metrics, preds, index_all = evaluate(res.net, ps, splits, size, params.seed)
            posenet = metrics["posenet"]
            held_out = [annotated[s] for s in ("val", "test")] if annotated is not None else []
            held_x = np.concatenate([x for x, _ in held_out]) if held_out else np.zeros((0,))
            if len(held_x):  # annotated sketches of the validation and test sets: scored, never trained on
                held_y = np.concatenate([y for _, y in held_out])
                posenet["pck_0_05_annotated"] = round(pck(predict(res.net, held_x), held_y, size), 4)
                posenet["annotated_scored"] = len(held_x)
            own_held = [own[s] for s in ("val", "test") if len(own[s][0])] if own is not None else []
            if own_held:  # annotated pictures of the pose source's validation and test splits
                own_y = np.concatenate([y for _, y in own_held])
                posenet["pck_0_05_imported"] = round(
                    pck(predict(res.net, np.concatenate([x for x, _ in own_held])), own_y, size), 4
                )
                posenet["imported_scored"] = len(own_y)
            n_own = len(own["train"][0]) if own is not None else 0
            posenet.update(
                {
                    "train_images": sum(len(v) for v in train_images.values()) + (len(extra[0]) if extra else 0),
                    "train_images_by_origin": {
                        "render": sum(len(v) for v in train_images.values()),
                        "label_studio": (len(extra[0]) if extra else 0) - n_own,
                        "import": n_own,
                    },
                    "train_seconds": round(res.seconds, 1),
                    "epochs_done": res.epochs_done,
                    "stopped_by_budget": res.stopped_by_budget,
                    "size": size,
                }
            )
            tracking.log_metrics({**posenet, **{k: v for k, v in metrics.items() if k != "posenet"}})
            log_figures(preds, splits)
            tmp.mkdir(parents=True)
            res.net.save(tmp, {"kinds": list(pp.kinds), "epochs_done": res.epochs_done, "seed": params.seed})
            index_all.save(tmp, {"size": size})
            posenet["version"] = units.register("posenet", MODEL, tmp, metrics, tags={"role": "posenet"})
        if res.stopped_by_budget:
            print(f"pose: stopped by pose.max_minutes after {res.epochs_done} of {pp.epochs} epochs")
        return metrics

    with atomic_path(out) as tmp:
        metrics = units.earlier("posenet", MODEL, tmp.parent, bundle_to=tmp)
        if metrics is None:
            metrics = train(tmp)
        else:
            metrics["posenet"]["version"] = metrics.pop("version")
        promote(MODEL, metrics["posenet"]["version"], "challenger", "the posenet of this run", by="stage pose")
        write_json(tmp / "metrics.json", metrics)
    units.complete()
    return metrics


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
    m = metrics["posenet"]
    by_kind = ", ".join(f"{k} {v}" for k, v in m["pck_0_05_by_kind"].items())
    print(
        f"pose: test pck_0_05 {by_kind}; retrieval_top1 val {m['val_retrieval_top1']} among "
        f"{m['val_retrieval_candidates']}, test {m['retrieval_top1_at_val_size']} among {m['val_retrieval_candidates']} "
        f"and {m['retrieval_top1']} among {m['retrieval_candidates']}; anime-posenet version {m['version']}"
    )


if __name__ == "__main__":
    run_main(main, "pose")
