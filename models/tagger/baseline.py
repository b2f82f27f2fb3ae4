"""The scikit-learn tagger baseline: HOG and colour histograms, one class-weighted logistic regression per group.

Features of a 64 px RGB image: OpenCV HOG of the grey image (16 px blocks, 8 px cells and stride, 9 bins) for shape
(hair length, glasses, mouth), and joint hue-saturation histograms plus a value histogram over a 2x2 grid for colour
(hair, eyes, blush). Each group's C is chosen on the validation split. The fitted model is kept as arrays + JSON
(scaler mean and scale, coefficients, intercepts): it is applied with numpy, and nothing is pickled.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from core.names import ATTRIBUTES, GROUPS
from models.tagger.grid import choose_C

HOG = dict(win=64, block=16, stride=8, cell=8, bins=9)


def _hog() -> cv2.HOGDescriptor:
    w, b, s, c = HOG["win"], HOG["block"], HOG["stride"], HOG["cell"]
    return cv2.HOGDescriptor((w, w), (b, b), (s, s), (c, c), HOG["bins"])


def features(x: np.ndarray) -> np.ndarray:
    """uint8 [N, S, S, 3] RGB -> float32 [N, D]."""
    hog = _hog()
    out = []
    for img in x:
        if img.shape[0] != HOG["win"]:
            img = cv2.resize(img, (HOG["win"], HOG["win"]), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        h = hog.compute(grey).ravel()
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        parts = [h]
        half = HOG["win"] // 2
        for y in (0, half):
            for x0 in (0, half):
                cell = np.ascontiguousarray(hsv[y : y + half, x0 : x0 + half])
                hs = cv2.calcHist([cell], [0, 1], None, [12, 4], [0, 180, 0, 256]).ravel()
                v = cv2.calcHist([cell], [2], None, [8], [0, 256]).ravel()
                parts += [hs / (half * half), v / (half * half)]
        out.append(np.concatenate(parts).astype(np.float32))
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


class LinearTagger:
    """Standardise, then per group softmax(x W + b); the arrays are the whole model."""

    def __init__(
        self, mean: np.ndarray, scale: np.ndarray, coef: dict[str, np.ndarray], bias: dict[str, np.ndarray], info: dict
    ):
        self.mean, self.scale, self.coef, self.bias, self.info = mean, scale, coef, bias, info

    def probabilities_from_features(self, f: np.ndarray) -> dict[str, np.ndarray]:
        z = (f - self.mean) / self.scale
        out = {}
        for g in GROUPS:
            logits = z @ self.coef[g].T + self.bias[g]
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out[g] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def probabilities(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.probabilities_from_features(features(x))

    def save(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"mean": self.mean, "scale": self.scale}
        for g in GROUPS:
            arrays[f"coef_{g}"], arrays[f"bias_{g}"] = self.coef[g], self.bias[g]
        np.savez(folder / "arrays.npz", **arrays)
        (folder / "config.json").write_text(
            json.dumps({"kind": "hog-colour-logreg", "hog": HOG, **self.info}, indent=1)
        )

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> LinearTagger:
        folder = Path(folder)
        try:
            info = json.loads((folder / "config.json").read_text())
            with np.load(folder / "arrays.npz", allow_pickle=False) as z:
                coef = {g: z[f"coef_{g}"] for g in GROUPS}
                bias = {g: z[f"bias_{g}"] for g in GROUPS}
                return cls(z["mean"], z["scale"], coef, bias, info)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{folder}: not a baseline tagger bundle ({err})") from None


def fit(
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_val: np.ndarray,
    y_val: np.ndarray,
    Cs: list[float],
    max_iter: int,
    seed: int,
    widen: int = 3,
) -> LinearTagger:
    """One multinomial logistic regression per group, class_weight balanced, C picked by validation macro-F1 from
    `Cs`, the grid widened until the choice is interior, `widen` decades a side at most (models/tagger/grid.py)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    mean = f_train.mean(axis=0)
    scale = f_train.std(axis=0)
    scale[scale < 1e-6] = 1.0
    zt, zv = (f_train - mean) / scale, (f_val - mean) / scale
    coef, bias, chosen = {}, {}, {}
    interior: dict[str, bool | None] = {}
    tried: dict[str, str] = {}
    for k, g in enumerate(GROUPS):
        n_cls = len(ATTRIBUTES[g])
        mt, mv = y_train[:, k] >= 0, y_val[:, k] >= 0
        seen = np.unique(y_train[mt, k])
        if len(seen) < 2:  # no label, or one value only: nothing to fit; predict that value, or nothing known
            w = np.zeros((n_cls, zt.shape[1]), np.float64)
            b = np.zeros(n_cls) if len(seen) == 0 else np.where(np.arange(n_cls) == seen[0], 0.0, -1e9)
            coef[g], bias[g], chosen[g], interior[g] = w, b, None, None
            continue

        def fit_one(C: float, mt=mt, mv=mv, k=k):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced", random_state=seed)
                m.fit(zt[mt], y_train[mt, k])
            return (f1_score(y_val[mv, k], m.predict(zv[mv]), average="macro") if mv.any() else 0.0), m

        choice = choose_C(fit_one, Cs, widen)
        C, m = choice.C, choice.model
        interior[g], tried[g] = choice.interior, ", ".join(f"{c:g}" for c in choice.scores)
        w = np.zeros((n_cls, zt.shape[1]), np.float64)
        b = np.full(n_cls, -1e9)  # a class never seen in training is never predicted
        if len(m.classes_) == 2 and n_cls >= 2:  # sklearn keeps one row for two classes: logit(c1) - logit(c0)
            w[m.classes_[1]], b[m.classes_[1]] = m.coef_[0], m.intercept_[0]
            w[m.classes_[0]], b[m.classes_[0]] = 0.0, 0.0
        else:
            w[m.classes_], b[m.classes_] = m.coef_, m.intercept_
        coef[g], bias[g], chosen[g] = w, b, C
    info = {"C_by_group": chosen, "C_interior_by_group": interior, "C_tried_by_group": tried}
    return LinearTagger(mean, scale, coef, bias, {**info, "dim": int(zt.shape[1])})
