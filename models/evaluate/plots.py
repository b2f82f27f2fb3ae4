"""The evaluate stage's files of `dvc plots show` (dvc.yaml `plots:`), in data/evaluate/plots/: candidate against
champion, every registered version, the tagger's precision-recall curve and posenet's error per joint. Training curves
and sample grids are not rebuilt here: each training stage writes its own (models/engine/plots.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from core.names import JOINTS
from models.evaluate import scorers
from models.evaluate.report import versions_table


def _csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    path.write_text(buf.getvalue())


def write_plots(records: dict, folder: Path, ctx: scorers.Context) -> None:
    """Candidate against champion, every registered version, the tagger's precision-recall curve and posenet's
    error per joint."""
    folder.mkdir(parents=True, exist_ok=True)
    comp, versions = [], []
    for model, r in records.items():
        p = r["primary"]
        for who, x in (("candidate", r["candidate"]), ("champion", r["champion_before"])):
            if x:
                comp.append({"label": f"{model} {who} v{x['version']} ({p})", "val_primary": round(x["val"][p], 4)})
        for row in versions_table(model):
            if row[f"val_{p}"] is not None:
                label = f"{model} v{row['version']} {row['role']} ({p})"
                versions.append({"label": label, "val_primary": round(row[f"val_{p}"], 4)})
    _csv(folder / "comparison.csv", comp)
    _csv(folder / "versions.csv", versions)
    if "anime-tagger" in records:
        _csv(folder / "tagger_pr.csv", tagger_pr(ctx, records["anime-tagger"]["candidate"]))
    if "anime-posenet" in records:
        _csv(folder / "pose_joint_error.csv", joint_error(ctx))


def tagger_pr(ctx: scorers.Context, cand: dict) -> list[dict]:
    """Micro-averaged one-vs-rest precision-recall curve of the candidate tagger on validation (every tag)."""
    from sklearn.metrics import precision_recall_curve

    from core.names import GROUPS
    from models.tagger.baseline import LinearTagger
    from models.tagger.net import TaggerNet, predict_proba

    folder = Path(cand["folder"])
    cfg = json.loads((folder / "config.json").read_text())
    x, y = ctx.tagger_split(cand["size"], "val")
    probs = (
        LinearTagger.load(folder).probabilities(x)
        if cfg.get("kind") == "hog-colour-logreg"
        else predict_proba(TaggerNet.load(folder), x)
    )
    truth, score = [], []
    for k, g in enumerate(GROUPS):
        known = y[:, k] >= 0
        onehot = np.eye(probs[g].shape[1], dtype=bool)[y[known, k]]
        truth.append(onehot.ravel())
        score.append(probs[g][known].ravel())
    prec, rec, _ = precision_recall_curve(np.concatenate(truth), np.concatenate(score))
    keep = np.unique(np.linspace(0, len(prec) - 1, min(200, len(prec))).astype(int))
    return [{"recall": round(float(rec[i]), 4), "precision": round(float(prec[i]), 4)} for i in keep]


def joint_error(ctx: scorers.Context) -> list[dict]:
    """Mean pixel error per joint of the posenet in data/pose on the validation stick figures."""
    from models.pose.net import PoseNet, predict

    net = PoseNet.load(ctx.paths["posenet"])
    rows = []
    x, y = ctx.poses.split("val", "stick")
    err = np.linalg.norm(predict(net, x) - y, axis=-1).mean(axis=0)
    rows += [{"joint": j, "error_px": round(float(e), 3)} for j, e in zip(JOINTS, err, strict=True)]
    return rows
