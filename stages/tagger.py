"""Stage `tagger`: train the attribute classifiers, calibrate per-tag thresholds, auto-tag every image.

    python -m stages.tagger      # data/tagger/, metrics/tagger.json, MLflow experiment `tagger`, model `anime-tagger`

Three models on the ingest split, each an MLflow run in experiment `tagger` and a version of `anime-tagger`:

  cnn        the TaggerNet (models/tagger/net.py) with seed `seed`: tag `role=cnn`; a store's first one becomes the
             feature space of fd_tagger / kid_tagger (the `extractor` stage pins it; retraining does not move it)
  baseline   HOG + colour histograms + logistic regression (models/tagger/baseline.py): tag `role=baseline`
  judge      the same CNN trained with seed + judge_seed_offset: tag `role=judge`, alias `judge`; the independent
             judge of the attribute-slider test

Labels come from `data/label/tags.csv` (the `label` stage: the source's tags with the annotators' consensus over
them; models/tagger/labels.py): a human label overrides or adds, images with no known group stay out of training
and still get auto-tags, and every image keeps its ingest split, so labels of test images only score.

Per-tag thresholds are calibrated on the validation split, every figure is reported on validation and test, and the
model with the better *validation* macro-F1 (cnn or baseline) is this run's pick: alias `challenger` (the evaluate
stage scores it against the champion and moves `champion`) and it writes `tags_auto.csv`: one row per image of the
ingest manifest (labelled or not), a probability per tag, the predicted value per group.

metrics/tagger.json = {tagger: {cnn: {...}, judge: {...}, hog_baseline: {...}, floor: {...}, chosen, chosen_version,
data: {...}}}
(`floor`: every group's most common training value answered for every image).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from dataset.shards import ImageShards, read_manifest
from models.promote import promote
from models.tagger import evaluate, roles
from models.tagger.labels import count_by_origin, labels_for, read_tags
from models.tagger.net import MODEL, predict_proba

INGEST = Path("data/ingest")  # the ingest stage's output (stages/ingest.OUT)
LABELS = Path("data/label/tags.csv")  # the label stage's (stages/label.OUT)

OUT = Path("data/tagger")
METRICS = Path("metrics/tagger.json")


def _round(d):
    if isinstance(d, dict):
        return {k: _round(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


def run(params: Params, data_dir: Path, out: Path, labels: Path | None = LABELS) -> dict:
    """Train, choose and auto-tag. `labels`: the label stage's tags.csv (None: the manifest's own tags)."""
    tp = params.tagger
    tracking.preflight()
    try:
        shards = {s: ImageShards(data_dir, tp.size, s) for s in ("train", "val", "test")}
        every = ImageShards(data_dir, tp.size)
        tags = read_tags(labels) if labels is not None else None
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    data, origins = {}, {}
    for s, d in shards.items():
        x, y = d.arrays()
        if tags is not None:
            y, origins[s] = labels_for(d.ids, tags)
        else:
            origins[s] = ["source" if (row >= 0).any() else "none" for row in y]
        keep = np.flatnonzero((y >= 0).any(axis=1)) if s == "train" else np.arange(len(y))
        data[s] = (x[keep], y[keep])
        origins[s] = [origins[s][i] for i in keep]
    for s in ("train", "val", "test"):
        if len(data[s][0]) < 2:
            what = "labelled images" if s == "train" else "images"
            hint = (
                ": the source has no tags; label some in Label Studio (make labelstudio, make label-sync) and re-run"
                if s == "train"
                else ""
            )
            raise BadInput(f"{data_dir}: the {s} split has {len(data[s][0])} {what}; the tagger needs at least 2{hint}")
    inputs = [str(data_dir)] + ([str(labels)] if labels is not None else [])
    units = tracking.Units(params, "tagger", inputs)  # a retry takes the roles an earlier attempt registered
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        balance = evaluate.balance({s: data[s][1] for s in data})
        write_json(tmp / "balance.json", balance)
        cnn = roles.train_cnn_role(params, "cnn", params.seed, data, inputs, tmp / "cnn", units)
        base = roles.train_baseline_role(params, data, inputs, tmp / "baseline", units)
        judge = None
        if tp.judge:
            judge = roles.train_cnn_role(
                params, "judge", params.seed + tp.judge_seed_offset, data, inputs, tmp / "judge", units
            )
        pick = "cnn" if cnn["val"]["macro_f1"] >= base["val"]["macro_f1"] else "hog_baseline"
        chosen = cnn if pick == "cnn" else base
        why = f"validation macro-F1 {chosen['val']['macro_f1']:.4f}, the better of cnn and baseline"
        promote(MODEL, chosen["version"], "challenger", why, by="stage tagger")
        if judge is not None:
            promote(MODEL, judge["version"], "judge", "the judge CNN of this run", by="stage tagger")
        registered = {"model": MODEL, "cnn": cnn["version"], "baseline": base["version"]}
        if judge is not None:
            registered["judge"] = judge["version"]
        write_json(tmp / "registered.json", registered)  # the extractor stage pins a store's first cnn
        x_all, _ = every.arrays()
        rows = read_manifest(data_dir)
        probs = predict_proba(cnn["net"], x_all) if pick == "cnn" else base["model"].probabilities(x_all)
        roles.write_auto_tags(tmp / "tags_auto.csv", rows, probs, chosen["thresholds"], f"{MODEL}/{chosen['version']}")
    units.complete()

    def summary(m: dict) -> dict:
        return {
            "macro_f1": m["test"]["macro_f1"],
            "val_macro_f1": m["val"]["macro_f1"],
            "macro_f1_by_group": m["test"]["macro_f1_by_group"],
            "val_macro_f1_by_group": m["val"]["macro_f1_by_group"],
            "version": m["version"],
            "train_seconds": m["train_seconds"],
            "inference_images_per_s": m["inference_images_per_s"],
        }

    floor_test = evaluate.majority_floor(data["train"][1], data["test"][1])
    floor_val = evaluate.majority_floor(data["train"][1], data["val"][1])
    metrics = {
        "cnn": {**summary(cnn), "epochs_done": cnn["epochs_done"], "stopped_by_budget": cnn["stopped_by_budget"]},
        "hog_baseline": summary(base),
        "floor": {
            "macro_f1": floor_test["macro_f1"],
            "val_macro_f1": floor_val["macro_f1"],
            "macro_f1_by_group": floor_test["macro_f1_by_group"],
        },
        "chosen": pick,
        "chosen_version": chosen["version"],
        "data": {
            "val_images": len(data["val"][0]),
            "test_images": len(data["test"][0]),
            "train_images": len(data["train"][0]),
            "train_images_by_origin": count_by_origin(origins["train"]),
            "test_images_by_origin": count_by_origin(origins["test"]),
            "auto_tagged": len(rows),
            "imbalance_train_by_group": balance["imbalance_train"],
        },
    }
    if judge is not None:
        metrics["judge"] = {**summary(judge), "epochs_done": judge["epochs_done"]}
    return _round(metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--labels", default=str(LABELS), help="tags.csv of the label stage ('' : the manifest's tags)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = run(params, Path(args.data), Path(args.out), Path(args.labels) if args.labels else None)
    write_json(args.metrics, {"tagger": metrics})
    print(
        f"tagger: test macro-F1 cnn {metrics['cnn']['macro_f1']}, hog_baseline {metrics['hog_baseline']['macro_f1']}"
        + (f", judge {metrics['judge']['macro_f1']}" if "judge" in metrics else "")
        + f", floor {metrics['floor']['macro_f1']}; chosen {metrics['chosen']} (by validation macro-F1); "
        f"{metrics['data']['auto_tagged']} images auto-tagged"
    )


if __name__ == "__main__":
    run_main(main, "tagger")
