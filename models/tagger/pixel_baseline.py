"""A linear model on raw pixels, one logistic regression per attribute group.

It is the yardstick of how hard the data set is: if raw pixels fed to a linear model already tag it well, the data
set teaches nothing. Macro-F1 here is the mean over attribute groups of each group's macro-F1 over its classes
(classes present in the test labels), the same definition the taggers report.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from core.names import GROUPS
from models.tagger.grid import choose_C


def macro_f1_by_group(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Per-group macro-F1 over labelled rows (label >= 0); y arrays are [N, len(GROUPS)] class indices."""
    out = {}
    for g, name in enumerate(GROUPS):
        mask = y_true[:, g] >= 0
        if mask.sum() == 0:
            continue
        labels = np.unique(y_true[mask, g])
        out[name] = float(f1_score(y_true[mask, g], y_pred[mask, g], labels=labels, average="macro", zero_division=0))
    return out


def fit_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    Cs: list[float],
    max_iter: int,
    seed: int,
    widen: int = 3,
) -> tuple[np.ndarray, np.ndarray, dict[str, float], dict[str, dict]]:
    """One multinomial logistic regression per group on flattened, standardised pixels.

    Each group's C is the one with the best validation macro-F1 (the test split is never looked at), from `Cs`
    widened until the choice is interior, `widen` decades a side at most (models/tagger/grid.py).
    x: uint8 [N, S, S, 3]; y: [N, len(GROUPS)] (-1 = unlabelled, skipped).
    Returns (test predictions [M, len(GROUPS)], validation predictions, chosen C per group, per group the values
    tried and whether the choice is interior).
    """
    scaler = StandardScaler()
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    xtr = scaler.fit_transform(flat(x_train))
    xva, xte = scaler.transform(flat(x_val)), scaler.transform(flat(x_test))
    pred = np.full((len(x_test), len(GROUPS)), -1, np.int64)
    pred_val = np.full((len(x_val), len(GROUPS)), -1, np.int64)
    chosen: dict[str, float] = {}
    grid: dict[str, dict] = {}
    for g, name in enumerate(GROUPS):
        mask = y_train[:, g] >= 0
        classes = np.unique(y_train[mask, g])
        if len(classes) < 2:
            pred[:, g] = pred_val[:, g] = classes[0] if len(classes) else -1
            continue
        vmask = y_val[:, g] >= 0

        def fit_one(C: float, mask=mask, vmask=vmask, g=g):
            clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
            with warnings.catch_warnings():  # a bounded iteration count is the point of a cheap baseline
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(xtr[mask], y_train[mask, g])
            if not vmask.any():
                return 0.0, clf
            labels = np.unique(y_val[vmask, g])
            return f1_score(
                y_val[vmask, g], clf.predict(xva[vmask]), labels=labels, average="macro", zero_division=0
            ), clf

        choice = choose_C(fit_one, Cs, widen)
        chosen[name] = choice.C
        grid[name] = {"interior": choice.interior, "tried": ", ".join(f"{c:g}" for c in choice.scores)}
        pred[:, g] = choice.model.predict(xte)
        pred_val[:, g] = choice.model.predict(xva)
    return pred, pred_val, chosen, grid
