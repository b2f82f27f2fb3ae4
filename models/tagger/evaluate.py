"""How taggers are judged: per-tag thresholds (calibrated on validation), per-tag P/R/F1/AP, macro-F1, confusion
matrices and precision-recall curves, and the data-balance report.

A *tag* is one value of one group (`hair_color=blonde`). A group's prediction is the arg-max of its probabilities for
multi-value groups and `p(yes) >= threshold(yes)` for yes/no groups. Per-tag presence (tags_auto.csv) is
`p >= threshold(tag)`. Thresholds maximise the tag's one-vs-rest F1 on the validation split; test is only scored.
Macro-F1 is the mean over groups of each group's macro-F1 over the classes present in the labels.
"""

from __future__ import annotations

import numpy as np

from core.names import ATTRIBUTES, GROUPS

GRID = np.round(np.arange(0.05, 0.96, 0.025), 3)


def tag_names() -> list[str]:
    return [f"{g}={v}" for g in GROUPS for v in ATTRIBUTES[g]]


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def calibrate(probs: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Per tag, the threshold in GRID with the best one-vs-rest F1 on these (validation) labels; 0.5 if unseen."""
    out = {}
    for k, g in enumerate(GROUPS):
        mask = y[:, k] >= 0
        for c, v in enumerate(ATTRIBUTES[g]):
            truth = y[mask, k] == c
            p = probs[g][mask, c]
            best_t, best_f = 0.5, -1.0
            if truth.any():
                for t in GRID:
                    pred = p >= t
                    f = _f1(float((pred & truth).sum()), float((pred & ~truth).sum()), float((~pred & truth).sum()))
                    if f > best_f:
                        best_t, best_f = float(t), f
            out[f"{g}={v}"] = best_t
    return out


def predict_groups(probs: dict[str, np.ndarray], thresholds: dict[str, float]) -> np.ndarray:
    """Class index per group [N, len(GROUPS)]."""
    cols = []
    for g in GROUPS:
        p = probs[g]
        if ATTRIBUTES[g] == ("no", "yes"):
            cols.append((p[:, 1] >= thresholds.get(f"{g}=yes", 0.5)).astype(np.int64))
        else:
            cols.append(p.argmax(axis=1))
    return np.stack(cols, axis=1)


def confidence(probs: dict[str, np.ndarray], pred: np.ndarray) -> np.ndarray:
    """[N, len(GROUPS)]: the probability the tagger gave each group's predicted value."""
    rows = np.arange(len(pred))
    return np.stack([probs[g][rows, pred[:, k]] for k, g in enumerate(GROUPS)], axis=1).astype(np.float64)


def floor_entry(conf: np.ndarray, right: np.ndarray, min_accuracy: float) -> dict:
    """One group's floor on these labelled images (`conf`: the confidence of each reading, `right`: whether it was
    right): the lowest confidence from which the readings are right at least `min_accuracy` of the time (the most
    images that keep that accuracy), with that accuracy and the share of the images at or above it. `floor` None: no
    confidence reaches it, or there is no image, so none of the group's auto-tags is trusted."""
    entry = {"floor": None, "val_accuracy": None, "val_coverage": 0.0, "labelled": len(conf)}
    if len(conf):
        order = np.argsort(-conf, kind="stable")
        running = np.cumsum(right[order]) / np.arange(1, len(conf) + 1)
        ok = np.flatnonzero(running >= min_accuracy)
        if len(ok):
            floor = float(conf[order][int(ok[-1])])
            kept = conf >= floor
            entry.update(floor=floor, val_accuracy=float(right[kept].mean()), val_coverage=float(kept.mean()))
    return entry


def auto_floors(probs: dict[str, np.ndarray], y: np.ndarray, thresholds: dict[str, float], min_accuracy: float) -> dict:
    """Per group, on these (validation) labels: evaluate.floor_entry of the group's labelled images."""
    pred = predict_groups(probs, thresholds)
    conf = confidence(probs, pred)
    out = {}
    for k, g in enumerate(GROUPS):
        mask = y[:, k] >= 0
        out[g] = floor_entry(conf[mask, k], pred[mask, k] == y[mask, k], min_accuracy)
    return out


def source_floors(
    conf: np.ndarray, right: np.ndarray, labelled: np.ndarray, overall: dict, min_accuracy: float, min_labels: int
) -> dict:
    """One source's floors: per group, the floor chosen on the source's own labelled validation images where it has
    at least `min_labels` of them (`from: "own"`), else the overall one (`from: "overall"`, chosen on every
    source's validation images together, which may be of another style: measured in docs/reports). `conf`, `right`,
    `labelled`: [N, len(GROUPS)] for the source's validation images. Each entry also says how many labels the group
    still needs (`labels_needed`) before its floor is its own."""
    out = {}
    for k, g in enumerate(GROUPS):
        mask = labelled[:, k]
        n = int(mask.sum())
        if n >= min_labels:
            out[g] = {**floor_entry(conf[mask, k], right[mask, k], min_accuracy), "from": "own", "labels_needed": 0}
        else:
            out[g] = {**overall[g], "labelled": n, "from": "overall", "labels_needed": min_labels - n}
    return out


def trusted(conf: np.ndarray, floors: dict) -> np.ndarray:
    """[N, len(GROUPS)] bool: the auto-tags at or above their group's floor (none where the floor is None)."""
    cols = [
        conf[:, k] >= floors[g]["floor"] if floors.get(g, {}).get("floor") is not None else np.zeros(len(conf), bool)
        for k, g in enumerate(GROUPS)
    ]
    return np.stack(cols, axis=1)


def report(probs: dict[str, np.ndarray], y: np.ndarray, thresholds: dict[str, float]) -> dict:
    """macro_f1, macro_f1_by_group, and per tag precision / recall / f1 / ap / support, on labelled rows."""
    from sklearn.metrics import average_precision_score, f1_score

    pred = predict_groups(probs, thresholds)
    by_group, tags = {}, {}
    for k, g in enumerate(GROUPS):
        mask = y[:, k] >= 0
        if not mask.any():
            continue
        labels = np.unique(y[mask, k])
        by_group[g] = float(f1_score(y[mask, k], pred[mask, k], labels=labels, average="macro", zero_division=0))
        for c, v in enumerate(ATTRIBUTES[g]):
            truth = y[mask, k] == c
            hit = pred[mask, k] == c
            tp, fp, fn = float((hit & truth).sum()), float((hit & ~truth).sum()), float((~hit & truth).sum())
            tags[f"{g}={v}"] = {
                "precision": tp / (tp + fp) if tp + fp else 0.0,
                "recall": tp / (tp + fn) if tp + fn else 0.0,
                "f1": _f1(tp, fp, fn),
                "ap": float(average_precision_score(truth, probs[g][mask, c])) if truth.any() else 0.0,
                "support": int(truth.sum()),
            }
    return {
        "macro_f1": float(np.mean(list(by_group.values()))) if by_group else 0.0,
        "macro_f1_by_group": by_group,
        "tags": tags,
    }


def confusion(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for k, g in enumerate(GROUPS):
        n = len(ATTRIBUTES[g])
        mask = y[:, k] >= 0
        m = np.zeros((n, n), np.int64)
        np.add.at(m, (y[mask, k], pred[mask, k]), 1)
        out[g] = m
    return out


def balance(labels_by_split: dict[str, np.ndarray]) -> dict:
    """Counts per tag per split, the unlabelled count per group, and each group's imbalance (largest / smallest
    class in train)."""
    rep: dict = {"splits": {}, "imbalance_train": {}}
    for split, y in labels_by_split.items():
        rep["splits"][split] = {
            g: {
                **{v: int((y[:, k] == c).sum()) for c, v in enumerate(ATTRIBUTES[g])},
                "unlabelled": int((y[:, k] < 0).sum()),
            }
            for k, g in enumerate(GROUPS)
        }
    train = rep["splits"].get("train", {})
    for g, counts in train.items():
        present = [n for v, n in counts.items() if v != "unlabelled" and n > 0]
        rep["imbalance_train"][g] = round(max(present) / min(present), 2) if present else None
    return rep


def figures(probs: dict[str, np.ndarray], y: np.ndarray, pred: np.ndarray, title: str):
    """(confusion-matrix figure, precision-recall figure) as matplotlib figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    cms = confusion(y, pred)
    fig_cm, axes = plt.subplots(2, 3, figsize=(15, 9))
    for ax, g in zip(axes.ravel(), GROUPS):
        m = cms[g]
        ax.imshow(m, cmap="Blues")
        ax.set_title(f"{title}: {g}")
        names = ATTRIBUTES[g]
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7)
    fig_cm.tight_layout()
    fig_pr, axes = plt.subplots(2, 3, figsize=(15, 9))
    for ax, (k, g) in zip(axes.ravel(), enumerate(GROUPS)):
        mask = y[:, k] >= 0
        for c, v in enumerate(ATTRIBUTES[g]):
            truth = y[mask, k] == c
            if truth.any():
                prec, rec, _ = precision_recall_curve(truth, probs[g][mask, c])
                ax.plot(rec, prec, label=v)
        ax.set_title(f"{title}: {g}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.legend(fontsize=7)
    fig_pr.tight_layout()
    return fig_cm, fig_pr


def majority_floor(y_train: np.ndarray, y: np.ndarray) -> dict:
    """The report of a tagger that answers every group's most common training value for every image: the floor."""
    probs = {}
    for k, g in enumerate(GROUPS):
        labelled = y_train[y_train[:, k] >= 0, k]
        top = int(np.bincount(labelled, minlength=len(ATTRIBUTES[g])).argmax()) if len(labelled) else 0
        probs[g] = np.zeros((len(y), len(ATTRIBUTES[g])), np.float32)
        probs[g][:, top] = 1.0
    return report(probs, y, {})
