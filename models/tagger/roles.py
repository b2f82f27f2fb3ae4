"""The tagger's three roles as MLflow runs: train, calibrate thresholds on validation, score on test, register.

    cnn        the TaggerNet (models/tagger/net.py) with seed `seed`; the feature space of fd_tagger / kid_tagger
    judge      the same CNN trained with seed + judge_seed_offset, judge_low_res of its rows shown at judge_low_size px
               (the generators' size), read with each image's mirror (judge_read_flip): the independent judge of the
               slider test
    baseline   HOG + colour histograms + logistic regression (models/tagger/baseline.py)

Each returns its figures (validation and test reports, version, timings); `write_auto_tags` writes tags_auto.csv.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.names import ATTRIBUTES, GROUPS
from core.params import Params
from models.engine.plots import write_fit
from models.engine.record import run_record
from models.tagger import baseline, evaluate
from models.tagger.net import MODEL, TaggerNet, predict_proba
from models.tagger.train import train_cnn


def log_evaluation(name: str, probs_test: dict, y_test: np.ndarray, thresholds: dict, rep: dict) -> None:
    import matplotlib.pyplot as plt

    flat = {"macro_f1": rep["macro_f1"], **{f"macro_f1/{g}": v for g, v in rep["macro_f1_by_group"].items()}}
    for tag, m in rep["tags"].items():
        safe = tag.replace("=", "/")
        flat.update({f"{safe}/{k}": float(v) for k, v in m.items() if k != "support"})
    tracking.log_metrics(flat)
    pred = evaluate.predict_groups(probs_test, thresholds)
    fig_cm, fig_pr = evaluate.figures(probs_test, y_test, pred, name)
    tracking.log_figure(fig_cm, "confusion_matrices.png")
    tracking.log_figure(fig_pr, "precision_recall.png")
    plt.close(fig_cm)
    plt.close(fig_pr)


def train_cnn_role(
    params: Params, role: str, seed: int, data: dict, inputs: list[str], folder: Path, units: tracking.Units
) -> dict:
    """Train, calibrate (validation), score (test), log and register one tagger CNN (`cnn` or `judge`); one that an
    earlier attempt of the stage registered is taken from the registry (`units`)."""
    kept = units.earlier(f"tagger-{role}", MODEL, folder.parent)
    if kept is not None:
        return {"net": TaggerNet.load(folder), **kept}
    tp = params.tagger
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
    ckpt = f"tagger-{role}-" + checkpoint.key(tp.model_dump(), seed, role, [tracking.dvc_md5(p) for p in inputs])
    with tracking.start_run("tagger", params, "tagger", ["tagger"], inputs, run_name=f"tagger-{role}"):
        import mlflow

        mlflow.set_tag("role", role)
        low = tp.judge_low_res if role == "judge" else 0.0  # the judge also learns the generators' smaller size
        res = train_cnn(x_tr, y_tr, tp, seed, ckpt, log=tracking.log_metrics, low_res=low, low_size=tp.judge_low_size)
        flip = tp.judge_read_flip and role == "judge"  # the judge reads with each image's mirror, so calibrates so
        probs_val = predict_proba(res.net, x_va, flip=flip)
        thresholds = evaluate.calibrate(probs_val, y_va)
        val = evaluate.report(probs_val, y_va, thresholds)
        floors = evaluate.auto_floors(probs_val, y_va, thresholds, tp.auto_min_accuracy)
        t0 = time.perf_counter()
        probs_test = predict_proba(res.net, x_te, flip=flip)
        infer = len(x_te) / max(time.perf_counter() - t0, 1e-9)
        rep = evaluate.report(probs_test, y_te, thresholds)
        log_evaluation(role, probs_test, y_te, thresholds, rep)
        tracking.log_metrics(
            {
                "val_macro_f1": val["macro_f1"],
                "train_seconds": res.seconds,
                "inference_images_per_s": infer,
                "epochs_done": res.epochs_done,
            }
        )
        config = {"role": role, "seed": seed, "thresholds": thresholds, "auto_floors": floors}
        if flip:
            config["read_flip"] = True  # load_judge reads as calibrated
        res.net.save(folder, {**config, "epochs_done": res.epochs_done})
        figures = {
            "thresholds": thresholds,
            "floors": floors,
            "val": val,
            "test": rep,
            "inference_images_per_s": infer,
            **run_record(res, res.seconds, keys=("train_seconds", "epochs_done", "stopped_by_budget")),
        }
        root = folder.parent / tracking.PLOTS  # the stage output's DVC plots: this role's learning curve
        fit = write_fit(root, f"tagger-{role}", res.history).relative_to(root)
        figures["version"] = units.register(
            f"tagger-{role}", MODEL, folder, figures, tags={"role": role}, plots=(root, [fit])
        )
    if res.stopped_by_budget:
        print(f"tagger {role}: stopped by tagger.max_minutes after {res.epochs_done} of {tp.epochs} epochs")
    return {"net": res.net, **figures}


def train_baseline_role(params: Params, data: dict, inputs: list[str], folder: Path, units: tracking.Units) -> dict:
    """Fit, calibrate (validation), score (test), log and register the HOG + colour baseline (or take the one an
    earlier attempt of the stage registered)."""
    kept = units.earlier("tagger-baseline", MODEL, folder.parent)
    if kept is not None:
        return {"model": baseline.LinearTagger.load(folder), **kept}
    bp = params.tagger.baseline
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
    if len(x_tr) > bp.max_train:
        pick = np.sort(np.random.default_rng(params.seed).choice(len(x_tr), bp.max_train, replace=False))
        x_tr, y_tr = x_tr[pick], y_tr[pick]
    with tracking.start_run("tagger", params, "tagger", ["tagger"], inputs, run_name="tagger-baseline"):
        import mlflow

        mlflow.set_tag("role", "baseline")
        t0 = time.perf_counter()
        f_tr, f_va = baseline.features(x_tr), baseline.features(x_va)
        model = baseline.fit(f_tr, y_tr, f_va, y_va, bp.C, bp.max_iter, params.seed, bp.widen)
        seconds = time.perf_counter() - t0
        probs_val = model.probabilities_from_features(f_va)
        thresholds = evaluate.calibrate(probs_val, y_va)
        val = evaluate.report(probs_val, y_va, thresholds)
        floors = evaluate.auto_floors(probs_val, y_va, thresholds, params.tagger.auto_min_accuracy)
        t0 = time.perf_counter()
        probs_test = model.probabilities(x_te)
        infer = len(x_te) / max(time.perf_counter() - t0, 1e-9)
        rep = evaluate.report(probs_test, y_te, thresholds)
        log_evaluation("baseline", probs_test, y_te, thresholds, rep)
        tracking.log_metrics(
            {"val_macro_f1": val["macro_f1"], "train_seconds": seconds, "inference_images_per_s": infer}
        )
        model.info["thresholds"] = thresholds
        model.info["auto_floors"] = floors
        model.save(folder)
        figures = {
            "thresholds": thresholds,
            "floors": floors,
            "val": val,
            "test": rep,
            **run_record(None, seconds),
            "inference_images_per_s": infer,
        }
        figures["version"] = units.register("tagger-baseline", MODEL, folder, figures, tags={"role": "baseline"})
    return {"model": model, **figures}


def write_auto_tags(
    path: Path, rows: list[dict], probs: dict[str, np.ndarray], thresholds: dict, floors: dict, model: str
) -> tuple[np.ndarray, np.ndarray]:
    """tags_auto.csv with the same `floors` for every source (write_readings); (the predicted class per group, the
    trusted mask), both [N, len(GROUPS)]. The tagger stage's floors are per source: models/tagger/trust.auto_tag."""
    pred = evaluate.predict_groups(probs, thresholds)
    conf = evaluate.confidence(probs, pred)
    trusted = evaluate.trusted(conf, floors)
    write_readings(path, rows, probs, pred, conf, trusted, model)
    return pred, trusted


def write_readings(
    path: Path, rows: list[dict], probs: dict[str, np.ndarray], pred: np.ndarray, conf: np.ndarray, trusted, model: str
) -> None:
    """tags_auto.csv: per image, its source, each group's predicted value (`pred`), its confidence (`c:<group>`,
    `conf`), whether it is trusted (`trusted:<group>`: models/tagger/trust.py) and every tag's probability
    (`p:<tag>`); `pred`, `conf`, `trusted` are [N, len(GROUPS)] in the rows' order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    tags = evaluate.tag_names()
    w.writerow(
        ["id", "path", "split", "source", "model", *GROUPS]
        + [*(f"c:{g}" for g in GROUPS), *(f"trusted:{g}" for g in GROUPS)]
        + [f"p:{t}" for t in tags]
    )
    for i, r in enumerate(rows):
        values = [ATTRIBUTES[g][pred[i, k]] for k, g in enumerate(GROUPS)]
        cs = [f"{c:.4f}" for c in conf[i]]
        ok = [int(t) for t in trusted[i]]
        ps = [f"{probs[g][i, c]:.4f}" for g in GROUPS for c in range(len(ATTRIBUTES[g]))]
        w.writerow([r["id"], r["path"], r["split"], r.get("source", ""), model, *values, *cs, *ok, *ps])
    path.write_text(buf.getvalue(), encoding="utf-8")
