"""The posenet family (`python -m stages.pose`): train posenet on the rendered pose sets and build the retrieval
index over 3D-model projections.

- posenet (models/pose/net.py) learns the 11 joints from the kinds in `pose.kinds` (stick figures, sketches,
  projections and hand-drawn-style figures by default), mixed; `pck_0_05` per kind on validation and test (the drawn
  figures labelled and scored by the one-colour left/right rule: docs/pose.md). Annotated sketches and annotated
  pictures of the pose source (data/label/joints.json, data/pose_import: models/pose/labels.py) join training by
  their split; held-out ones are scored (`pck_0_05_annotated`, `pck_0_05_imported`).
- The retrieval index embeds 3D-model projections from the images (posenet's learned pose embedding) in
  scikit-learn NearestNeighbors and keeps each projection's joints: a reference is the embedding's `pose.retrieval.k`
  nearest put in order by their joints against the query's (models/pose/retrieval.py `rerank`). `retrieval_top1` on
  validation and test and the other figures are models/pose/evaluate.py's. Figures: {posenet: {...},
  embedding_nearest: {...}, joints_embedding: {...}, floor: {...}}.
- One MLflow run (experiment `posenet`) with the figures, a per-joint error plot and a grid of test predictions; the
  bundle (model.safetensors, config.json, index.npz, index.json) is registered as a version of `anime-posenet` with
  alias `challenger`; the evaluate stage scores it against the champion and moves `champion`.

The family contract (models/family.py): `load`, `run` (inside the stage's atomic output folder), `sheet` (none),
`summary`; `stage(params, paths, out)` is the whole stage, what stages/pose.py calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput
from core.names import POSE_KINDS
from core.params import Params
from models.engine.plots import write_fit
from models.engine.record import run_record
from models.pose.evaluate import evaluate, labelled_figures, log_figures
from models.pose.labels import annotated_sets, imported_sets
from models.pose.train import train_posenet
from models.promote import promote
from synth.pose.poseset import PoseSet

SECTION = "pose"
INPUTS = ("render", "labels", "imported")  # keys of `paths`; labels None: the pose sets' truth only
MODEL = "anime-posenet"


def load(params: Params, paths: dict[str, Path | None]) -> tuple[dict, dict]:
    """({"poseset", "size", "splits": {split: {kind: (images, joints)}}, "train_images": {kind: images},
    "annotated", "own"}, what to record): the render stage's pose sets, the label stage's annotated sketches and the
    annotated pictures of the pose_import stage (None without `paths["labels"]`)."""
    pp = params.pose
    render_dir, labels, imported = paths["render"], paths.get("labels"), paths["imported"]
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
    data = {"poseset": ps, "size": size, "splits": splits, "train_images": train_images}
    return {**data, "annotated": annotated, "own": own}, {}


def inputs_of(paths: dict[str, Path | None], data: dict) -> list[str]:
    """The lineage: the pose sets, the labels, and the pose_import stage's output where it has annotated images."""
    own = data["own"]
    inputs = [str(paths["render"])] + ([str(paths["labels"])] if paths.get("labels") is not None else [])
    if own is not None and any(len(own[s][0]) for s in own):
        inputs.append(str(paths["imported"]))
    return inputs


def run(params: Params, data: dict, extractor, inputs: list[str], out: Path, world, units: tracking.Units) -> dict:
    """Train, score, index and register into `out` (the stage's atomic folder), or take the posenet an earlier
    attempt registered; alias `challenger`; the figures (also out/metrics.json). Posenet is not scored by the
    extractor (None here) and trains on one process (`world`)."""
    metrics = units.earlier("posenet", MODEL, out.parent, bundle_to=out)
    if metrics is None:
        metrics = _train(params, data, inputs, out, units)
    else:
        metrics["posenet"]["version"] = metrics.pop("version")
    promote(MODEL, metrics["posenet"]["version"], "challenger", "the posenet of this run", by="stage pose")
    write_json(out / "metrics.json", metrics)
    return metrics


def _train(params: Params, data: dict, inputs: list[str], tmp: Path, units: tracking.Units) -> dict:
    pp = params.pose
    ps, size, splits, train_images = data["poseset"], data["size"], data["splits"], data["train_images"]
    annotated, own = data["annotated"], data["own"]
    ckpt = "posenet-" + checkpoint.key(
        pp.model_dump(exclude={"retrieval"}), size, params.seed, [tracking.dvc_md5(p) for p in inputs]
    )
    with tracking.start_run("posenet", params, "pose", ["pose", "render"], inputs, "posenet"):
        y_tr = {k: splits["train"][k][1] for k in pp.kinds}  # the drawn kind's by the one-colour rule
        extra = annotated["train"] if annotated is not None else None
        if own is not None and len(own["train"][0]):  # annotated pictures of the pose source train beside them
            extra = tuple(np.concatenate([a, b]) for a, b in zip(extra, own["train"]))
        res = train_posenet(train_images, y_tr, pp, size, params.seed, ckpt, log=tracking.log_metrics, annotated=extra)
        metrics, preds, index_all = evaluate(res.net, ps, splits, size, params.seed, pp.retrieval)
        posenet = metrics["posenet"]
        for key, sets in (("annotated", annotated), ("imported", own)):  # held-out sketches, the source's pictures
            held = [sets[s] for s in ("val", "test")] if sets is not None else []
            posenet.update(labelled_figures(res.net, held, size, key))  # scored, never trained on
        n_own = len(own["train"][0]) if own is not None else 0
        posenet.update(
            {
                "train_images": sum(len(v) for v in train_images.values()) + (len(extra[0]) if extra else 0),
                "train_images_by_origin": {
                    "render": sum(len(v) for v in train_images.values()),
                    "label_studio": (len(extra[0]) if extra else 0) - n_own,
                    "import": n_own,
                },
                **run_record(
                    res, round(res.seconds, 1), size, keys=("train_seconds", "epochs_done", "stopped_by_budget", "size")
                ),
            }
        )
        tracking.log_metrics({**posenet, **{k: v for k, v in metrics.items() if k != "posenet"}})
        log_figures(preds, splits)
        tmp.mkdir(parents=True)
        res.net.save(tmp, {"kinds": list(pp.kinds), "epochs_done": res.epochs_done, "seed": params.seed})
        index_all.save(tmp, {"size": size})
        write_fit(tmp / tracking.PLOTS, "posenet", res.history, ("train_loss", "train_px_error"))  # a DVC plot
        posenet["version"] = units.register("posenet", MODEL, tmp, metrics, tags={"role": "posenet"})
    if res.stopped_by_budget:
        print(f"pose: stopped by pose.max_minutes after {res.epochs_done} of {pp.epochs} epochs")
    return metrics


def sheet(out: Path) -> None:
    """Posenet has no contact sheet of its own (the render stage's pose sets have theirs)."""
    return None


def summary(figures: dict) -> str:
    m = figures["posenet"]
    by_kind = ", ".join(f"{k} {v}" for k, v in m["pck_0_05_by_kind"].items())
    return (
        f"test pck_0_05 {by_kind}; retrieval_top1 val {m['val_retrieval_top1']} among "
        f"{m['val_retrieval_candidates']}, test {m['retrieval_top1_at_val_size']} among {m['val_retrieval_candidates']} "
        f"and {m['retrieval_top1']} among {m['retrieval_candidates']}; anime-posenet version {m['version']}"
    )


def stage(params: Params, paths: dict[str, Path | None], out: Path) -> dict:
    """The pose stage: load, then train, score, index and register into `out` (atomically); the figures."""
    tracking.preflight()
    data, _ = load(params, paths)
    inputs = inputs_of(paths, data)
    from serve import pyfunc  # each version is also an MLflow pyfunc model that loads as the service does

    units = tracking.Units(params, "pose", inputs, pyfunc.log_model)  # a retry takes the posenet registered before
    with atomic_path(out) as tmp:
        metrics = run(params, data, None, inputs, tmp, None, units)
    units.complete()
    return metrics
