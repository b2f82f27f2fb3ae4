"""Annotators' extra groups (`label.extra_groups`, e.g. {hat: [no, yes]}) as tagger heads.

The label stage writes a column per extra group into data/label/tags.csv (the annotators' consensus; empty where
nobody labelled it). Once a group has `tagger.extra_min_labels` labelled training images with at least two of its
values among them, the tagger stage fits a head for it: a class-weighted logistic regression on the tagger CNN's
features (the `cnn` role, standardised), its C chosen on the validation split's labels by macro-F1, scored on the
test split's. Until then the group waits, and the metrics say how many more training labels it needs.

A head auto-tags every image like the pipeline's groups do: its confidence floor is chosen on the validation labels
(evaluate.floor_entry, `tagger.auto_min_accuracy`), and below it the group is unknown for that image.

Each head is fitted a second time, the same way, on the judge CNN's features (`judge_heads`): the judge reads the
extra groups of generated images with its own network (models/tagger/extractor.load_judge), not with the head whose
auto-tags the generators trained on.

Written into the stage's folder (always, so that the train stage can depend on them; empty without extra groups):
- extra/heads.json (each group's values, C, floor; `groups` {} without a head) and, with a head, extra/heads.npz
  (mean, scale, coef_<group>, bias_<group>): arrays and JSON, nothing pickled;
- judge/extra/: the judge's heads, the same files;
- tags_extra.csv: per image, each extra group's best tag and where it came from (`annotation`, `auto` or
  `unknown`), and the head's reading with its confidence (`c:<group>`).

The generators condition on every extra group with a head, and have sliders for it (models/dcgan/conditions.py);
a group still waiting for labels is left out of them.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

import numpy as np

from core.atomic import write_json
from core.names import GROUPS
from models.tagger import evaluate
from models.tagger.net import TaggerNet, extract_features

C_GRID = (0.01, 0.1, 1.0)  # inverse L2 strengths; validation picks one per group


def read_extra(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """group -> {image id: value} for every extra group column of the label stage's tags.csv (the label stage has
    checked each value against `label.extra_groups`). Columns of the pipeline's own groups are not extra."""
    with open(Path(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        groups = [g for g in reader.fieldnames or [] if g not in ("id", "source", *GROUPS)]
        out: dict[str, dict[str, str]] = {g: {} for g in groups}
        for row in reader:
            for g in groups:
                if row[g]:
                    out[g][row["id"]] = row[g]
    return out


def values_of(group: str, labels: dict[str, str], declared: dict[str, list[str]]) -> list[str]:
    """The group's values: as `label.extra_groups` lists them, then any other a label holds, sorted."""
    listed = list(declared.get(group, []))
    return listed + sorted({v for v in labels.values() if v not in listed})


def _fit(f_tr: np.ndarray, y_tr: np.ndarray, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small C may stop before convergence; validation judges the result
        return LogisticRegression(C=C, max_iter=500, class_weight="balanced", random_state=seed).fit(f_tr, y_tr)


def _softmax_probs(model, f: np.ndarray, n_values: int) -> np.ndarray:
    """[N, n_values]: the head's probabilities, zero for values it never saw in training."""
    probs = np.zeros((len(f), n_values))
    probs[:, model.classes_] = model.predict_proba(f) if len(f) else np.zeros((0, len(model.classes_)))
    return probs


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float | None:
    from sklearn.metrics import f1_score

    if not len(y):
        return None
    return float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0))


def _best_head(z: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, seed: int):
    """(validation macro-F1, C, model): the head of C_GRID with the best validation macro-F1."""
    best = None
    for C in C_GRID:
        model = _fit(z[tr], y[tr], C, seed)
        score = macro_f1(y[va], model.predict(z[va])) if va.any() else 0.0
        if best is None or score > best[0]:
            best = (score, C, model)
    return best


def _head_arrays(model, n_values: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef [values, D], bias [values]) of a fitted head as a softmax over every value of its group."""
    coef = np.zeros((n_values, dim))
    bias = np.full(n_values, -1e9)  # a value never seen in training is never read
    if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes: softmax of (-w, w) / 2
        coef[model.classes_] = np.stack([-model.coef_[0], model.coef_[0]]) / 2
        bias[model.classes_] = np.array([-model.intercept_[0], model.intercept_[0]]) / 2
    else:
        coef[model.classes_], bias[model.classes_] = model.coef_, model.intercept_
    return coef, bias


def _standardised(net: TaggerNet, x_all: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    feats = extract_features(net, x_all)
    mean, scale = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    return (feats - mean) / scale, {"mean": mean, "scale": scale}


def save_heads(folder: Path, heads: dict, arrays: dict[str, np.ndarray]) -> None:
    """`folder`/extra/heads.json (and heads.npz when there is a head)."""
    (folder / "extra").mkdir(parents=True, exist_ok=True)
    if heads:
        np.savez(folder / "extra" / "heads.npz", **arrays)
    write_json(folder / "extra" / "heads.json", {"feature": "cnn", "groups": heads})


def write_no_heads(out: Path, ids: list[str], extra: dict[str, dict[str, str]]) -> None:
    """What a run that fits no head writes (no extra group, or a pinned tagger): heads.json without groups and
    tags_extra.csv with the annotators' tags alone."""
    save_heads(out, {}, {})
    (out / "tags_extra.csv").write_text(tags_extra_csv(ids, extra, {}), encoding="utf-8")


def run(
    params, net: TaggerNet, x_all: np.ndarray, rows: list[dict], extra: dict, out: Path, judge: TaggerNet | None = None
) -> dict:
    """Fit what the labels allow, auto-tag every image (manifest `rows`, `x_all` in their order) into `out`, and fit
    the same heads on the `judge` CNN's features into `out`/judge; the figures for metrics/tagger.json's
    `extra_groups` (flat: `<figure>_by_group` over the extra groups)."""
    tp = params.tagger
    declared = params.label.extra_groups
    split = np.array([r["split"] for r in rows])
    ids = [r["id"] for r in rows]
    if not extra:
        write_no_heads(out, ids, extra)
        return {"min_labels": tp.extra_min_labels}
    z, arrays = _standardised(net, x_all)
    figures: dict[str, dict] = {
        k: {}
        for k in (
            "train_labels_by_group",
            "labels_needed_by_group",
            "head_by_group",
            "val_macro_f1_by_group",
            "macro_f1_by_group",
            "judge_macro_f1_by_group",
            "floor_by_group",
            "trusted_share_by_group",
        )
    }
    heads, readings, labelled = {}, {}, {}
    for g, labels in extra.items():
        values = values_of(g, labels, declared)
        y = np.array([values.index(labels[i]) if i in labels else -1 for i in ids], np.int64)
        tr, va, te = ((y >= 0) & (split == s) for s in ("train", "val", "test"))
        n_train = int(tr.sum())
        ready = n_train >= tp.extra_min_labels and len(np.unique(y[tr])) >= 2
        figures["train_labels_by_group"][g] = n_train
        figures["labels_needed_by_group"][g] = max(0, tp.extra_min_labels - n_train) if not ready else 0
        figures["head_by_group"][g] = ready
        for k in (
            "val_macro_f1_by_group",
            "macro_f1_by_group",
            "judge_macro_f1_by_group",
            "floor_by_group",
            "trusted_share_by_group",
        ):
            figures[k][g] = None
        if not ready:
            continue
        val_f1, C, model = _best_head(z, y, tr, va, params.seed)
        probs = _softmax_probs(model, z, len(values))
        pred = probs.argmax(axis=1)
        conf = probs[np.arange(len(pred)), pred]
        floor = evaluate.floor_entry(conf[va], pred[va] == y[va], tp.auto_min_accuracy)
        trusted = conf >= floor["floor"] if floor["floor"] is not None else np.zeros(len(pred), bool)
        arrays[f"coef_{g}"], arrays[f"bias_{g}"] = _head_arrays(model, len(values), z.shape[1])
        heads[g] = {"values": values, "C": C, "floor": floor}
        readings[g] = (values, y, pred, conf, trusted)
        labelled[g] = (values, y, tr, va, te)
        figures["val_macro_f1_by_group"][g] = val_f1 if va.any() else None
        figures["macro_f1_by_group"][g] = macro_f1(y[te], pred[te])
        figures["floor_by_group"][g] = floor["floor"]
        figures["trusted_share_by_group"][g] = float(trusted.mean())
    save_heads(out, heads, arrays)
    if judge is not None and heads:
        figures["judge_macro_f1_by_group"].update(judge_heads(judge, x_all, labelled, out / "judge", params.seed))
    (out / "tags_extra.csv").write_text(tags_extra_csv(ids, extra, readings), encoding="utf-8")
    return {"min_labels": tp.extra_min_labels, **figures}


def judge_heads(judge: TaggerNet, x_all: np.ndarray, labelled: dict, folder: Path, seed: int) -> dict:
    """Fit each ready group's head on the judge CNN's features (the same procedure: C on validation) into
    `folder`/extra; each head's test macro-F1. `labelled`: group -> (values, labels, train, val, test masks)."""
    z, arrays = _standardised(judge, x_all)
    heads, scores = {}, {}
    for g, (values, y, tr, va, te) in labelled.items():
        _, C, model = _best_head(z, y, tr, va, seed)
        arrays[f"coef_{g}"], arrays[f"bias_{g}"] = _head_arrays(model, len(values), z.shape[1])
        heads[g] = {"values": values, "C": C}
        scores[g] = macro_f1(y[te], model.predict(z[te]))
    save_heads(folder, heads, arrays)
    return scores


def tags_extra_csv(ids: list[str], extra: dict[str, dict[str, str]], readings: dict) -> str:
    """Per image and extra group: its best tag (the annotators', else a trusted reading of its head, else empty),
    where it came from, and the head's reading with its confidence (empty for a group without a head)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    groups = list(extra)
    w.writerow(["id", *groups, *(f"from:{g}" for g in groups), *(f"auto:{g}" for g in groups)]
               + [f"c:{g}" for g in groups])  # fmt: skip
    for i, ref in enumerate(ids):
        best, whence, auto, confs = [], [], [], []
        for g in groups:
            if g in readings:
                values, _, pred, conf, trusted = readings[g]
                auto.append(values[pred[i]])
                confs.append(f"{conf[i]:.4f}")
            else:
                auto.append("")
                confs.append("")
            if ref in extra[g]:
                best.append(extra[g][ref])
                whence.append("annotation")
            elif g in readings and readings[g][4][i]:
                best.append(auto[-1])
                whence.append("auto")
            else:
                best.append("")
                whence.append("unknown")
        w.writerow([ref, *best, *whence, *auto, *confs])
    return buf.getvalue()


def load_heads(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(heads.json's groups, the arrays) of a stage folder's extra/."""
    import json

    info = json.loads((folder / "extra" / "heads.json").read_text(encoding="utf-8"))
    if not info["groups"]:
        return {}, {}
    with np.load(folder / "extra" / "heads.npz") as f:
        return info["groups"], {k: f[k] for k in f.files}


def probabilities(heads: dict, arrays: dict[str, np.ndarray], feats: np.ndarray) -> dict[str, np.ndarray]:
    """Each head's probabilities for CNN features `feats` [N, D], with numpy only (what a bundle reader needs)."""
    z = (feats - arrays["mean"]) / arrays["scale"]
    out = {}
    for g in heads:
        logits = z @ arrays[f"coef_{g}"].T + arrays[f"bias_{g}"]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out[g] = e / e.sum(axis=1, keepdims=True)
    return out
