"""Stage `tagger`: train the attribute classifiers, calibrate per-tag thresholds, auto-tag every image.

    python -m stages.tagger      # data/tagger/, metrics/tagger.json, MLflow experiment `tagger`, model `anime-tagger`

Three models on the ingest split, each an MLflow run in experiment `tagger` and a version of `anime-tagger`:

  cnn        the TaggerNet (models/tagger_net.py) with seed `seed`: tag `role=cnn`, alias `extractor`; the feature
             space of fd_tagger / kid_tagger (data/tagger/extractor.json pins its version)
  baseline   HOG + colour histograms + logistic regression (models/tagger_baseline.py): tag `role=baseline`
  judge      the same CNN trained with seed + judge_seed_offset: tag `role=judge`, alias `judge`; the independent
             judge of the attribute-slider test

Per-tag thresholds are calibrated on the validation split, every figure is reported on the test split, and the
model with the better *validation* macro-F1 (cnn or baseline) gets alias `champion` and writes `tags_auto.csv`:
one row per image of the ingest manifest (labelled or not), a probability per tag, the predicted value per group.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import time
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from dataset.attributes import ATTRIBUTES, GROUPS
from dataset.shards import ImageShards, read_manifest
from models import tagger_baseline, tagger_metrics
from models.tagger_train import TrainConfig, predict_proba, train_cnn

INGEST = Path("data/ingest")  # the ingest stage's output (stages/ingest.OUT)

OUT = Path("data/tagger")
METRICS = Path("metrics/tagger.json")
MODEL = "anime-tagger"


def _round(d):
    if isinstance(d, dict):
        return {k: _round(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


def _log_eval(name: str, probs_test: dict, y_test: np.ndarray, thresholds: dict, rep: dict) -> None:
    import matplotlib.pyplot as plt

    flat = {"macro_f1": rep["macro_f1"], **{f"macro_f1/{g}": v for g, v in rep["macro_f1_by_group"].items()}}
    for tag, m in rep["tags"].items():
        safe = tag.replace("=", "/")
        flat.update({f"{safe}/{k}": float(v) for k, v in m.items() if k != "support"})
    tracking.log_metrics(flat)
    pred = tagger_metrics.predict_groups(probs_test, thresholds)
    fig_cm, fig_pr = tagger_metrics.figures(probs_test, y_test, pred, name)
    tracking.log_figure(fig_cm, "confusion_matrices.png")
    tracking.log_figure(fig_pr, "precision_recall.png")
    plt.close(fig_cm)
    plt.close(fig_pr)


def _train_cnn_model(params: Params, role: str, seed: int, data: dict, inputs: list[str], folder: Path) -> dict:
    tp = params.tagger
    cfg = TrainConfig(
        size=tp.size,
        width=tp.width,
        epochs=tp.epochs,
        batch=tp.batch,
        lr=tp.lr,
        weight_decay=tp.weight_decay,
        label_smoothing=tp.label_smoothing,
        max_minutes=tp.max_minutes,
        group_weights=dict(tp.group_weights),
    )
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
    ckpt = f"tagger-{role}-" + checkpoint.key(
        params.tagger.model_dump(), dataclasses.asdict(cfg), seed, role, [tracking.dvc_md5(p) for p in inputs]
    )  # the training config as the loop sees it too: a code change that alters it never resumes a stale run
    with tracking.start_run("tagger", params, "tagger", ["tagger"], inputs, run_name=f"tagger-{role}"):
        import mlflow

        mlflow.set_tag("role", role)
        res = train_cnn(x_tr, y_tr, cfg, seed, ckpt, log=lambda m, step: tracking.log_metrics(m, step))
        thresholds = tagger_metrics.calibrate(predict_proba(res.net, x_va), y_va)
        val = tagger_metrics.report(predict_proba(res.net, x_va), y_va, thresholds)
        t0 = time.perf_counter()
        probs_test = predict_proba(res.net, x_te)
        infer = len(x_te) / max(time.perf_counter() - t0, 1e-9)
        rep = tagger_metrics.report(probs_test, y_te, thresholds)
        _log_eval(role, probs_test, y_te, thresholds, rep)
        tracking.log_metrics(
            {
                "val_macro_f1": val["macro_f1"],
                "train_seconds": res.seconds,
                "inference_images_per_s": infer,
                "epochs_done": res.epochs_done,
            }
        )
        res.net.save(folder, {"role": role, "seed": seed, "thresholds": thresholds, "epochs_done": res.epochs_done})
        version = tracking.register_bundle(
            folder, MODEL, alias="judge" if role == "judge" else None, tags={"role": role}
        )
    if res.stopped_by_budget:
        print(f"tagger {role}: stopped by tagger.max_minutes after {res.epochs_done} of {tp.epochs} epochs")
    return {
        "net": res.net,
        "thresholds": thresholds,
        "val": val,
        "test": rep,
        "version": version,
        "train_seconds": res.seconds,
        "inference_images_per_s": infer,
        "epochs_done": res.epochs_done,
        "stopped_by_budget": res.stopped_by_budget,
    }


def _train_baseline(params: Params, data: dict, inputs: list[str], folder: Path) -> dict:
    bp = params.tagger.baseline
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
    if len(x_tr) > bp.max_train:
        pick = np.sort(np.random.default_rng(params.seed).choice(len(x_tr), bp.max_train, replace=False))
        x_tr, y_tr = x_tr[pick], y_tr[pick]
    with tracking.start_run("tagger", params, "tagger", ["tagger"], inputs, run_name="tagger-baseline"):
        import mlflow

        mlflow.set_tag("role", "baseline")
        t0 = time.perf_counter()
        f_tr, f_va = tagger_baseline.features(x_tr), tagger_baseline.features(x_va)
        model = tagger_baseline.fit(f_tr, y_tr, f_va, y_va, bp.C, bp.max_iter, params.seed)
        seconds = time.perf_counter() - t0
        probs_val = model.probabilities_from_features(f_va)
        thresholds = tagger_metrics.calibrate(probs_val, y_va)
        val = tagger_metrics.report(probs_val, y_va, thresholds)
        t0 = time.perf_counter()
        probs_test = model.probabilities(x_te)
        infer = len(x_te) / max(time.perf_counter() - t0, 1e-9)
        rep = tagger_metrics.report(probs_test, y_te, thresholds)
        _log_eval("baseline", probs_test, y_te, thresholds, rep)
        tracking.log_metrics(
            {"val_macro_f1": val["macro_f1"], "train_seconds": seconds, "inference_images_per_s": infer}
        )
        model.info["thresholds"] = thresholds
        model.save(folder)
        version = tracking.register_bundle(folder, MODEL, tags={"role": "baseline"})
    return {
        "model": model,
        "thresholds": thresholds,
        "val": val,
        "test": rep,
        "version": version,
        "train_seconds": seconds,
        "inference_images_per_s": infer,
    }


def _tags_auto(path: Path, rows: list[dict], probs: dict[str, np.ndarray], thresholds: dict, model: str) -> None:
    pred = tagger_metrics.predict_groups(probs, thresholds)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    tags = tagger_metrics.tag_names()
    w.writerow(["id", "path", "split", "model", *GROUPS, *(f"p:{t}" for t in tags)])
    for i, r in enumerate(rows):
        values = [ATTRIBUTES[g][pred[i, k]] for k, g in enumerate(GROUPS)]
        ps = [f"{probs[g][i, c]:.4f}" for g in GROUPS for c in range(len(ATTRIBUTES[g]))]
        w.writerow([r["id"], r["path"], r["split"], model, *values, *ps])
    path.write_text(buf.getvalue(), encoding="utf-8")


def run(params: Params, data_dir: Path, out: Path) -> dict:
    tp = params.tagger
    tracking.preflight()
    try:
        shards = {s: ImageShards(data_dir, tp.size, s) for s in ("train", "val", "test")}
        every = ImageShards(data_dir, tp.size)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    data = {s: d.arrays() for s, d in shards.items()}
    for s in ("train", "val", "test"):
        if len(data[s][0]) < 2:
            raise BadInput(f"{data_dir}: the {s} split has {len(data[s][0])} images; the tagger needs at least 2")
    inputs = [str(data_dir)]
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        balance = tagger_metrics.balance({s: data[s][1] for s in data})
        write_json(tmp / "balance.json", balance)
        cnn = _train_cnn_model(params, "cnn", params.seed, data, inputs, tmp / "cnn")
        base = _train_baseline(params, data, inputs, tmp / "baseline")
        judge = None
        if tp.judge:
            judge = _train_cnn_model(params, "judge", params.seed + tp.judge_seed_offset, data, inputs, tmp / "judge")
        champion = "cnn" if cnn["val"]["macro_f1"] >= base["val"]["macro_f1"] else "baseline"
        chosen = cnn if champion == "cnn" else base
        _, client = tracking._client()
        client.set_registered_model_alias(MODEL, "champion", chosen["version"])
        client.set_registered_model_alias(MODEL, "extractor", cnn["version"])
        write_json(
            tmp / "extractor.json",
            {
                "model": MODEL,
                "version": cnn["version"],
                "role": "cnn",
                "feature_dim": cnn["net"].feature_dim,
                "size": tp.size,
            },
        )
        x_all, _ = every.arrays()
        rows = read_manifest(data_dir)
        probs = predict_proba(cnn["net"], x_all) if champion == "cnn" else base["model"].probabilities(x_all)
        _tags_auto(tmp / "tags_auto.csv", rows, probs, chosen["thresholds"], f"{MODEL}/{chosen['version']}")

    def summary(m: dict) -> dict:
        return {
            "macro_f1": m["test"]["macro_f1"],
            "macro_f1_by_group": m["test"]["macro_f1_by_group"],
            "val_macro_f1": m["val"]["macro_f1"],
            "version": m["version"],
            "train_seconds": m["train_seconds"],
            "inference_images_per_s": m["inference_images_per_s"],
        }

    metrics = {
        "cnn": {**summary(cnn), "epochs_done": cnn["epochs_done"], "stopped_by_budget": cnn["stopped_by_budget"]},
        "baseline": summary(base),
        "champion": champion,
        "test_images": len(data["test"][0]),
        "auto_tagged": len(rows),
        "imbalance_train": balance["imbalance_train"],
    }
    if judge is not None:
        metrics["judge"] = {**summary(judge), "epochs_done": judge["epochs_done"]}
    return _round(metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = run(params, Path(args.data), Path(args.out))
    write_json(args.metrics, {"tagger": metrics})
    print(
        f"tagger: test macro-F1 cnn {metrics['cnn']['macro_f1']}, baseline {metrics['baseline']['macro_f1']}"
        + (f", judge {metrics['judge']['macro_f1']}" if "judge" in metrics else "")
        + f"; champion {metrics['champion']}; {metrics['auto_tagged']} images auto-tagged"
    )


if __name__ == "__main__":
    run_main(main, "tagger")
