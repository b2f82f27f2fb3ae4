"""The headline figures and their targets, written once: the `summary` stage's metrics/summary.json (the small file
`dvc exp show` and `dvc metrics diff` read), the README's results table and each model page's targets list
(tools/results.py) all come from `TARGETS` here.

    python -m stages.summary      # metrics/summary.json from metrics/*.json (a DVC stage, after evaluate)

The targets are the `cpu` profile's. `summary(m)` gives each target's test figure under its `key`, how many targets
are met and which are missed, and the served generator: at most `MAX_FIGURES` figures, so that `dvc exp show` stays
readable; the full files (metrics/<stage>.json) are beside it, e.g. `dvc metrics diff --targets metrics/dcgan.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DASH = "–"
MAX_FIGURES = 40
SUMMARY = "summary"  # metrics/summary.json's stage name, left out of what it summarises


# --- reading ---------------------------------------------------------------------------------------------------


class Metrics:
    """metrics/<stage>.json of one folder; `m["dcgan.dcgan.fd_tagger"]` is that figure or None when absent."""

    def __init__(self, folder: Path | None = None, files: list[Path] | None = None):
        """Every metrics/<stage>.json of `folder` but the summary itself, or exactly `files`."""
        if files is None:
            files = [p for p in sorted(Path(folder).glob("*.json")) if p.stem != SUMMARY]
        self.docs = {}
        for path in files:
            self.docs.update(json.loads(Path(path).read_text(encoding="utf-8")))

    def __getitem__(self, dotted: str):
        node = self.docs
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


# --- formatting the bars ---------------------------------------------------------------------------------------


def num(v, digits: int = 3, sign: bool = False) -> str:
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:+,.{digits}f}" if sign else f"{v:,.{digits}f}"


# --- the targets -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One figure with its bar: `value(m)` gives (test, validation, note), `bound(m)` the bar's number; `key` is its
    name in metrics/summary.json."""

    key: str
    model: str
    label: str
    op: str  # ">=", "<=", "<", ">"
    bound: Callable[[Metrics], float | None]
    text: Callable[[Metrics], str]
    value: Callable[[Metrics], tuple]
    page: str
    digits: int = 3
    sign: bool = False
    optional: bool = False  # left out while its figure is not in the metrics

    def present(self, m: Metrics) -> bool:
        return self.value(m)[0] is not None

    def met(self, m: Metrics) -> bool | None:
        """Whether the test figure meets the bar; None while either is missing."""
        test, bound = self.value(m)[0], self.bound(m)
        if test is None or bound is None:
            return None
        return {">=": test >= bound, "<=": test <= bound, "<": test < bound, ">": test > bound}[self.op]

    def status(self, m: Metrics) -> str:
        ok = self.met(m)
        return DASH if ok is None else ("met" if ok else "**missed**")


def _const(x: float) -> Callable[[Metrics], float]:
    return lambda m: x


def _pair(stage_model: str, figure: str) -> Callable[[Metrics], tuple]:
    return lambda m: (m[f"{stage_model}.{figure}"], m[f"{stage_model}.val_{figure}"], "")


def _kind(kind: str) -> Callable[[Metrics], tuple]:
    return lambda m: (
        m[f"pose.posenet.pck_0_05_by_kind.{kind}"],
        m[f"pose.posenet.val_pck_0_05_by_kind.{kind}"],
        "",
    )


def _chosen_tagger(m: Metrics) -> tuple:
    chosen = m["tagger.chosen"] or "cnn"
    return m[f"tagger.{chosen}.macro_f1"], m[f"tagger.{chosen}.val_macro_f1"], f"(`{chosen}`)"


def _lowest_ratio(m: Metrics) -> tuple:
    test, val = m["dcgan.dcgan.cond_vs_tagger_by_group"], m["dcgan.dcgan.val_cond_vs_tagger_by_group"]
    if not test:
        return None, None, ""
    g = min(test, key=test.get)
    note = f"({g}"
    if val:
        gv = min(val, key=val.get)
        note += f"; validation: {gv})" if gv != g else ")"
        return test[g], val[gv], note
    return test[g], None, note + ")"


def _lowest_slider(stage_model: str) -> Callable[[Metrics], tuple]:
    def value(m: Metrics) -> tuple:
        test, val = m[f"{stage_model}.control_success_by_tag"], m[f"{stage_model}.val_control_success_by_tag"]
        if not test:
            return None, None, ""
        t = min(test, key=test.get)
        if not val:
            return test[t], None, f"(`{t}`)"
        v = min(val, key=val.get)
        return test[t], val[v], f"(`{t}`" + (f"; validation: `{v}`)" if v != t else ")")

    return value


def _retrieval(m: Metrics) -> tuple:
    """The better of exact `retrieval_top1` (the query's own projection first) and `retrieval_pose_top1` (a
    reference in the query's pose first), each split on its own; both named in the note. Records from before the
    pose-level figure give the exact one alone."""
    exact, val_exact = m["pose.posenet.retrieval_top1"], m["pose.posenet.val_retrieval_top1"]
    pose, val_pose = m["pose.posenet.retrieval_pose_top1"], m["pose.posenet.val_retrieval_pose_top1"]
    if pose is None or exact is None:
        return exact, val_exact, ""
    val = max(val_exact, val_pose) if val_exact is not None and val_pose is not None else val_exact
    return max(exact, pose), val, f"(exact {num(exact)}, pose-level {num(pose)})"


def _half_baseline(m: Metrics) -> float | None:
    base = m["dcgan.pca_gaussian.fd_tagger"]
    return None if base is None else base / 2


TARGETS: tuple[Target, ...] = (
    Target(
        "data_pixel_macro_f1",
        "generated data set",
        "linear model on raw pixels, macro-F1 (`pixel_baseline`)",
        "<",
        _const(0.85),
        lambda m: "below 0.85: the set is not trivial",
        _pair("pixel_baseline.pixel_linear", "macro_f1"),
        "data.md",
    ),
    Target(
        "tagger_macro_f1",
        "`anime-tagger`",
        "macro-F1 of the chosen model",
        ">=",
        _const(0.95),
        lambda m: "≥ 0.95",
        _chosen_tagger,
        "tagger.md",
    ),
    Target(
        "posenet_pck_stick",
        "`anime-posenet`",
        "`pck_0_05`, stick figures",
        ">=",
        _const(0.95),
        lambda m: "≥ 0.95",
        _kind("stick"),
        "posenet.md",
    ),
    Target(
        "posenet_pck_sketch",
        "`anime-posenet`",
        "`pck_0_05`, sketches",
        ">=",
        _const(0.85),
        lambda m: "≥ 0.85",
        _kind("sketch"),
        "posenet.md",
    ),
    Target(
        "posenet_pck_drawn",
        "`anime-posenet`",
        "`pck_0_05`, hand-drawn-style figures",
        ">=",
        _const(0.9),
        lambda m: "≥ 0.9",
        _kind("drawn"),
        "posenet.md",
        optional=True,
    ),
    Target(
        "posenet_retrieval_top1",
        "`anime-posenet`",
        "retrieval top-1 among the split's projections: exact, or pose-level where measured",
        ">=",
        _const(0.9),
        lambda m: "≥ 0.9 (either)",
        _retrieval,
        "posenet.md",
    ),
    Target(
        "dcgan_fd_tagger",
        "`anime-dcgan`",
        "`fd_tagger` ↓",
        "<=",
        _half_baseline,
        lambda m: f"≤ {num(_half_baseline(m))}: half the PCA-Gaussian baseline's",
        _pair("dcgan.dcgan", "fd_tagger"),
        "dcgan.md",
    ),
    Target(
        "dcgan_precision",
        "`anime-dcgan`",
        "`precision`",
        ">=",
        _const(0.5),
        lambda m: "≥ 0.5",
        _pair("dcgan.dcgan", "precision"),
        "dcgan.md",
    ),
    Target(
        "dcgan_recall",
        "`anime-dcgan`",
        "`recall`",
        ">=",
        _const(0.25),
        lambda m: "≥ 0.25",
        _pair("dcgan.dcgan", "recall"),
        "dcgan.md",
    ),
    Target(
        "dcgan_tag_tv",
        "`anime-dcgan`",
        "`tag_tv` ↓",
        "<=",
        _const(0.2),
        lambda m: "≤ 0.2",
        _pair("dcgan.dcgan", "tag_tv"),
        "dcgan.md",
    ),
    Target(
        "dcgan_cond_accuracy",
        "`anime-dcgan`",
        "`cond_accuracy`",
        ">=",
        _const(0.8),
        lambda m: "≥ 0.8",
        _pair("dcgan.dcgan", "cond_accuracy"),
        "dcgan.md",
    ),
    Target(
        "dcgan_lowest_cond_ratio",
        "`anime-dcgan`",
        "lowest group's `cond_accuracy` / the tagger's accuracy",
        ">=",
        _const(0.9),
        lambda m: "≥ 0.9 in every group",
        _lowest_ratio,
        "dcgan.md",
    ),
    Target(
        "dcgan_control_success",
        "`anime-dcgan`",
        "`control_success` of the sliders (mean)",
        ">=",
        _const(0.8),
        lambda m: "≥ 0.8",
        _pair("dcgan.dcgan", "control_success"),
        "dcgan.md",
        optional=True,
    ),
    Target(
        "dcgan_lowest_slider",
        "`anime-dcgan`",
        "lowest slider's `control_success`",
        ">=",
        _const(0.5),
        lambda m: "≥ 0.5 for every slider",
        _lowest_slider("dcgan.dcgan"),
        "dcgan.md",
        optional=True,
    ),
    Target(
        "stylegan_fd_tagger",
        "`anime-stylegan`",
        "`fd_tagger` ↓",
        "<=",
        _half_baseline,
        lambda m: f"≤ {num(_half_baseline(m))}: half the PCA-Gaussian baseline's",
        _pair("stylegan.stylegan", "fd_tagger"),
        "stylegan.md",
    ),
    Target(
        "stylegan_recall",
        "`anime-stylegan`",
        "`recall`",
        ">=",
        _const(0.25),
        lambda m: "≥ 0.25",
        _pair("stylegan.stylegan", "recall"),
        "stylegan.md",
    ),
    Target(
        "stylegan_control_success",
        "`anime-stylegan`",
        "`control_success` of the sliders (mean)",
        ">=",
        _const(0.8),
        lambda m: "≥ 0.8",
        _pair("stylegan.stylegan", "control_success"),
        "stylegan.md",
    ),
    Target(
        "stylegan_lowest_slider",
        "`anime-stylegan`",
        "lowest slider's `control_success`",
        ">=",
        _const(0.5),
        lambda m: "≥ 0.5 for every slider",
        _lowest_slider("stylegan.stylegan"),
        "stylegan.md",
    ),
    Target(
        "sr_psnr_gain_db",
        "`anime-sr`",
        "`psnr_gain_vs_bicubic_db`",
        ">=",
        _const(1.5),
        lambda m: "≥ +1.5 dB",
        lambda m: (
            m["sr.sr.psnr_gain_vs_bicubic_db"],
            m["sr.sr.val_psnr_gain_vs_bicubic_db"],
            f"dB ({m['sr.sr.size'] // 4} → {m['sr.sr.size']} px)" if m["sr.sr.size"] else "dB",
        ),
        "sr.md",
        digits=2,
        sign=True,
    ),
    Target(
        "pose2sketch_pck",
        "`anime-pose2sketch`",
        "`pck_0_05` (posenet reads the sketch)",
        ">=",
        _const(0.7),
        lambda m: "≥ 0.7",
        _pair("pose2sketch.pose2sketch", "pck_0_05"),
        "pose2sketch.md",
    ),
    Target(
        "pose2sketch_l1",
        "`anime-pose2sketch`",
        "`l1` ↓",
        "<",
        lambda m: m["pose2sketch.retrieval.l1"],
        lambda m: f"< {num(m['pose2sketch.retrieval.l1'])}: the retrieval baseline's",
        _pair("pose2sketch.pose2sketch", "l1"),
        "pose2sketch.md",
    ),
    Target(
        "pose2sketch_ssim",
        "`anime-pose2sketch`",
        "`ssim`",
        ">",
        lambda m: m["pose2sketch.retrieval.ssim"],
        lambda m: f"> {num(m['pose2sketch.retrieval.ssim'])}: the retrieval baseline's",
        _pair("pose2sketch.pose2sketch", "ssim"),
        "pose2sketch.md",
    ),
)


def summary(m: Metrics) -> dict:
    """metrics/summary.json's section: each target's test figure, the count met, the missed ones' keys, the served
    generator."""
    shown = [t for t in TARGETS if t.present(m) or not t.optional]
    out: dict = {t.key: t.value(m)[0] for t in shown}
    verdicts = {t.key: t.met(m) for t in shown}
    out["targets"] = len(shown)
    out["targets_met"] = sum(1 for v in verdicts.values() if v)
    out["targets_missed"] = ", ".join(k for k, v in verdicts.items() if v is False)
    out["served_generator"] = m["evaluate.serving_generator"]
    if len(out) > MAX_FIGURES:
        raise ValueError(
            f"metrics/summary.json would hold {len(out)} figures; dvc exp show reads at most {MAX_FIGURES}"
        )
    return out
