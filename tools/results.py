"""The results tables of README.md and docs/, generated from the committed metrics (metrics/*.json).

Each table sits between two marker comments in a Markdown file:

    <!-- results:dcgan:begin (python -m tools.results --write) -->
    ...
    <!-- results:dcgan:end -->

`python -m tools.results` checks that every table is what the metrics give (exit 1 naming the files that differ);
`python -m tools.results --write` rewrites them. Run it after a pipeline run changed `metrics/`, and commit the
pages with the metrics. tests/docs/test_results_tables.py runs the check.

The targets are the `cpu` profile's, written once in core/headline.py: the summary table, the model pages and the
`summary` stage's metrics/summary.json all read them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from core.headline import DASH, TARGETS, Metrics, Target, num

REPO = Path(__file__).resolve().parent.parent
GROUPS = ("hair_color", "hair_length", "eye_color", "glasses", "smile", "blush")  # core/names.py's order
LOWER_IS_BETTER = {"fd_tagger", "kid_tagger", "ndb_ratio", "tag_tv", "l1"}
MARKER = re.compile(
    r"(?P<begin><!-- results:(?P<key>[a-z0-9_-]+):begin[^>]*-->\n)(?P<body>.*?)(?P<end><!-- results:(?P=key):end -->)",
    re.S,
)


# --- formatting ------------------------------------------------------------------------------------------------


def tv(test, val, digits: int = 3, sign: bool = False) -> str:
    """A test figure with its validation twin in brackets."""
    if val is None:
        return num(test, digits, sign)
    return f"{num(test, digits, sign)} [{num(val, digits, sign)}]"


def figure_cell(m: Metrics, section: str, figure: str) -> str:
    """A generator figure of `section`: test [validation], or the one figure of a split-free one (records made
    before it was reported once have an equal validation twin, not shown)."""
    from models.metrics.generators import SPLIT_FREE

    if figure in SPLIT_FREE:
        return num(m[f"{section}.{figure}"])
    return tv(m[f"{section}.{figure}"], m[f"{section}.val_{figure}"])


def duration(seconds) -> str:
    if seconds is None:
        return DASH
    s = round(seconds)
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def arrow(figure: str) -> str:
    from models.metrics.generators import SPLIT_FREE

    name = f"`{figure}` ↓" if figure in LOWER_IS_BETTER else f"`{figure}`"
    return f"{name} (no split's images enter it: one figure)" if figure in SPLIT_FREE else name


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def by_group(d: dict | None, digits: int = 3) -> str:
    if not d:
        return DASH
    return ", ".join(f"{g} {num(d[g], digits)}" for g in GROUPS if g in d)


def shown(t: Target, m: Metrics) -> str:
    """A target's test figure with its validation twin in brackets, and its note."""
    test, val, note = t.value(m)
    s = tv(test, val, t.digits, t.sign)
    return f"{s} {note}" if note else s


def targets_of(page: str, m: Metrics) -> list[Target]:
    return [t for t in TARGETS if t.page == page and (t.present(m) or not t.optional)]


def target_lines(page: str, m: Metrics) -> list[str]:
    """The page's targets as a list under its table: `- figure: value, target: met`."""
    lines = ["", "Targets (`cpu` profile, test split):", ""]
    for t in targets_of(page, m):
        lines.append(f"- {t.label}: {num(t.value(m)[0], t.digits, t.sign)}, target {t.text(m)}: {t.status(m)}")
    return lines


# --- the tables ------------------------------------------------------------------------------------------------


def summary(m: Metrics) -> list[str]:
    rows = [[t.model, t.label, shown(t, m), t.text(m), t.status(m)] for t in TARGETS if t.present(m) or not t.optional]
    out = table(["model", "figure", "test [validation]", "target", ""], rows)
    served = m["evaluate.serving_generator"]
    if served:
        out += ["", f"Served generator: `{served}` (the `evaluate` stage's choice)."]
    return out


def data(m: Metrics) -> list[str]:
    splits = m["ingest.images_by_split"] or {}
    split_text = ", ".join(f"{k} {num(splits[k])}" for k in ("train", "val", "test") if k in splits)
    reasons = m["ingest.rejected_by_reason"] or {}
    reason_text = ", ".join(f"`{k}` {num(v)}" for k, v in sorted(reasons.items()))
    poses = m["render.poses_by_split"] or {}
    pose_text = ", ".join(f"{k} {num(poses[k])}" for k in ("train", "val", "test") if k in poses)
    px = "pixel_baseline.pixel_linear"
    rows = [
        ["files read (`ingest`, layout `" + str(m["ingest.layout"]) + "`)", num(m["ingest.files"])],
        ["images kept", f"{num(m['ingest.images'])} ({split_text})"],
        *(
            [
                f"images from `{spec}` (of them tagged)",
                f"{num(n)} ({num((m['ingest.tagged_by_source'] or {}).get(spec))})",
            ]
            for spec, n in (m["ingest.images_by_source"] or {}).items()
        ),
        ["rejected", f"{num(m['ingest.rejected'])}" + (f" ({reason_text})" if reason_text else "")],
        ["groups (a character or identical perceptual hash: one split each)", num(m["ingest.groups"])],
        [
            "poses (`render`)",
            f"{num(m['render.poses'])} ({pose_text}), {num(m['render.images'])} images at {num(m['render.size'])} px",
        ],
        ["pictures of the pose project's own source (`pose_import`)", num(m["pose_import.images"])],
        ["linear model on raw pixels: macro-F1, test [validation]", tv(m[f"{px}.macro_f1"], m[f"{px}.val_macro_f1"])],
        ["the same per group (test)", by_group(m[f"{px}.macro_f1_by_group"])],
    ]
    return table(["figure", "value"], rows) + target_lines("data.md", m)


def tagger(m: Metrics) -> list[str]:
    chosen = m["tagger.chosen"]
    rows = []
    for key, name in (
        ("tagger.cnn", "CNN (`cnn`)"),
        ("tagger.judge", "judge CNN (`judge`)"),
        ("tagger.hog_baseline", "HOG + colour baseline (`hog_baseline`)"),
        ("pixel_baseline.pixel_linear", "linear model on raw pixels (`pixel_baseline`)"),
        ("tagger.floor", "`floor`: each group's most common training value"),
    ):
        if m[key] is None:
            continue
        if key == f"tagger.{chosen}":
            name += ", champion"
        groups = m[f"{key}.macro_f1_by_group"] or {}
        seconds = m[f"{key}.train_seconds"] or m[f"{key}.seconds"]
        training = duration(seconds) if seconds is not None else ""
        if m[f"{key}.epochs_done"] is not None:
            training += f" ({m[f'{key}.epochs_done']} epochs)"
        speed = m[f"{key}.inference_images_per_s"]
        rows.append(
            [name, num(m[f"{key}.val_macro_f1"]), num(m[f"{key}.macro_f1"])]
            + [num(groups.get(g)) for g in GROUPS]
            + [training, f"{speed:,.0f} images/s" if speed else ""]
        )
    header = ["model", "validation macro-F1", "test macro-F1"] + [f"`{g}`" for g in GROUPS] + ["training", "inference"]
    data_line = (
        f"Test split: {num(m['tagger.data.test_images'])} images; training {num(m['tagger.data.train_images'])}, "
        f"validation {num(m['tagger.data.val_images'])}; per-group figures are test macro-F1."
    )
    return table(header, rows) + ["", data_line] + target_lines("tagger.md", m)


def posenet(m: Metrics) -> list[str]:
    p, j, f = "pose.posenet", "pose.joints_embedding", "pose.floor"
    rows = []
    for kind in ("stick", "sketch", "projection", "drawn"):
        if kind == "drawn" and m[f"{p}.pck_0_05_by_kind.drawn"] is None:
            continue  # a record from before the hand-drawn kind
        rows.append(
            [
                f"`pck_0_05`, {kind}",
                num(m[f"{p}.val_pck_0_05_by_kind.{kind}"]),
                num(m[f"{p}.pck_0_05_by_kind.{kind}"]),
                "",
                "",
                num(m[f"{f}.pck_0_05_by_kind.{kind}"]),
            ]
        )
    rows.append(["`pck_0_05`, mean of the kinds", num(m[f"{p}.val_pck_0_05"]), num(m[f"{p}.pck_0_05"]), "", "", ""])
    err = m[f"{p}.px_error_by_kind"] or {}
    rows.append(
        [
            "mean joint error, px (stick / sketch / projection)",
            "",
            " / ".join(num(err.get(k), 2) for k in ("stick", "sketch", "projection")),
            "",
            "",
            "",
        ]
    )
    rows.append(["`pck_0_05` of the re-drawn retrieval queries", "", num(m[f"{p}.pck_0_05_queries"]), "", "", ""])
    rows.append(
        [
            f"`retrieval_top1` ({num(m[f'{p}.val_retrieval_candidates'])} validation / "
            f"{num(m[f'{p}.retrieval_candidates'])} test projections)",
            num(m[f"{p}.val_retrieval_top1"]),
            num(m[f"{p}.retrieval_top1"]),
            num(m[f"{j}.val_retrieval_top1"]),
            num(m[f"{j}.retrieval_top1"]),
            num(m[f"{f}.retrieval_top1"], 4),
        ]
    )
    if m[f"{p}.retrieval_pose_top1"] is not None:  # records from before the pose-level figures have none
        for figure, label, digits in (
            ("retrieval_pose_top1", "`retrieval_pose_top1` (the reference is in the query's pose)", 3),
            ("retrieval_pose_error_px", "`retrieval_pose_error_px` (the reference's joints to the query's) ↓", 2),
        ):
            rows.append([label, num(m[f"{p}.val_{figure}"], digits), num(m[f"{p}.{figure}"], digits), "", "", ""])
    e = "pose.embedding_nearest"
    if m[f"{e}.retrieval_top1"] is not None:  # records from before the re-ranking have the embedding's alone
        for figure, label in (("retrieval_top1", "exact"), ("retrieval_pose_top1", "pose-level")):
            name = f"{label} top-1, the embedding's nearest alone (`embedding_nearest`)"
            rows.append([name, num(m[f"{e}.val_{figure}"]), num(m[f"{e}.{figure}"]), "", "", ""])
    rows.append(
        [
            f"`retrieval_top1_at_val_size` ({num(m[f'{p}.val_retrieval_candidates'])} test projections)",
            "",
            num(m[f"{p}.retrieval_top1_at_val_size"]),
            "",
            num(m[f"{j}.retrieval_top1_at_val_size"]),
            "",
        ]
    )
    rows.append(
        [
            f"`retrieval_top1_all` (all {num(m[f'{p}.index_size'])} projections)",
            "",
            num(m[f"{p}.retrieval_top1_all"]),
            "",
            "",
            "",
        ]
    )
    header = [
        "figure",
        "posenet, validation",
        "posenet, test",
        "`joints_embedding`, validation",
        "test",
        "`floor` (test)",
    ]
    origins = m[f"{p}.train_images_by_origin"] or {}
    run = (
        f"posenet v{m[f'{p}.version']}: {m[f'{p}.epochs_done']} epochs at {m[f'{p}.size']} px on "
        f"{num(m[f'{p}.train_images'])} training images ("
        + ", ".join(f"{k} {num(v)}" for k, v in sorted(origins.items()))
        + f") in {duration(m[f'{p}.train_seconds'])}; stopped by its budget: {num(m[f'{p}.stopped_by_budget'])}; "
        f"inference {num(m[f'{p}.inference_images_per_s'], 0)} images/s."
    )
    if m[f"{p}.retrieval_k"] is not None:
        run += (
            f" A reference is the embedding's {num(m[f'{p}.retrieval_k'])} nearest projections put in order by "
            f"embedding distance + {m[f'{p}.retrieval_weight']:g} × the joint distance to the query's joints as "
            f"posenet reads them (the projections' joints: {m[f'{p}.retrieval_joints']})."
        )
    return table(header, rows) + ["", run] + target_lines("posenet.md", m)


def _gan_run_line(prefix: str, name: str, m: Metrics) -> str:
    return (
        f"{name} v{m[f'{prefix}.version']}: {num(m[f'{prefix}.steps_done'])} steps at {m[f'{prefix}.size']} px in "
        f"{duration(m[f'{prefix}.train_seconds'])}; stopped by its budget: {num(m[f'{prefix}.stopped_by_budget'])}; "
        f"watchdog: {m[f'{prefix}.watchdog'] or 'quiet'}."
    )


GAN_FIGURES = ("fd_tagger", "kid_tagger", "precision", "recall", "ndb_ratio", "msssim_diversity", "tag_tv")


def dcgan(m: Metrics) -> list[str]:
    d, b, f = "dcgan.dcgan", "dcgan.pca_gaussian", "dcgan.floor"
    rows = [[arrow(fig)] + [figure_cell(m, k, fig) for k in (d, b, f)] for fig in GAN_FIGURES + ("cond_accuracy",)]
    if m[f"{d}.control_success"] is not None:
        rows.append(
            ["`control_success` (sliders)", tv(m[f"{d}.control_success"], m[f"{d}.val_control_success"]), "", ""]
        )
    ratio, val_ratio = m[f"{d}.cond_vs_tagger_by_group"] or {}, m[f"{d}.val_cond_vs_tagger_by_group"] or {}
    cond, real = m[f"{d}.cond_accuracy_by_group"] or {}, m[f"{d}.tagger_accuracy_by_group"] or {}
    for g in GROUPS:
        if g in ratio:
            rows.append(
                [
                    f"`{g}`: `cond_accuracy` / the tagger's on real images (bar ≥ 0.9)",
                    f"{num(ratio[g])} [{num(val_ratio.get(g))}] = {num(cond.get(g))} / {num(real.get(g))}",
                    "",
                    "",
                ]
            )
    comps = m[f"{b}.components"]
    header = ["figure", "`dcgan`, test [validation]", f"`pca_gaussian` ({num(comps)} components)", "`floor`"]
    out = table(header, rows) + ["", _gan_run_line(d, "anime-dcgan", m)]
    t, s, fl = "dcgan.transfer", "dcgan.transfer_scratch", "dcgan.transfer_floor"
    if m[t] is not None and m[f"{t}.kid_generated"] is not None:  # records since KID with its interval

        def kid(x: str, split: str = "") -> str:
            low, high = m[f"{x}.{split}kid_tagger_low"], m[f"{x}.{split}kid_tagger_high"]
            return f"{num(m[f'{x}.{split}kid_tagger'], 4)} ({num(low, 4)} to {num(high, 4)})"

        out += [
            "",
            f"Transfer to `{m[f'{t}.tag']}` ({num(m[f'{t}.train_images'])} training images, "
            f"{num(m[f'{t}.steps_done'])} steps each), fine-tuned from v{m[f'{t}.source_version']} against the same "
            f"network from scratch: `kid_tagger` of {num(m[f'{t}.kid_generated'])} generated images against the "
            f"tag's {num(m[f'{t}.kid_real'])} test [{num(m[f'{t}.val_kid_real'])} validation] images, with 95% "
            f"bootstrap intervals, test {kid(t)} against {kid(s)}, validation {kid(t, 'val_')} against "
            f"{kid(s, 'val_')}; the floor ({num(m[f'{fl}.kid_generated'])} of the tag's training images in place "
            f"of generated ones) test {kid(fl)}, validation {kid(fl, 'val_')}. `recall` {tv(m[f'{t}.recall'], m[f'{t}.val_recall'])} against "
            f"{tv(m[f'{s}.recall'], m[f'{s}.val_recall'])}; `tag_tv` {num(m[f'{t}.tag_tv'])} against "
            f"{num(m[f'{s}.tag_tv'])}; `msssim_diversity` {num(m[f'{t}.msssim_diversity'])} against "
            f"{num(m[f'{s}.msssim_diversity'])} ({duration(m[f'{t}.train_seconds'])} and "
            f"{duration(m[f'{s}.train_seconds'])} of training).",
        ]
    elif m[t] is not None:
        out += [
            "",
            f"Transfer to `{m[f'{t}.tag']}` ({num(m[f'{t}.train_images'])} training images, "
            f"{num(m[f'{t}.steps_done'])} steps each), fine-tuned from v{m[f'{t}.source_version']} against the same "
            f"network from scratch, test [validation]: `fd_tagger` {tv(m[f'{t}.fd_tagger'], m[f'{t}.val_fd_tagger'])} "
            f"against {tv(m[f'{s}.fd_tagger'], m[f'{s}.val_fd_tagger'])}; `recall` "
            f"{tv(m[f'{t}.recall'], m[f'{t}.val_recall'])} against {tv(m[f'{s}.recall'], m[f'{s}.val_recall'])}; "
            f"`tag_tv` {num(m[f'{t}.tag_tv'])} against {num(m[f'{s}.tag_tv'])}; `msssim_diversity` "
            f"{num(m[f'{t}.msssim_diversity'])} against {num(m[f'{s}.msssim_diversity'])} "
            f"({duration(m[f'{t}.train_seconds'])} and {duration(m[f'{s}.train_seconds'])} of training).",
        ]
    return out + target_lines("dcgan.md", m)


def stylegan(m: Metrics) -> list[str]:
    s, d, b, f = "stylegan.stylegan", "dcgan.dcgan", "dcgan.pca_gaussian", "dcgan.floor"
    rows = [[arrow(fig)] + [figure_cell(m, k, fig) for k in (s, d, b, f)] for fig in GAN_FIGURES]
    if m[f"{s}.cond_accuracy"] is not None:  # the conditional route
        rows.append(
            [arrow("cond_accuracy"), tv(m[f"{s}.cond_accuracy"], m[f"{s}.val_cond_accuracy"]),
             tv(m[f"{d}.cond_accuracy"], m[f"{d}.val_cond_accuracy"]), "", ""]
        )  # fmt: skip
    rows.append(
        ["`control_success` (mean of the sliders)", tv(m[f"{s}.control_success"], m[f"{s}.val_control_success"]),
         tv(m[f"{d}.control_success"], m[f"{d}.val_control_success"]), "", ""]
    )  # fmt: skip
    header = ["figure, test [validation]", "`anime-stylegan`", "`anime-dcgan`", "PCA-Gaussian", "`floor`"]
    per = m[f"{s}.control_success_by_tag"] or {}
    sliders = (
        f"`control_success` per slider (test): {', '.join(f'`{k}` {num(v, 2)}' for k, v in sorted(per.items()))}. "
    )
    if m[f"{s}.sliders_orthogonalised"] is not None:  # a record of the unconditional route (directions in W)
        sliders += (
            f"{m[f'{s}.sliders_orthogonalised']} of the {len(per)} sliders kept their orthogonalised direction, "
            f"{m[f'{s}.sliders_skipped']} skipped; "
        )
    sliders += f"{'the' if sliders.endswith('; ') else 'The'} sliders took {duration(m[f'{s}.sliders_seconds'])}."
    return (
        table(header, rows) + ["", _gan_run_line(s, "anime-stylegan", m), "", sliders] + target_lines("stylegan.md", m)
    )


def sr(m: Metrics) -> list[str]:
    size = m["sr.sr.size"]
    rows = []
    for key, name in (
        ("sr.bicubic", "bicubic (OpenCV `INTER_CUBIC`)"),
        ("sr.sr", "`anime-sr`"),
        ("sr.srgan", f"`anime-srgan` (perceptual weight {num(m['sr.srgan.perceptual_weight'], 0)})"),
    ):  # no floor: the figures are paired (each output against its own original), a perfect upscaler scores 0
        rows.append(
            [name]
            + [tv(m[f"{key}.{fig}"], m[f"{key}.val_{fig}"], 2 if fig.startswith("psnr") else 3, fig.endswith("_db") and "gain" in fig)
               for fig in ("psnr_db", "psnr_gain_vs_bicubic_db", "ssim", "fd_tagger")]
        )  # fmt: skip
    header = [f"method, {size // 4 if size else DASH} → {num(size)} px, test [validation]", "`psnr_db`",
              "`psnr_gain_vs_bicubic_db`", "`ssim`", "`fd_tagger` ↓"]  # fmt: skip
    weights = m["sr.srgan.val_fd_tagger_by_weight"] or {}
    run = (
        f"`anime-sr` v{m['sr.sr.version']}: {m['sr.sr.epochs_done']} epochs in {duration(m['sr.sr.train_seconds'])}; "
        f"`anime-srgan` v{m['sr.srgan.version']}: {num(m['sr.srgan.steps_done'])} steps in "
        f"{duration(m['sr.srgan.train_seconds'])}, chosen by validation `fd_tagger` among perceptual weights "
        + ", ".join(f"{k} → {num(v)}" for k, v in sorted(weights.items(), key=lambda kv: float(kv[0])))
        + "."
    )
    return table(header, rows) + ["", run] + target_lines("sr.md", m)


def pose2sketch(m: Metrics) -> list[str]:
    p, r, f = "pose2sketch.pose2sketch", "pose2sketch.retrieval", "pose2sketch.floor"
    rows = [
        ["`anime-pose2sketch`"] + [tv(m[f"{p}.{x}"], m[f"{p}.val_{x}"]) for x in ("l1", "ssim", "pck_0_05")],
        ["retrieval baseline (the sketch of the training projection the index returns)"]
        + [tv(m[f"{r}.{x}"], m[f"{r}.val_{x}"]) for x in ("l1", "ssim", "pck_0_05")],
        ["`floor`: posenet on the true sketches", "", "", tv(m[f"{f}.pck_0_05"], m[f"{f}.val_pck_0_05"])],
    ]
    run = _gan_run_line(p, "anime-pose2sketch", m) + (
        f" Training pairs: {num(m['pose2sketch.data.train_pairs'])} rendered, "
        f"{num(m['pose2sketch.data.annotated_pairs'])} annotated."
    )
    return (
        table(["test [validation]", "`l1` ↓", "`ssim`", "`pck_0_05`"], rows)
        + ["", run]
        + target_lines("pose2sketch.md", m)
    )


def evaluate(m: Metrics) -> list[str]:
    doc = m["evaluate"] or {}
    rows = []
    for model in sorted(k for k, v in doc.items() if isinstance(v, dict)):
        e = doc[model]
        primary = e.get("primary")
        way = "lower is better" if primary in LOWER_IS_BETTER else "higher is better"

        def pair(who: str, e=e, primary=primary) -> str:
            return f"v{e.get(f'{who}_version')}: {num(e.get(f'{who}_val_{primary}'), 4)} / {num(e.get(f'{who}_{primary}'), 4)}"

        rows.append([f"`{model}`", f"`{primary}` ({way})", pair("candidate"), pair("champion"), num(e.get("promoted"))])
    header = [
        "model",
        "primary figure",
        "candidate (validation / test)",
        "champion now (validation / test)",
        "promoted",
    ]
    out = table(header, rows)
    if doc.get("serving_generator"):
        out += ["", f"Served generator: `{doc['serving_generator']}`."]
    return out


CEILING = REPO / "experiments" / "results" / "slider-ceiling-cpu-AVX2-AMD.json"
ON_PAGE = REPO / "experiments" / "results" / "sliders-on-page-cpu-AVX2-AMD.json"


def _result(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def sliders(m: Metrics) -> list[str]:
    """Every slider of the page with its `control_success`, test [validation], for both generator families as the
    train stage scores them (32 px) and, from experiments/sliders_on_page.py, on the 128 px upscales the page shows;
    beside them the ceiling of each way of reading (experiments/slider_ceiling.py: the renderer's own one-attribute
    change, judged the same way), and the tagger's accuracy on real images of the generator's size per group."""
    d, s = "dcgan.dcgan", "stylegan.stylegan"
    tags = list(m[f"{d}.control_success_by_tag"] or m[f"{s}.control_success_by_tag"] or {})
    real = m[f"{d}.tagger_accuracy_by_group"] or {}
    page = {k: v["page"] for k, v in _result(ON_PAGE).get("families", {}).items()}
    ceiling = {route: r["judge"] for route, r in _result(CEILING).get("routes", {}).items()}

    def paged(family: str, key: str, tag: str | None = None):
        got = page.get(family, {})
        if tag is None:
            return tv(got.get(key), got.get(f"val_{key}"))
        return tv(got.get(f"{key}_by_tag", {}).get(tag), got.get(f"val_{key}_by_tag", {}).get(tag))

    def ceil(route: str, tag: str | None = None):
        c = ceiling.get(route, {})
        return num(c.get("ceiling") if tag is None else c.get("ceiling_by_tag", {}).get(tag))

    rows = []
    for tag in tags:
        group = tag.split("=", 1)[0]
        cells = [
            tv((m[f"{k}.control_success_by_tag"] or {}).get(tag), (m[f"{k}.val_control_success_by_tag"] or {}).get(tag))
            for k in (d, s)
        ]
        rows.append([f"`{tag}`", cells[0], paged("dcgan", "control_success", tag), cells[1],
                     paged("stylegan", "control_success", tag), ceil("32", tag), ceil("32_sr", tag),
                     num(real.get(group))])  # fmt: skip
    rows.append(
        ["mean", tv(m[f"{d}.control_success"], m[f"{d}.val_control_success"]), paged("dcgan", "control_success"),
         tv(m[f"{s}.control_success"], m[f"{s}.val_control_success"]), paged("stylegan", "control_success"),
         ceil("32"), ceil("32_sr"), ""]
    )  # fmt: skip
    fams = _result(ON_PAGE).get("families", {})

    def ver(key: str, family: str = "") -> str:
        """The version a column's figures belong to. A page column is of this record where the study's own 32 px
        figure (it re-scores the stage's sliders) is the stage's; otherwise of an earlier record's version."""
        if not family:
            v = m[f"{key}.version"]
            return f" (v{v})" if v is not None else ""
        f = fams.get(family)
        if not f:
            return ""
        same = (f.get("stage") or {}).get("control_success") == m[f"{key}.control_success"]
        return f" (v{f.get('version')})" if same else f" (v{f.get('version')} of an earlier record)"

    # a ceiling is this record's where the study read this record's judge (its validation macro-F1, as recorded)
    judge = _result(CEILING).get("judge") or {}
    ours = judge.get("val_macro_f1") is not None and judge["val_macro_f1"] == m["tagger.judge.val_macro_f1"]
    of = "" if ours else " (an earlier record's judge)"
    header = ["slider", f"`anime-dcgan` 32 px{ver(d)}", f"`anime-dcgan` on the page{ver(d, 'dcgan')}",
              f"`anime-stylegan` 32 px{ver(s)}", f"`anime-stylegan` on the page{ver(s, 'stylegan')}",
              f"ceiling 32 px{of}", f"ceiling on the page{of}",
              "tagger's accuracy on real images of that size, its group"]  # fmt: skip
    return table(header, rows)


def _mean_std(spread: dict, key: str) -> str:
    """`key`'s mean ± std on test [validation] from a seed spread (experiments/seeds.spread); a dash without it."""
    t, v = spread.get(key), spread.get(f"val_{key}")
    return DASH if not t else f"{num(t['mean'])} ± {num(t['std'])} [{num(v['mean'])} ± {num(v['std'])}]"


def dcgan_slider_seeds(m: Metrics) -> list[str]:
    """DCGAN's sliders over training seeds: the seed study's 32 px figures (experiments/seeds.py, as the train stage
    scores them) beside the same generators read on the page's 128 px upscales (experiments/sliders_on_page.py
    --seeds), mean and lowest slider, test [validation]; then mean ± sample std over the seeds."""
    header = ["seed", "32 px: mean", "32 px: lowest slider", "on the page: mean", "on the page: lowest slider"]
    study = (_result(SEEDS["dcgan"]).get("dcgan") or {}).get("runs", [])
    paged = _result(ON_PAGE).get("dcgan_seeds") or {}
    page = {r["seed"]: r for r in paged.get("runs", [])}
    if not study or not page:
        return table(header, [])

    def lowest(r: dict, prefix: str) -> float:
        return min(r[f"{prefix}control_success_by_tag"].values())

    rows = []
    for r in study:
        g = page.get(r["seed"])
        cells = [tv(r["control_success"], r["val_control_success"]),
                 tv(r["control_success_min"], r["val_control_success_min"])]  # fmt: skip
        cells += (
            [tv(g["control_success"], g["val_control_success"]), tv(lowest(g, ""), lowest(g, "val_"))]
            if g
            else [DASH, DASH]
        )
        rows.append([f"{r['seed']}" + (" (the pipeline's run)" if r.get("from") else ""), *cells])

    s32 = _result(SEEDS["dcgan"])["dcgan"]["spread"]
    sp = paged["spread"]
    rows.append(["mean ± std", _mean_std(s32, "control_success"), _mean_std(s32, "control_success_min"),
                 _mean_std(sp, "control_success"), _mean_std(sp, "control_success_min")])  # fmt: skip
    timed = ", ".join(f"seed {r['seed']} in {duration(r['seconds'])}" for r in paged["runs"])
    listed = " ".join(str(r["seed"]) for r in study)
    return table(header, rows) + [
        "",
        "The same generators, latents, conditions and judge in both halves; only what the judge is shown differs "
        "(the 32 px image, or its anime-sr upscale). Bars: mean ≥ 0.8, every slider ≥ 0.5; mean ± sample standard "
        f"deviation. The page's figures: {timed} (`python -m experiments.sliders_on_page --seeds {listed}`).",
    ]


def dcgan_slider_seeds_psi(m: Metrics) -> list[str]:
    """The same generators' sliders at the page's default truncation (experiments/sliders_on_page.py --seeds ...
    --truncation 0.7): read on the 32 px images and on the page's 128 px upscales, test [validation], then mean ±
    sample std over the seeds, beside the untruncated page figures of dcgan_slider_seeds."""
    header = ["seed", "ψ 0.7, 32 px: mean", "ψ 0.7, 32 px: lowest slider", "ψ 0.7, on the page: mean",
              "ψ 0.7, on the page: lowest slider", "ψ 1, on the page: mean"]  # fmt: skip
    doc = _result(ON_PAGE)
    at = ((doc.get("truncation") or {}).get("0.7") or {}).get("dcgan_seeds") or {}
    untruncated = {r["seed"]: r for r in (doc.get("dcgan_seeds") or {}).get("runs", [])}
    if not at:
        return table(header, [])

    def pair(r: dict) -> list[str]:
        return [tv(r["control_success"], r["val_control_success"]),
                tv(min(r["control_success_by_tag"].values()), min(r["val_control_success_by_tag"].values()))]  # fmt: skip

    rows = []
    for r in at["runs"]:
        plain = untruncated.get(r["seed"])
        rows.append([str(r["seed"]), *pair(r["size_32"]), *pair(r),
                     tv(plain["control_success"], plain["val_control_success"]) if plain else DASH])  # fmt: skip
    sp, s32 = at["spread"], at["spread_32"]
    plain_sp = (doc.get("dcgan_seeds") or {}).get("spread")
    rows.append(["mean ± std", _mean_std(s32, "control_success"), _mean_std(s32, "control_success_min"),
                 _mean_std(sp, "control_success"), _mean_std(sp, "control_success_min"),
                 _mean_std(plain_sp or {}, "control_success")])  # fmt: skip
    timed = ", ".join(f"seed {r['seed']} in {duration(r['seconds'])}" for r in at["runs"])
    listed = " ".join(str(r["seed"]) for r in at["runs"])
    return table(header, rows) + [
        "",
        "The same generators, latents, conditions, judge and upscaler as above; every image drawn at ψ 0.7, the page's "
        "default truncation (DCGAN: z shrunk towards 0). Bars: mean ≥ 0.8, every slider ≥ 0.5; mean ± sample "
        f"standard deviation. On the page: {timed} (`python -m experiments.sliders_on_page --seeds {listed} "
        "--truncation 0.7`).",
    ]


def slider_ceiling(m: Metrics) -> list[str]:
    """experiments/slider_ceiling.py: the mean and lowest ceiling per route and reader, and the reader's accuracy on
    the unmoved images of the groups that limit it."""
    doc = _result(CEILING)
    names = {"32": "32 px (the generators' size)", "32_sr": "32 px through anime-sr (the page)",
             "64": "64 px (the taggers' own size)"}  # fmt: skip
    rows = []
    for route, readers in doc.get("routes", {}).items():
        for who, r in readers.items():
            acc = r["accuracy_on_starts"]
            rows.append([names.get(route, route), who, num(r["ceiling"]), f"{num(r['ceiling_by_tag'][r['lowest']])} "
                         f"(`{r['lowest']}`)", " / ".join(num(acc[g]) for g in ("glasses", "smile", "blush"))])  # fmt: skip
    header = ["what the reader is shown", "reader", "ceiling (mean of 19 sliders)", "lowest slider",
              "accuracy on the unmoved images: glasses / smile / blush"]  # fmt: skip
    return table(header, rows)


VARIANTS = REPO / "experiments" / "results" / "dcgan-variants-cpu-AVX512-AMD.json"
STAGE_RUN = REPO / "docs" / "reports" / "2026-11-26-artist-tools" / "dcgan.json"  # train@dcgan at the cpu profile
SLIDER_VARIANTS = (  # experiments/gan_variants.yaml's slider study, in the order it was run
    "default", "weak_groups_w3", "reader_w2", "reader_w3", "pairs_1", "reader_w2_pairs_1",
    "pairs_1@4500steps,seed1234,AVX512-AMD", "pairs_1_glasses_3@4500steps,seed1234,AVX512-AMD",
)  # fmt: skip


def dcgan_slider_variants(m: Metrics) -> list[str]:
    """The slider study of experiments/gan_variants.py: validation figures only, from its result file."""
    runs = json.loads(VARIANTS.read_text(encoding="utf-8"))["variants"]

    def row(name: str, overrides: str, r: dict, seconds_per_step) -> list[str]:
        ratio = r.get("val_cond_vs_tagger_by_group") or {}
        by_tag = r.get("val_control_success_by_tag") or {}
        return [
            name,
            overrides,
            num(r.get("steps", r.get("steps_done"))),
            num(r["val_fd_tagger"]),
            num(r["val_recall"]),
            num(r["val_cond_accuracy"]),
            f"{num(min(ratio.values()))} ({min(ratio, key=ratio.get)})" if ratio else DASH,
            num(r.get("val_control_success")),
            " / ".join(num(by_tag.get(t), 2) for t in ("glasses=yes", "smile=yes", "blush=yes")),
            num(seconds_per_step),
        ]

    rows = []
    for key in SLIDER_VARIANTS:
        if key in runs:
            r = runs[key]
            reader = {k: v for k, v in r["overrides"].get("reader", {}).items() if k != "width"}
            rows.append(row(f"`{key.split('@')[0]}`", json.dumps(reader, sort_keys=True).replace('"', ""), r,
                            r["seconds_per_step"]))  # fmt: skip
    for name, path in (("`default`, a stage run", STAGE_RUN), ("`default`, the committed record", None)):
        d = json.loads(path.read_text(encoding="utf-8"))["dcgan"]["dcgan"] if path else m["dcgan.dcgan"]
        if d and d.get("val_control_success") is not None:
            rows.append(row(name, "{}", d, d["train_seconds"] / max(d["steps_done"], 1)))
    header = ["variant", "`dcgan.reader` overrides (width 24 in all)", "steps", "`fd_tagger` ↓", "`recall`", "`cond_accuracy`",
              "lowest group ratio", "`control_success`", "glasses / smile / blush sliders", "s/step"]  # fmt: skip
    return table(header, rows)


ROUTES = REPO / "experiments" / "results" / "stylegan-routes-cpu-AVX512-AMD.json"
GENERATOR_STEP = REPO / "bench" / "results" / "generator-step-cpu-AVX512-AMD.json"


def stylegan_routes(m: Metrics) -> list[str]:
    """experiments/stylegan_routes.py: each conditional StyleGAN variant's validation figures, beside the committed
    record's two families and the PCA-Gaussian baseline, and DCGAN's own run at the same steps (experiments/
    gan_variants.py `default`); the training speed comes from bench/generator_step.py, not from these runs."""
    doc = _result(ROUTES)
    speed = _result(GENERATOR_STEP).get("contestants", {})

    def row(name: str, how: str, r: dict, steps, ips_key: str | None) -> list[str]:
        by_tag = r.get("val_control_success_by_tag") or {}
        low = f"{num(min(by_tag.values()), 2)} (`{min(by_tag, key=by_tag.get)}`)" if by_tag else DASH
        ips = speed.get(ips_key, {}).get("images_per_second") if ips_key else None
        return [name, how, num(steps), num(r.get("val_fd_tagger")), num(r.get("val_recall")),
                num(r.get("val_cond_accuracy")), num(r.get("val_control_success")), low, num(ips, 0)]  # fmt: skip

    rows = []
    for name, r in doc.get("variants", {}).items():
        st = r["style"]
        how = f"base {st['base']}, cap {st['cap']}, mapping {st['mapping']}, lr {st['lr_g']:g}"
        rows.append(row(f"`{name}`", how, r, r["steps"], name.split("@")[0]))
    dcgan_1500 = _result(VARIANTS).get("variants", {}).get("default")
    if dcgan_1500:
        rows.append(row("DCGAN `default` (experiments/gan_variants.py)", "its own generator", dcgan_1500,
                        dcgan_1500["steps"], "dcgan"))  # fmt: skip
    rec = doc.get("record", {})
    for family, how in (("stylegan", "unconditional, its residual D, sliders fitted in W"),
                        ("dcgan", "the committed record")):  # fmt: skip
        if family in rec:
            rows.append(row(f"`anime-{family}` (committed record)", how, rec[family], rec[family]["steps"], family))
    if "pca_gaussian" in rec:
        rows.append(row("PCA-Gaussian baseline (committed record)", "", rec["pca_gaussian"], None, None))
    header = ["variant", "generator", "steps", "`fd_tagger` ↓", "`recall`", "`cond_accuracy`", "`control_success`",
              "lowest slider", "images/s (bench)"]  # fmt: skip
    return table(header, rows)


LONGER = REPO / "experiments" / "results" / "longer-training-cpu-H100.json"


def longer_training(m: Metrics) -> list[str]:
    """experiments/longer_training.py: each arm's validation figures (trained on a GPU, scored on the CPU) with its
    `fd_tagger` over the PCA-Gaussian baseline's on the same extractor, and the committed record's rows (another
    tagger run: another extractor and judge; their ratio is to the record's own baseline)."""
    doc = _result(LONGER)

    def row(name: str, how: str, steps: str, batch, r: dict, base: dict | None, s_step) -> list[str]:
        by_tag = r.get("val_control_success_by_tag") or {}
        low = f"{num(min(by_tag.values()), 2)} (`{min(by_tag, key=by_tag.get)}`)" if by_tag else DASH
        ratio = r["val_fd_tagger"] / base["val_fd_tagger"] if base else None
        return [name, how, steps, num(batch), num(r.get("val_fd_tagger")), num(ratio, 2), num(r.get("val_recall")),
                num(r.get("val_cond_accuracy")), num(r.get("val_control_success")), low, num(s_step)]  # fmt: skip

    rows = []
    base = doc.get("baseline")
    for name, r in doc.get("arms", {}).items():
        how = r["family"] + ("".join(f", {k} {v}" for k, v in (r.get("overrides") or {}).items()))
        steps = f"{num(r['steps_done'])} of {num(r['steps'])}" + (" (guard)" if r["stopped_by_budget"] else "")
        rows.append(row(f"`{name}`", how, steps, r["settings"]["batch"], r, base, r["seconds_per_step"]))
    if base:
        rows.append(row("PCA-Gaussian baseline", f"{base['components']} components", DASH, None, base, base, None))
    rec = doc.get("record", {})
    for family in ("dcgan", "stylegan"):
        if family in rec:
            r = rec[family]
            rows.append(row(f"`anime-{family}`, committed record", "its own extractor and judge", num(r["steps"]),
                            None, r, rec.get("pca_gaussian"), r["seconds_per_step"]))  # fmt: skip
    header = ["arm", "section, overrides", "steps", "batch", "`fd_tagger` ↓", "÷ baseline's", "`recall`",
              "`cond_accuracy`", "`control_success`", "lowest slider", "s/step (arms: four sharing the GPU)"]  # fmt: skip
    return table(header, rows)


RULER_CHECKS = "ruler_check-cpu-AVX2-AMD-e*.json"  # one file per ruler compared: its training epochs in the name
# the same study on the pipeline's own `cpu` data (its ingest, tags, extractor and ruler stage)
RULER_CHECK_PIPELINE = REPO / "experiments" / "results" / "ruler_check-cpu-AVX2-AMD-pipeline.json"


def _ruler_checks(folder: Path = REPO / "experiments" / "results") -> dict[int, Path]:
    return {int(p.stem.rsplit("-e", 1)[1]): p for p in folder.glob(RULER_CHECKS)}


def ruler_check_chosen(m: Metrics) -> list[str]:
    """ruler_check's full table for the ruler params.yaml trains (its `cpu` profile's epochs)."""
    from core.params import load_params

    epochs = load_params(REPO / "params.yaml", profile="cpu").ruler.epochs
    return ruler_check(m, _ruler_checks().get(epochs))


def ruler_variants(m: Metrics, folder: Path = REPO / "experiments" / "results") -> list[str]:
    """One row per ruler compared (its training epochs): its training loss and pair-finding share, each model's
    validation `fd_ssl`, and whether every known order holds in its space."""
    header = ["ruler epochs", "loss", "pair found", "`fd_ssl`: floor", "DCGAN", "DCGAN early", "PCA-Gaussian",
              "`fd_ssl` keeps the known orders", "other `_ssl` figures' failures"]  # fmt: skip
    rows = []
    for epochs, path in sorted(_ruler_checks(folder).items()):
        doc = _result(path)
        mod = doc["models"]
        early = [k for k in mod if k.startswith("step_")]
        fd = [k for k, ok in doc["holds"]["fd_ssl"].items() if not ok]
        other = [f"`{f}`: {k}" for f, held in doc["holds"].items() if f.endswith("_ssl") and f != "fd_ssl"
                 for k, ok in held.items() if not ok]  # fmt: skip
        rows.append([num(epochs), num(doc["ruler"].get("loss")), num(doc["ruler"].get("pair_found"), 3),
                     *(num(mod[k]["val_fd_ssl"]) for k in ("floor", "final")),
                     num(mod[early[0]]["val_fd_ssl"]) if early else DASH, num(mod["pca_gaussian"]["val_fd_ssl"]),
                     "yes" if not fd else "no: " + ", ".join(fd), "; ".join(other) or "none"])  # fmt: skip
    return table(header, rows)


def ruler_check(m: Metrics, path: Path | None) -> list[str]:
    """experiments/ruler_check.py: each model's validation figures in both spaces, best first, and whether each
    space keeps every known order (floor < final DCGAN < PCA-Gaussian; the final DCGAN before its early steps)."""
    from experiments.ruler_check import FIGURES

    doc = _result(path) if path else {}  # no result for that ruler yet: the header alone
    header = ["model", *(f"`{f}`" for names in FIGURES.values() for f in names.values())]
    rows = []
    for name, figures in doc.get("models", {}).items():
        label = {"floor": "floor (training images)", "final": f"DCGAN, {num(doc['steps'])} steps",
                 "pca_gaussian": f"PCA-Gaussian ({figures.get('components')} components)"}.get(name)  # fmt: skip
        label = label or f"DCGAN, step {num(int(name.removeprefix('step_')))} of the same run"
        rows.append([label, *(num(figures[f"val_{f}"]) for names in FIGURES.values() for f in names.values())])
    if not doc:
        return table(header, rows)
    verdict = []
    for space, names in FIGURES.items():
        fd = all(doc["holds"][names["fd"]].values())
        failed = [f"`{f}`: {k}" for f in names.values() for k, ok in doc["holds"][f].items() if not ok]
        said = f"`{names['fd']}` keeps every one" if fd else f"`{names['fd']}` breaks one"
        verdict.append(
            f"{space}: {said}; " + ("so does every other figure" if not failed else "fails " + "; ".join(failed))
        )
    flips = [f"{k}: {', '.join(v)}" for k, v in doc["disagree"].items() if v]
    return table(header, rows) + [
        "",
        f"Validation, {num(doc['images'])} images a model, profile `{doc['profile']}` on {doc['machine']}, seed "
        f"{doc['seed']}. Known orders: "
        + "; ".join(verdict)
        + ". Pairs the two spaces order differently: "
        + ("; ".join(flips) if flips else "none")
        + ".",
    ]


TRANSFER_SEEDS = REPO / "experiments" / "results" / "transfer_seeds-cpu-AVX2-AMD.json"


def transfer_seeds(m: Metrics, path: Path = TRANSFER_SEEDS) -> list[str]:
    """experiments/transfer_seeds.py: per training seed, both arms' KID with its interval in each space, validation
    first, and the gap (scratch minus fine-tune); then the gap's mean ± std over the seeds and the floor."""
    doc = _result(path)

    def kid(r: dict, key: str) -> str:
        if key not in r:
            return DASH
        return f"{num(r[key], 4)} ({num(r[key + '_low'], 4)}, {num(r[key + '_high'], 4)})"

    keys = [f"{pre}kid_{space}" for pre in ("val_", "") for space in ("tagger", "ssl")]
    header = ["seed", "split, space", "fine-tune KID (95% interval)", "from scratch", "gap (scratch − fine-tune)"]
    rows = []
    for seed, arms in doc.get("runs", {}).items():
        for key in keys:
            both = key in arms["transfer"] and key in arms["transfer_scratch"]
            gap = arms["transfer_scratch"][key] - arms["transfer"][key] if both else None
            rows.append([seed, _split_space(key), kid(arms["transfer"], key), kid(arms["transfer_scratch"], key),
                         num(gap, 4, sign=True)])  # fmt: skip
    for key, g in doc.get("gaps", {}).items():
        gap = g["gap"]
        rows.append([f"**{g['seeds']} seeds**", _split_space(key), f"ahead on {g['seeds_fine_tune_ahead']} of {g['seeds']}",
                     DASH, f"**{num(gap['mean'], 4, sign=True)} ± {num(gap['std'], 4)}**"])  # fmt: skip
    for key in keys:
        if key in doc.get("floor", {}):
            rows.append(["floor", _split_space(key), kid(doc["floor"], key), DASH, DASH])
    if not doc:
        return table(header, rows)
    n = doc["images"]
    return table(header, rows) + [
        "",
        f"`{doc['tag']}`: {num(doc['steps'])} steps on its {num(n['train'])} training images, KID of "
        f"{num(doc['samples'])} generated images against its {num(n['val'])} validation and {num(n['test'])} test "
        f"images; the fine-tune starts from `{doc['source']}`. Profile `{doc['profile']}` on {doc['device']}; "
        f"a run trained in {duration(doc['mean_train_seconds'])} on average. Ahead: the fine-tune's interval wholly "
        "below the scratch run's KID.",
    ]


def _split_space(key: str) -> str:
    split = "validation" if key.startswith("val_") else "test"
    return f"{split}, {'tagger' if key.endswith('tagger') else 'second ruler'}"


SOAK_600 = REPO / "bench" / "results" / "serve-soak-cpu-600s-AVX2-AMD.json"


def serve_soak(m: Metrics, path: Path = SOAK_600) -> list[str]:
    """bench/serve_soak.py: per endpoint the requests, statuses and latencies of one soak; then its totals, the
    server's RSS and the second half's trend against the 1 MB a minute target."""
    doc = _result(path)
    header = ["endpoint", "requests", "200", "busy 503", "failures", "p50 ms", "p99 ms"]
    rows = [[f"`{name}`", num(e["requests"]), num(e["statuses"].get("200", 0)), num(e["busy_503"]), num(e["failures"]),
             num(e["p50_ms"], 0), num(e["p99_ms"], 0)] for name, e in doc.get("endpoints", {}).items()]  # fmt: skip
    if not doc:
        return table(header, rows)
    if "runs" in doc:
        return serve_soak_runs(doc, table(header, rows))
    trend = doc["rss_trend_second_half_mb_per_min"]
    return table(header, rows) + [
        "",
        f"{num(doc['clients'])} clients for {duration(doc['seconds'])} on {doc['machine']} ({doc['date']}): "
        f"{num(doc['requests'])} requests, {num(doc['failures'])} failures, {num(doc['busy_503'])} busy 503s. "
        f"Server RSS {num(doc['rss_mb_start'], 1)} → {num(doc['rss_mb_end'], 1)} MB (max {num(doc['rss_mb_max'], 1)}), "
        f"second-half trend **{num(trend, 2)} MB a minute**: the target (under 1) "
        + ("met." if trend < 1 else "**missed**."),
    ]


def serve_soak_runs(doc: dict, endpoints: list[str]) -> list[str]:
    """A soak repeated on fresh servers (`--runs`): each run's totals, RSS and trend, then the trend's mean ± std
    against the target; the endpoint table (the first run's) after it."""
    runs = doc["runs"]
    rows = [[str(i + 1), num(r["requests"]), num(r["failures"]), num(r["busy_503"]),
             f"{num(r['rss_mb_start'], 1)} → {num(r['rss_mb_end'], 1)}", num(r["rss_mb_max"], 1),
             num(r["rss_trend_second_half_mb_per_min"], 2)] for i, r in enumerate(runs)]  # fmt: skip
    mean, std = doc["rss_trend_mean_mb_per_min"], doc["rss_trend_std_mb_per_min"]
    under = sum(r["rss_trend_second_half_mb_per_min"] < 1 for r in runs)
    header = ["run", "requests", "failures", "busy 503", "RSS MB start → end", "max MB", "second-half trend MB/min"]
    return table(header, rows) + [
        "",
        f"{len(runs)} runs of {num(doc['clients'])} clients for {duration(doc['seconds'])} each, every one on a fresh "
        f"server, on {doc['machine']} ({doc['date']}): {num(doc['failures_all_runs'])} failures in all. Second-half "
        f"trend **{num(mean, 2)} ± {num(std, 2)} MB a minute** (mean ± std over the runs; {under} of {len(runs)} "
        "under 1): the target (under 1) " + ("met." if mean < 1 else "**missed**.") + " Per endpoint, the first run:",
        "",
        *endpoints,
    ]


GPU_PROFILE_TEST = REPO / "bench" / "results" / "gpu-profile-test-stages-AVX2-AMD.json"


def gpu_profile_test(m: Metrics, path: Path = GPU_PROFILE_TEST) -> list[str]:
    """The `gpu` profile test's seconds per stage (what it prints), slowest first, with each one's share."""
    doc = _result(path)
    stages = doc.get("seconds_per_stage", {})
    total = sum(stages.values()) or 1
    rows = [[f"`{k}`", duration(v), f"{v / total:.0%}"] for k, v in sorted(stages.items(), key=lambda kv: -kv[1])
            if v >= 1]  # fmt: skip
    header = ["stage", "time", "share"]
    if not doc:
        return table(header, rows)
    return table(header, rows) + [
        "",
        f"`{doc['test']}` alone at commit `{doc['commit']}` on {doc['machine']}, {doc['threads']} threads "
        f"({doc['date']}): {duration(doc['test_seconds'])} in all; stages under a second not listed.",
    ]


GENERATOR_STEP_BF16 = REPO / "bench" / "results" / "generator-step-bf16-cpu-AVX512-AMD.json"


def generator_step(m: Metrics, path: Path = GENERATOR_STEP) -> list[str]:
    """bench/generator_step.py: each contestant's time a step and images a second, and its ratio to DCGAN's."""
    doc = _result(path)
    rows = [[f"`{n}`", num(c["batch"]), num(c["seconds_per_step"]), num(c["images_per_second"], 0),
             num(c["ratio_to_dcgan"], 2)] for n, c in doc.get("contestants", {}).items()]  # fmt: skip
    header = ["contestant", "batch", "s/step", "images/s", "time a step ÷ DCGAN's"]
    if not doc:
        return table(header, rows)
    where = f"{doc['machine']}, {doc['threads']} threads, torch {doc['torch']}"
    runs = f"{doc['rounds']} round(s) of {doc['steps']} timed steps"
    return table(header, rows) + ["", f"Measured on {where}, {runs} ({doc['date']})."]


TEST_SUITE = REPO / "bench" / "results" / "test-suite-AVX512-AMD.json"


def test_suite(m: Metrics, path: Path = TEST_SUITE) -> list[str]:
    """bench/test_suite.py: `make test-fast` and `make test` at HEAD against the baseline commit, the same machine,
    one run: wall time, the pytest summary, and the seconds of the tests both commits have (matched by name)."""
    doc = _result(path)
    header = ["target", "commit", "tests passed (failed)", "wall", "the common tests", "HEAD ÷ baseline (common)",
              "HEAD ÷ baseline (wall)"]  # fmt: skip
    rows = []
    for target, t in doc.get("targets", {}).items():
        for i, name in enumerate(("baseline", "head")):
            r, sm = t[name], t[name]["summary"]
            failed = f" ({sm['failed']})" if sm.get("failed") else ""
            rows.append([f"`make {target}`" if i == 0 else "", f"{name} `{doc['commits'][name][:7]}`",
                         f"{num(sm.get('passed'))}{failed}", duration(r["seconds"]),
                         f"{num(t['common_tests'])} tests: {duration(t['common_seconds'][name])}",
                         num(t["ratio_common"], 3) if i else "", num(t["ratio_wall"], 3) if i else ""])  # fmt: skip
    if not doc:
        return table(header, rows)
    setup = ", ".join(f"{k} {duration(v)}" for k, v in doc["setup_seconds"].items())
    moved = "".join(
        f" The common tests of `make {target}` that moved most (baseline → HEAD): "
        + ", ".join(
            f"`{x['test']}` {num(x['baseline'], 1)} → {num(x['head'], 1)} s" for x in t["common_moved_most"][:8]
        )
        + "."
        for target, t in doc["targets"].items()
        if t.get("common_moved_most")
    )
    return table(header, rows) + ["", f"Measured on {doc['machine_kind']}, {doc['cores']} cores, {doc['date']}; "
                                      f"making each clone's `.venv` from pip's cache first: {setup}.{moved}"]  # fmt: skip


GPU_PROFILE_PROFILE = REPO / "bench" / "results" / "gpu-profile-test-profile-AVX2-AMD.json"


def gpu_profile_profile(m: Metrics, path: Path = GPU_PROFILE_PROFILE) -> list[str]:
    """The `gpu` profile test sampled by py-spy: each stage process's seconds, the share of them spent importing,
    and the seconds of slider scoring."""
    doc = _result(path)
    header = ["stage process", "sampled", "importing", "scoring sliders"]
    stages = doc.get("stages", {})
    rows = [[f"`{k}`", duration(v["seconds"]), f"{duration(v['import_seconds'])} ({v['import_seconds'] / v['seconds']:.0%})",
             duration(v["slider_seconds"]) if v["slider_seconds"] else DASH]
            for k, v in stages.items() if v["seconds"] >= 5]  # fmt: skip
    if not doc:
        return table(header, rows)
    imports = sum(v["import_seconds"] for v in stages.values())
    sliders = sum(v["slider_seconds"] for v in stages.values())
    return table(header, rows) + [
        "",
        f"Commit `{doc['commit']}` on {doc['machine_kind']}, {doc['cores']} threads ({doc['date']}): "
        f"{duration(doc['sampled_seconds'])} sampled in all, {duration(imports)} of it importing "
        f"({imports / doc['sampled_seconds']:.0%}) and {duration(sliders)} scoring sliders on "
        f"{doc['sliders_per_split_then']} latents a split; processes under 5 s not listed.",
    ]


MAKE_TEST_FRESH = REPO / "bench" / "results" / "make-test-fresh-clone-AVX2-AMD.json"
MAKE_TEST_RUNS = (
    "b2f3a3e",
    "38ab4dd",
    "bbc8ab9",
    "b25dd69",
    "76a8beb",
    "559be7a",
    "689fa2c",
    "90701e7",
    "e47b16a",
    "13b710e",
)  # bench/make_test.py's results by commit, oldest first


def make_test_fresh(m: Metrics, path: Path = MAKE_TEST_FRESH) -> list[str]:
    """`make test` on a fresh clone, one commit, one machine: setup (where it was timed), tests, the slowest tests,
    the gpu-profile test's seconds per stage where a run of that test alone was added (its own print), and what
    failed."""
    doc = _result(path)
    header = ["what", "seconds", "time"]
    if not doc:
        return table(header, [])
    sm = doc["summary"]
    failed = f", {num(sm['failed'])} failed" if sm.get("failed") else ""
    setup = "make setup" if "`make setup`" in doc.get("what", "") else "make .venv/.installed"  # as the run says
    rows = [[f"setup (`{setup}`)", num(doc["setup_seconds"]), duration(doc["setup_seconds"])],
            [f"`make test`: {num(sm.get('passed'))} passed{failed}, {num(sm.get('skipped', 0))} skipped",
             num(doc["test_seconds"]), duration(doc["test_seconds"])]]  # fmt: skip
    if doc["setup_seconds"] is None:  # a run in a clone with the checkout's venv: no setup to time
        rows = rows[1:]
    rows += [[f"  `{t['test']}`" + (f" ({t['phase']})" if "phase" in t else ""), num(t["seconds"], 1),
              duration(t["seconds"])] for t in doc["slowest"][:8]]  # fmt: skip
    stages = sorted(doc.get("gpu_profile_seconds_per_stage", {}).items(), key=lambda kv: -kv[1])[:6]
    rows += [[f"  gpu-profile test: `{k}`", num(v, 1), duration(v)] for k, v in stages]
    how = f", {doc['workers']} workers" if "workers" in doc else ""
    cpu = doc.get("cpu_seconds")
    spent = f": {duration(cpu['user'] + cpu['sys'])} of CPU time in the tests" if cpu else ""
    note = f" {doc['failed_note'][0].upper()}{doc['failed_note'][1:]}." if doc.get("failed_note") else ""
    return table(header, rows) + ["", f"Commit `{doc['commit']}` on {doc['machine_kind']}, {doc['cores']} cores{how}, "
                                      f"{doc['date']}{spent}; {doc['skipped_note']}.{note}{_idle(doc)}"]  # fmt: skip


def _idle(doc: dict, n: int = 6) -> str:
    """bench/timeline.py's figures of a make_test run, where it recorded them: the cores' idle time while tests ran,
    the tail after the first worker was done, and the tests beside the most idle cores."""
    if "idle_core_seconds" not in doc:
        return ""
    capacity = doc["cores"] * doc["test_seconds"]
    beside = ", ".join(f"`{t['test']}` {duration(t['idle_core_seconds'])}" for t in doc["idle_by_test"][:n])
    return (
        f" The cores stood idle {duration(doc['idle_core_seconds'])} while tests ran "
        f"({doc['idle_core_seconds'] / capacity:.0%} of {doc['cores']} cores over the tests' wall time); the first "
        f"worker was done {duration(doc['tail_seconds'])} before the last; the idle core time beside each test, "
        f"most first: {beside}."
        + (
            f" The host took {duration(doc['steal_core_seconds'])} of core time from this virtual machine meanwhile "
            "(steal, /proc/stat)."
            if "steal_core_seconds" in doc
            else ""
        )
    )


def test_profile(m: Metrics, path: Path) -> list[str]:
    """tools/profile_test.py: one test's processes sampled by py-spy, per command (the longest 12), with the seconds
    spent importing; then the packages whose own import code ran longest."""
    doc = _result(path)
    header = ["command", "processes", "sampled", "importing", "share importing"]
    if not doc:
        return table(header, [])
    rows = [[f"`{cmd}`", num(c["processes"]), duration(c["seconds"]), duration(c["import_seconds"]),
             f"{c['import_seconds'] / c['seconds']:.0%}" if c["seconds"] else DASH]
            for cmd, c in list(doc["by_command"].items())[:12]]  # fmt: skip
    total, imported = doc["sampled_seconds"], doc["import_seconds"]
    rows.append([f"all ({num(doc['processes'])} processes)", "", duration(total), duration(imported),
                 f"{imported / total:.0%}"])  # fmt: skip
    packages = ", ".join(f"{k} {duration(v)}" for k, v in list(doc["import_seconds_by_package"].items())[:8])
    wall = f" in {duration(doc['test_seconds'])}" if doc.get("test_seconds") else ""
    return table(header, rows) + [
        "",
        f"`{doc['test']}` alone{wall} at commit `{doc['commit']}` on {doc['machine_kind']}, one thread per process "
        f"({doc['date']}; `python -m tools.profile_test`). Import code by package: {packages}.",
    ]


VENV_SETUP = REPO / "bench" / "results" / "setup-AVX2-AMD.json"


def venv_setup(m: Metrics, path: Path = VENV_SETUP) -> list[str]:
    """bench/venv_setup.py: the setup `make test` runs (both venvs), from nothing, at a baseline commit and at HEAD."""
    doc = _result(path)
    header = ["commit", "setup `make test` runs", "seconds", "time", "import torch and MLflow (s)"]
    if not doc:
        return table(header, [])
    imports = doc.get("import_seconds", {})
    rows = [[f"`{doc['commits'][k][:7]}` ({k})", f"`{doc['commands'][k]}`", num(doc["seconds"][k], 1),
             duration(doc["seconds"][k]), num(imports.get(k), 2)] for k in ("baseline", "head")]  # fmt: skip
    same = " and ".join(f"`{v}`" for v, ok in doc["same_packages"].items() if ok) or "neither venv"
    differ = [f"`{v}` differs in {' and '.join(f'`{d}`' for d in doc.get('differences', {}).get(v, []))}"
              for v, ok in doc["same_packages"].items() if not ok]  # fmt: skip
    return table(header, rows) + [
        "",
        f"HEAD ÷ baseline: {num(doc['ratio'], 2)}. Same packages at the same versions in both commits' venvs: {same} "
        f"({', '.join(f'{n} in `{v}`' for v, n in doc['packages'].items())})"
        + (f"; {'; '.join(differ)}" if differ else "")
        + f". On {doc['machine_kind']}, {doc['cores']} cores, {doc['date']}; empty download caches (`python "
        "bench/venv_setup.py`).",
    ]


STAGE_START = REPO / "bench" / "results" / "stage-start-AVX2-AMD.json"


def stage_start(m: Metrics, path: Path = STAGE_START) -> list[str]:
    """bench/stage_start.py: the CPU time of a stage's imports without the project's bytecode and with it."""
    doc = _result(path)
    header = ["stage", "imports", "no bytecode (s)", "bytecode beside the sources (s)", "ratio"]
    if not doc:
        return table(header, [])
    rows = [[f"`{k}`", f"`{v['imports']}`", num(v["baseline_seconds"], 2), num(v["head_seconds"], 2),
             num(v["ratio"], 2)] for k, v in doc["stages"].items()]  # fmt: skip
    return table(header, rows) + [
        "",
        f"Medians of {doc['runs']} processes each, CPU time (user + system), one thread; {num(doc['saved_seconds_mean'], 2)}"
        f" s saved a process on average. On {doc['machine_kind']}, {doc['cores']} cores, {doc['date']}, commit "
        f"`{doc['commit']}` (`python bench/stage_start.py`).",
    ]


MAKE_TEST_WORKERS = REPO / "bench" / "results" / "make-test-workers-AVX2-AMD.json"


def make_test_workers(m: Metrics) -> list[str]:
    """The suite on pytest workers (make test's command) against the last serial run on record: wall time, the
    summary, the CPU time, and the slowest tests on the workers."""
    doc = _result(MAKE_TEST_WORKERS)
    header = ["run", "tests", "wall", "÷ the serial run's"]
    if not doc:
        return table(header, [])

    def tests(sm: dict) -> str:
        return f"{num(sm.get('passed'))} passed, {num(sm.get('failed', 0))} failed, {num(sm.get('skipped', 0))} skipped"

    ref = doc["serial_reference"]
    rows = [[f"{doc['workers']} workers, `{doc['commit']}`", tests(doc["summary"]), duration(doc["wall_seconds"]),
             num(doc["wall_seconds"] / ref["wall_seconds"], 2)],
            [f"one process, `{ref['commit']}` ({ref['where']})", tests(ref["summary"]), duration(ref["wall_seconds"]),
             "1"]]  # fmt: skip
    rows += [[f"  `{t['test']}` ({t['phase']})", "", duration(t["seconds"]), ""] for t in doc["slowest"][:6]]
    cpu = doc["cpu_seconds"]["user"] + doc["cpu_seconds"]["sys"]
    return table(header, rows) + ["", f"Measured on {doc['machine_kind']}, {doc['cores']} cores, {doc['date']}: "
                                      f"{duration(cpu)} of CPU time in {duration(doc['wall_seconds'])}, "
                                      f"{num(cpu / doc['wall_seconds'], 2)} cores busy on average. "
                                      f"{doc['failed_note'][0].upper()}{doc['failed_note'][1:]}."]  # fmt: skip


MAKE_TEST_FRESH_WORKERS = REPO / "bench" / "results" / "make-test-fresh-clone-2workers-AVX2-AMD.json"


BF16_PAIRS = (  # (family, the fp32 variant, its bf16 twin, the result file): experiments/gan_variants.yaml, stylegan_routes.yaml
    ("DCGAN", "default", "default_bf16", VARIANTS),
    ("StyleGAN (cond_base16)", "cond_base16", "cond_base16_bf16", ROUTES),
)


def bf16_study(m: Metrics) -> list[str]:
    """fp32 against bf16 autocast on the CPU, each family's pipeline settings at the study's steps: validation
    figures from the two studies' result files (their seconds are not compared: the fp32 runs shared the machine)."""
    header = ["family", "precision", "steps", "`fd_tagger` ↓", "`recall`", "`cond_accuracy`", "`control_success`",
              "lowest slider", "run on"]  # fmt: skip
    rows = []
    for family, fp32, bf16, path in BF16_PAIRS:
        variants = _result(path).get("variants", {})
        pair = [variants.get(fp32), variants.get(bf16)]
        for i, v in enumerate(pair):
            if v is None:
                continue
            by_tag = v.get("val_control_success_by_tag") or {}
            low = min(by_tag, key=by_tag.get) if by_tag else None
            rows.append([family if i == 0 else "", "bf16" if i else "fp32", num(v.get("steps")),
                         num(v.get("val_fd_tagger")), num(v.get("val_recall")), num(v.get("val_cond_accuracy")),
                         num(v.get("val_control_success")), f"`{low}` {num(by_tag[low])}" if low else DASH,
                         v.get("date", DASH)])  # fmt: skip
    return table(header, rows)


BF16_RUN = REPO / "experiments" / "results" / "bf16-pipeline-cpu-AVX512-AMD.json"


def bf16_full_length(m: Metrics) -> list[str]:
    """The whole pipeline with DCGAN and StyleGAN in bf16 (the run's metrics, kept as a result file) against the
    fp32 record it followed (kept in the same file), both families at their full length: validation figures and
    training time."""
    run = _result(BF16_RUN)
    fp32 = run.get("fp32_record", {})
    header = ["family", "precision", "steps", "`fd_tagger` ↓", "`recall`", "`cond_accuracy`",
              "lowest group's `cond_accuracy` / the tagger's", "`control_success`", "training"]  # fmt: skip
    rows = []
    for family in ("dcgan", "stylegan"):
        for i, (label, h) in enumerate(((f"fp32 (the {fp32.get('commit', '?')} record)", fp32.get(family)),
                                        ("bf16", run.get(family)))):  # fmt: skip
            if not h:
                continue
            ratios = h.get("val_cond_vs_tagger_by_group") or {}
            low = min(ratios, key=ratios.get) if ratios else None
            rows.append([family if i == 0 else "", label, num(h.get("steps_done")), num(h.get("val_fd_tagger")),
                         num(h.get("val_recall")), num(h.get("val_cond_accuracy")),
                         f"{num(ratios[low])} ({low})" if low else DASH,
                         num(h.get("val_control_success")), duration(h.get("train_seconds"))])  # fmt: skip
    return table(header, rows)


BF16_SR_P2S = REPO / "experiments" / "results" / "bf16-sr-pose2sketch-cpu-AVX512-AMD.json"


def bf16_sr_pose2sketch(m: Metrics) -> list[str]:
    """SRGAN and pose2sketch in fp32 and in bf16, everything else equal (the result file says how each ran):
    validation figures and training time."""
    doc = _result(BF16_SR_P2S)
    header = ["model", "precision", "figures on validation", "training"]
    figures = {
        "srgan": [("`fd_tagger` ↓", "val_fd_tagger"), ("PSNR dB", "val_psnr_db"), ("SSIM", "val_ssim")],
        "pose2sketch": [("`pck_0_05`", "val_pck_0_05"), ("L1 ↓", "val_l1"), ("SSIM", "val_ssim")],
    }
    rows = []
    for model, named in figures.items():
        for i, dtype in enumerate(("fp32", "bf16")):
            h = doc.get(dtype, {}).get(model)
            if not h:
                continue
            shown = ", ".join(f"{label} {num(h.get(key))}" for label, key in named)
            rows.append([model if i == 0 else "", dtype, shown, duration(h.get("train_seconds"))])
    return table(header, rows)


# each family's seed study, on the machine kind of the record its pipeline run belongs to
SEEDS = {
    "dcgan": REPO / "experiments" / "results" / "seeds-cpu-AVX2-AMD.json",
    "stylegan": REPO / "experiments" / "results" / "seeds-cpu-AVX512-AMD.json",
}
SEEDS_INTEL = REPO / "experiments" / "results" / "seeds-cpu-AVX512-Intel.json"  # the record of 911355e
SEED_FIGURES = (("fd_tagger", "`fd_tagger` ↓"), ("recall", "`recall`"), ("cond_accuracy", "`cond_accuracy`"),
                ("control_success", "`control_success` (mean)"), ("control_success_min", "lowest slider"))  # fmt: skip


def generator_seeds(m: Metrics, family: str, path: Path | None = None) -> list[str]:
    """experiments/seeds.py for one generator family (`path`: that study's result file, default the family's in
    SEEDS): each headline figure as mean ± sample std over the study's seeds (the pipeline's own run is one of them
    when the study read it), test and validation; `fd_tagger` also as a share of the PCA-Gaussian baseline's (the
    committed run's) on the same split."""
    path = path or SEEDS.get(family)
    doc = _result(path).get(family) if path else None
    header = ["split", "seeds", *(label for _, label in SEED_FIGURES), "lowest group's `cond_accuracy` / the tagger's",
              "`fd_tagger` ÷ PCA-Gaussian's"]  # fmt: skip
    if not doc:
        return table(header, [])
    seeds = ", ".join(str(r["seed"]) + (" (the pipeline's run)" if r.get("from") else "") for r in doc["runs"])
    rows = []
    for split, prefix in (("test", ""), ("validation", "val_")):
        cells = []
        for key, _ in SEED_FIGURES:
            f = doc["spread"].get(prefix + key)
            cells.append(DASH if f is None else f"{num(f['mean'])} ± {num(f['std'])}")
        lows = []  # each run's lowest group of cond_accuracy / the tagger's accuracy
        for r in doc["runs"]:
            ratios = {k.split("/", 1)[1]: v for k, v in r.items() if k.startswith(f"{prefix}cond_vs_tagger/")}
            lows.append(min(ratios.items(), key=lambda kv: kv[1]))
        mean, std = statistics.fmean(v for _, v in lows), statistics.stdev(v for _, v in lows) if len(lows) > 1 else 0.0
        groups = ", ".join(sorted({g for g, _ in lows}))
        cells.append(f"{num(mean)} ± {num(std)} ({groups})")
        base = m[f"dcgan.pca_gaussian.{prefix}fd_tagger"]
        fd = doc["spread"].get(prefix + "fd_tagger")
        share = DASH if not (base and fd) else f"{num(fd['mean'] / base, 2)}× (baseline {num(base)})"
        rows.append([split, seeds if split == "test" else "", *cells, share])
    return table(header, rows) + ["", f"Trained on {doc.get('device', '?')}; mean ± sample standard deviation."]


AUTO_TAGS = REPO / "experiments" / "results" / "auto_tags-cpu-AVX2-AMD.json"


def auto_tag_floors(m: Metrics, path: Path = AUTO_TAGS) -> list[str]:
    """experiments/auto_tags.py's calibration: floors chosen on N labelled images of the hidden style, and what they
    trust of its validation [test] images (mean ± sample std over random draws of the N)."""
    header = ["labels of the style", "trusted accuracy, validation [test]", "trusted share, validation [test]"]
    header.append("draws at the bar, validation [test]")
    doc = _result(path)
    calib = (doc or {}).get("tagger", {}).get("calibration")
    if not calib:
        return table(header, [])

    def pm(s: dict | None) -> str:
        return DASH if not s else f"{num(s['mean'])} ± {num(s['std'])}"

    rows = [
        [
            "0 (the borrowed floors)" if t["labels"] == 0 else num(t["labels"]),
            f"{pm(t['val_trusted_accuracy'])} [{pm(t['trusted_accuracy'])}]",
            f"{pm(t['val_trusted_share'])} [{pm(t['trusted_share'])}]",
            f"{num(t['val_draws_at_bar'], 2)} [{num(t['draws_at_bar'], 2)}]",
        ]
        for t in calib["by_labels"]
    ]
    draws = doc["config"].get("calibration", {}).get("draws", "?")
    reached, steady = calib["labels_to_reach_bar"], calib.get("labels_for_steady_bar")
    return table(header, rows) + [
        "",
        f"Bar {num(calib['min_accuracy'], 2)}: the mean trusted accuracy on validation first reaches it at "
        f"{num(reached) if reached is not None else 'none of these counts'} labels, and "
        f"{num(calib['steady_share'] * 100, 0)}% of the draws do from "
        f"{num(steady) if steady is not None else 'none of these counts'} labels on. Each draw labels N of the hidden "
        f"style's {num(calib['hidden_pool_images'])} training-split images; the floors chosen on them are scored on "
        f"its {num(calib['hidden_val_images'])} validation and {num(calib['hidden_test_images'])} test images; "
        f"{draws} draws per N (a draw trusting nothing counts as at the bar), mean ± sample standard deviation.",
    ]


def auto_tags(m: Metrics, path: Path = AUTO_TAGS) -> list[str]:
    """experiments/auto_tags.py: the tagger on the collection whose tags were hidden, and DCGAN conditioned on its
    auto-tags against the same DCGAN on its true tags (mean ± sample std over the seeds done), test [validation]."""
    doc = _result(path)
    if not doc:
        return table(["figure", "value"], [])
    hidden = doc["tagger"]["on_hidden"]
    runs = doc["runs"]

    def over(arm: str, key: str) -> str:
        vals = [r[key] for r in runs[arm].values()]
        if not vals:
            return DASH
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f"{num(statistics.fmean(vals))} ± {num(std)}"

    none = {"mean": None, "std": None}
    ratio, val_ratio = doc["cond_accuracy_ratio"] or none, doc["val_cond_accuracy_ratio"] or none
    change = doc["fd_tagger_change"] or none
    sources = ", ".join(f"`{s}` {num(n)}" for s, n in doc["images_by_source"].items())
    rows = [
        ["images by source (the second one's tags hidden)", sources],
        ["tagger on the hidden collection: macro-F1 against its truth (every image)", num(hidden["macro_f1"])],
        [
            "... its trusted auto-tags: share of (image, group), accuracy (floors chosen for "
            f"{num(doc['tagger']['auto_tags']['min_accuracy'], 2)} on the tagged validation images)",
            f"{num(hidden['trusted_share'])}, {num(hidden['trusted_accuracy'])}",
        ],  # fmt: skip
        [
            "DCGAN on the true tags: `cond_accuracy`, test [validation]",
            f"{over('truth', 'cond_accuracy')} [{over('truth', 'val_cond_accuracy')}]",
        ],  # fmt: skip
        [
            "DCGAN on the auto-tags: `cond_accuracy`, test [validation]",
            f"{over('auto', 'cond_accuracy')} [{over('auto', 'val_cond_accuracy')}]",
        ],  # fmt: skip
        [
            "`cond_accuracy` ratio, auto / truth (bar ≥ 0.9)",
            f"{num(ratio['mean'])} ± {num(ratio['std'])} [{num(val_ratio['mean'])} ± {num(val_ratio['std'])}]",
        ],  # fmt: skip
        ["DCGAN `fd_tagger`, truth → auto (test)", f"{over('truth', 'fd_tagger')} → {over('auto', 'fd_tagger')}"],
        [
            "`fd_tagger` change, auto / truth − 1 (bar: within 10% or one seed std)",
            f"{num(change['mean'], sign=True)} ± {num(change['std'])}",
        ],  # fmt: skip
    ]
    seeds = ", ".join(runs["truth"])
    return table(["figure", "value"], rows) + [
        "",
        f"Profile `{doc['profile']}`, DCGAN seeds {seeds} ({doc.get('seeds_done', len(runs['truth']))} of "
        f"{len(doc['config']['seeds'])} done), mean ± sample standard deviation.",
    ]


PIPELINE_TIME = REPO / "bench" / "results" / "pipeline-time-cpu-AVX2-AMD.json"
# per stage, the trainings inside it whose seconds the stage's metrics record
TRAINED_IN = {
    "tagger": [("cnn", "tagger.cnn.train_seconds"), ("judge", "tagger.judge.train_seconds"),
               ("HOG baseline", "tagger.hog_baseline.train_seconds")],
    "pose": [("posenet", "pose.posenet.train_seconds")],
    "train@dcgan": [("DCGAN", "dcgan.dcgan.train_seconds"), ("sliders", "dcgan.dcgan.sliders_seconds"),
                    ("transfer", "dcgan.transfer.train_seconds"), ("from scratch", "dcgan.transfer_scratch.train_seconds")],
    "train@stylegan": [("StyleGAN", "stylegan.stylegan.train_seconds"), ("sliders", "stylegan.stylegan.sliders_seconds")],
    "train@sr": [("anime-sr", "sr.sr.train_seconds"), ("anime-srgan (the chosen weight)", "sr.srgan.train_seconds")],
    "train@pose2sketch": [("pix2pix", "pose2sketch.pose2sketch.train_seconds")],
}  # fmt: skip


def pipeline_time(m: Metrics, path: Path = PIPELINE_TIME, trainings: bool = True) -> list[str]:
    """bench/pipeline_time.py: `make pipeline` in a fresh clone, each stage's wall time and share, the trainings
    inside it (from the same run's metrics; `trainings=False` for an earlier run, whose metrics are not these),
    and the total against the hour."""
    doc = _result(path)
    header = ["stage", "time", "share", "of which (training, from the metrics)"]
    if not doc:
        return table(header, [])
    total = doc["total_seconds"]
    rows = []
    for st in doc["stages"]:
        named = TRAINED_IN.get(st["stage"], []) if trainings else []
        seconds = doc.get("trainings", {})  # the run's own; else the committed metrics
        parts = [f"{name} {duration(seconds.get(key, m[key]))}" for name, key in named
                 if seconds.get(key, m[key]) is not None]  # fmt: skip
        rows.append(
            [f"`{st['stage']}`", duration(st["seconds"]), f"{100 * st['seconds'] / total:.0f}%", ", ".join(parts)]
        )
    for name in doc["skipped"]:
        rows.append([f"`{name}`", "skipped", "", "its committed outputs are in the clone: DVC did not re-run it"])
    verdict = "within" if doc["within_budget"] else "**over**"
    rows.append(
        ["**total**", f"**{duration(total)}**", "100%", f"{verdict} the budget of {duration(doc['budget_seconds'])}"]
    )
    return table(header, rows) + ["", f"`make pipeline` of commit `{doc['commit']}` in a fresh clone on {doc['device']} "
                                      f"(`{doc['machine_kind']}`); the clone's `.venv` first, apart: "
                                      f"{duration(doc.get('venv_seconds'))}."]  # fmt: skip


GPU_STEP = REPO / "bench" / "results" / "train-step-gpu-h200.json"  # bench/train_step.py on an H200
# bench/generator_step.py --profile gpu --size <px> --device cuda: the gpu profile's own DCGAN and StyleGAN
PROFILE_STEP = REPO / "bench" / "results"
PROFILE_STEP_GPU = "H100"


def profile_step_cells(family: str, size: int, steps: int, runs: int = 1) -> list[str] | None:
    """The gpu profile's own network and batch timed on a GPU (bench/generator_step.py): the bf16-autocast contestant
    is what `amp: native` runs on CUDA; the fp32 one is said beside it. None where that size was not timed."""
    doc = _result(PROFILE_STEP / f"generator-step-gpu-{size}-{PROFILE_STEP_GPU}.json")
    c = doc.get("contestants", {})
    if f"{family}_bf16" not in c or family not in c:
        return None
    bf16, fp32 = c[f"{family}_bf16"]["seconds_per_step"], c[family]["seconds_per_step"]
    said = (f"{doc['machine']}: {num(bf16 * 1000, 1)} ms a step at {size} px, this profile's network and batch, bf16 "
            f"autocast (`amp: native`); fp32 {num(fp32 * 1000, 1)} ms")  # fmt: skip
    return [said, f"{duration(runs * steps * bf16)} (fp32: {duration(runs * steps * fp32)})"]


def gpu_run(m: Metrics) -> list[str]:
    """docs/gpu.md: what each model trains at the gpu profile (params.yaml), its budget, and the time that length
    takes at a step time measured on a GPU, where one was: the profile's own DCGAN and StyleGAN at each size
    (bench/generator_step.py --profile gpu), else bench/results/train-step-gpu-h200.json (DCGAN at one size, with the
    network it names; a measured network that differs from the profile's is said to)."""
    from core.params import load_params

    p = load_params(REPO / "params.yaml", profile="gpu")
    bench = _result(GPU_STEP)
    measured = bench.get("ms_per_step_median", {}).get("project")
    where = bench.get("machine_kind", DASH)
    net = bench.get("project_settings_c", {})
    g = p.dcgan
    ours = {"batch": g.batch, "ngf": g.ngf, "ndf": g.ndf, "embed": g.embed, "reader width": g.reader.width}
    theirs = {"batch": bench.get("batch"), "ngf": net.get("ngf"), "ndf": net.get("ndf"), "embed": net.get("embed"),
              "reader width": net.get("reader", {}).get("width")}  # fmt: skip
    differ = [k for k in ours if ours[k] != theirs[k]]
    none = "none"

    def dcgan_cells(size: int, steps: int, runs: int = 1) -> list[str]:
        own = profile_step_cells("dcgan", size, steps, runs)
        if own:
            return own
        if measured is None or size != bench.get("size"):
            return [none, DASH]
        said = f"{where}: {num(measured, 1)} ms a step at {size} px"
        if not differ:
            return [said, duration(runs * steps * measured / 1000)]
        said += " with " + ", ".join(f"{k} {theirs[k]}" for k in differ)
        said += " (this profile: " + ", ".join(f"{ours[k]}" for k in differ) + ")"
        return [said, f"{duration(runs * steps * measured / 1000)} at the measured network's rate; the profile's: "
                      "not measured"]  # fmt: skip

    def minutes(x: float) -> str:
        return f"{x:g} min"

    rows = []
    for size in g.sizes:
        rows.append([f"`anime-dcgan` {size} px", f"{num(g.steps)} steps, batch {g.batch}, ngf/ndf {g.ngf}/{g.ndf}",
                     minutes(g.max_minutes), *dcgan_cells(size, g.steps)])  # fmt: skip
    if g.transfer.tag:
        head = g.sizes[0]
        rows.append([f"transfer and transfer_scratch ({g.transfer.tag}), {head} px",
                     f"{num(g.transfer.steps)} steps each (two runs), batch {g.batch}", minutes(g.max_minutes),
                     *dcgan_cells(head, g.transfer.steps, runs=2)])  # fmt: skip
    s = p.stylegan
    for size in s.sizes:
        rows.append([f"`anime-stylegan` {size} px", f"{num(s.steps)} steps, batch {s.batch}, base/cap {s.base}/{s.cap}, "
                     f"mapping {s.mapping}, w {s.w_dim}", minutes(s.max_minutes),
                     *(profile_step_cells("stylegan", size, s.steps) or [none, DASH])])  # fmt: skip
    r = p.sr
    for size in r.sizes:
        rows.append([f"`anime-sr` {size // r.scale} → {size} px", f"{r.content.epochs} epochs of the training split, "
                     f"batch {r.content.batch}, {r.patch} px patches, {r.channels} channels × {r.blocks} blocks",
                     minutes(r.content.max_minutes), none, DASH])  # fmt: skip
        rows.append([f"`anime-srgan` {size // r.scale} → {size} px", f"{num(r.gan.steps)} steps per candidate, "
                     f"{len(r.gan.perceptual_weights)} candidate{'s' if len(r.gan.perceptual_weights) > 1 else ''}, batch {r.gan.batch}", minutes(r.gan.max_minutes),
                     none, DASH])  # fmt: skip
    q = p.pose2sketch
    rows.append([f"`anime-pose2sketch` {p.render.size} px", f"{num(q.steps)} steps, batch {q.batch}, ngf/ndf "
                 f"{q.ngf}/{q.ndf}", minutes(q.max_minutes), none, DASH])  # fmt: skip
    o = p.pose
    rows.append([f"`anime-posenet` {p.render.size} px", f"{o.epochs} epochs of {num(p.render.count.train)} poses × "
                 f"{len(o.kinds)} kinds, batch {o.batch}, width {o.width}", minutes(o.max_minutes), none, DASH])  # fmt: skip
    t = p.tagger
    rows.append([f"`anime-tagger` CNN{' and judge' if t.judge else ''} {t.size} px", f"{t.epochs} epochs of the "
                 f"training split, batch {t.batch}, width {t.width}", f"{minutes(t.max_minutes)} each", none, DASH])  # fmt: skip
    header = ["model", "what it trains at the gpu profile", "budget (`max_minutes`, a guard)",
              "step time measured on a GPU", "that length at that step time"]  # fmt: skip
    return table(header, rows)


GUIDED_SLIDERS = REPO / "experiments" / "results" / "guided-sliders-cpu-AVX512-Intel.json"
JUDGE_SIZE = REPO / "experiments" / "results" / "judge-size-cpu-AVX512-Intel.json"
WEAK_GROUPS = ("glasses", "smile", "blush", "eye_color")


def guided_sliders(m: Metrics, path: Path = GUIDED_SLIDERS) -> list[str]:
    """experiments/guided_sliders.py: validation control_success per guide (plain first), its cost, and how often
    the reader and the judge read the groups no slider moved as before the move (mean over groups)."""
    doc = _result(path)
    rows = []
    for family, fam in doc.get("families", {}).items():
        for name, r in fam["variants"].items():
            g = r["guide"]
            guide = (
                "none"
                if not g["steps"]
                else f"{g['steps']} steps at {g['lr']:g}, move {g['move']:g}, anchor {g['anchor']:g}"
            )
            kept = r["readings"]["unmoved_kept"]
            rows.append([f"`{family}`", name, guide, num(r["val_control_success"]), num(r["val_lowest"]),
                         num(statistics.fmean(kept["reader"].values())),
                         num(statistics.fmean(kept["judge"].values())), num(r["ms_per_moved_image"], 1)])  # fmt: skip
    header = ["family", "variant", "guide (Adam on z)", "`val_control_success`", "lowest slider",
              "unmoved groups kept: reader", "unmoved groups kept: judge", "ms a moved image"]  # fmt: skip
    if not doc:
        return table(header, rows)
    return table(header, rows) + [
        "",
        f"Validation latents and conditions of the train stage (seed + 11), profile `{doc['profile']}`, "
        f"{doc['threads']} threads; `{path.name}`.",
    ]


def guided_sliders_readings(m: Metrics, path: Path = GUIDED_SLIDERS) -> list[str]:
    """experiments/guided_sliders.py, the plain sliders per group: how often the reader and the judge read the
    condition the generator was given at the start, and read the group as before when another group's slider moved."""
    doc = _result(path)
    rows = []
    for family, fam in doc.get("families", {}).items():
        r = fam["variants"].get("plain", {}).get("readings")
        if not r:
            continue
        start, kept = r["condition_read_at_start"], r["unmoved_kept"]
        for g in start["reader"]:
            rows.append([f"`{family}`", g, num(start["reader"][g]), num(start["judge"][g]), num(kept["reader"][g]),
                         num(kept["judge"][g])])  # fmt: skip
    header = ["family", "group", "condition read at the start: reader", "judge",
              "kept when another slider moves: reader", "judge"]  # fmt: skip
    return table(header, rows)


def judge_size(m: Metrics, path: Path = JUDGE_SIZE) -> list[str]:
    """experiments/judge_size.py: each judge recipe (and the validation shard of its thresholds) with its validation
    macro-F1 at the generators' size and at its own, the weak groups' F1 at the generators' size, the slider ceiling
    there, and (beside it, not chosen by it) one DCGAN's validation sliders under that judge."""
    doc = _result(path)
    low = doc.get("low_size", 32)
    rows = []
    for name, r in doc.get("judges", {}).items():
        spec = r["spec"]
        recipe = f"{spec['shard']} px shard" + (
            f", {spec['low_res']:g} of rows at {low} px" if spec.get("low_res") else ""
        )
        f1 = r[f"val_macro_f1_by_group_{low}px"]
        dcgan = r.get("dcgan_val")
        rows.append([f"`{name.split('@')[0]}`", recipe, f"{r['calibrated_at']} px", num(r[f"val_macro_f1_{low}px"]),
                     num(r["val_macro_f1_64px"]), " / ".join(num(f1[g]) for g in WEAK_GROUPS), num(r["ceiling"]),
                     f"{num(r['ceiling_by_tag'][r['ceiling_lowest']])} (`{r['ceiling_lowest']}`)",
                     f"{num(dcgan['val_control_success'])} ({num(dcgan['val_lowest'])})" if dcgan else DASH])  # fmt: skip
    header = ["judge", "learns from", "thresholds on validation at", f"macro-F1 {low} px", "macro-F1 64 px",
              f"F1 {low} px: {' / '.join(WEAK_GROUPS)}", f"ceiling {low} px", "lowest slider's ceiling",
              "DCGAN's sliders (lowest)"]  # fmt: skip
    if not doc:
        return table(header, rows)
    return table(header, rows) + [
        "",
        f"Validation only: real validation images at {low} and 64 px; the ceiling is the renderer's one-attribute "
        f"changes (experiments/slider_ceiling.yaml's characters) read at {low} px; DCGAN's sliders on the train stage's "
        f"validation latents. Profile `{doc['profile']}`, seed {doc['seed']}; `{path.name}`.",
    ]


JUDGE_FLIP = REPO / "experiments" / "results" / "judge-flip-cpu-AVX512-Intel.json"


def judge_flip(m: Metrics, path: Path = JUDGE_FLIP) -> list[str]:
    """experiments/judge_flip.py: the pipeline's judge read plainly and with each image's mirror (thresholds of each
    read calibrated on validation): validation macro-F1 at 32 and 64 px, the weak groups' F1 at 32, the slider
    ceiling at 32 px and each generator's validation sliders under that read."""
    doc = _result(path)
    families = [f for f in ("dcgan", "stylegan") if f in doc.get("bundles", {})]
    rows = []
    for name, r in doc.get("reads", {}).items():
        f1, c = r["val_macro_f1_by_group_32px"], r["ceiling_32"]
        gens = [f"{num(r[f'{f}_val']['val_control_success'])} ({num(r[f'{f}_val']['val_lowest'])})" for f in families]
        rows.append([f"`{name}`", "image and mirror, mean" if r["spec"]["flip"] else "the image", num(r["val_macro_f1_32px"]),
                     num(r["val_macro_f1_64px"]), " / ".join(num(f1[g]) for g in WEAK_GROUPS), num(c["ceiling"]),
                     f"{num(c['ceiling_by_tag'][c['lowest']])} (`{c['lowest']}`)", *gens])  # fmt: skip
    header = ["read", "what the judge reads", "macro-F1 32 px", "macro-F1 64 px",
              f"F1 32 px: {' / '.join(WEAK_GROUPS)}", "ceiling 32 px", "lowest slider's ceiling",
              *[f"{f.replace('dcgan', 'DCGAN').replace('stylegan', 'StyleGAN')}'s sliders (lowest)" for f in families]]  # fmt: skip
    if not doc:
        return table(header, rows)
    return table(header, rows) + [
        "",
        f"Validation only, the pipeline's judge (no retraining), thresholds of each read chosen on the validation "
        f"images at {doc['calibrated_at']} px; the ceiling is the renderer's one-attribute changes read at 32 px; the "
        f"generators' sliders on the train stage's validation latents. Profile `{doc['profile']}`; `{path.name}`.",
    ]


RETRIEVAL_RERANK = REPO / "experiments" / "results" / "retrieval-rerank-cpu-AVX2-AMD.json"


def retrieval_rerank(m: Metrics, path: Path = RETRIEVAL_RERANK) -> list[str]:
    """experiments/retrieval_rerank.py: validation's pose-level top-1 at the test split's candidate count (at
    validation's own in brackets) for each source of the projections' joints and weight (rows) and k (columns), the
    chosen setting in bold; the embedding's nearest alone (k 1) below it."""
    doc = _result(path)
    rows_in = doc.get("rows", [])
    ks = sorted({r["k"] for r in rows_in if r["k"] > 1})
    header = ["projections' joints", "weight", *(f"k {k}" for k in ks)]

    def cell(r: dict) -> str:
        text = f"{num(r['val_retrieval_pose_top1_at_test_size'])} ({num(r['val_retrieval_pose_top1'])})"
        return f"**{text}**" if r == doc.get("chosen") else text

    rows = []
    grid = {(r["joints"], r["weight"], r["k"]): r for r in rows_in[1:]}
    for source in doc.get("settings", {}).get("joints", []):
        for w in doc["settings"]["weight"]:
            rows.append([source, f"{w:g}", *(cell(grid[source, w, k]) if (source, w, k) in grid else DASH for k in ks)])
    if not doc:
        return table(header, rows)
    c, base = doc["chosen"], rows_in[0]
    return table(header, rows) + [
        "",
        f"Validation's {num(doc['queries'])} queries among {num(base['val_retrieval_candidates_at_test_size'])} "
        f"projections (validation's own and {num(doc['distractors'])} training projections drawn at random: the test "
        f"split's count), in brackets among validation's {num(base['val_retrieval_candidates'])}. Chosen: k "
        f"{c['k']}, weight {c['weight']:g}, {c['joints']} joints: exact top-1 "
        f"{num(c['val_retrieval_top1_at_test_size'])} and a pose error of "
        f"{num(c['val_retrieval_pose_error_px_at_test_size'], 2)} px at that count. The embedding's nearest alone "
        f"(k 1): pose-level top-1 {cell(base)}, exact {num(base['val_retrieval_top1_at_test_size'])}, a pose error "
        f"of {num(base['val_retrieval_pose_error_px_at_test_size'], 2)} px. Profile `{doc['profile']}`, seed {doc['seed']}, the pose stage's posenet; `{path.name}`.",
    ]


TABLES: dict[str, Callable[[Metrics], list[str]]] = {
    "guided-sliders": guided_sliders,
    "guided-sliders-readings": guided_sliders_readings,
    "judge-size": judge_size,
    "judge-flip": judge_flip,
    "retrieval-rerank": retrieval_rerank,
    "gpu-run": gpu_run,
    "dcgan-slider-variants": dcgan_slider_variants,
    "stylegan-routes": stylegan_routes,
    "longer-training": longer_training,
    "ruler-check": ruler_check_chosen,
    "ruler-check-pipeline": lambda m: ruler_check(m, RULER_CHECK_PIPELINE),
    "ruler-variants": ruler_variants,
    "transfer-seeds": transfer_seeds,
    "serve-soak-600s": serve_soak,
    "serve-soak-120s-avx2": lambda m: serve_soak(m, SOAK_600.with_name("serve-soak-cpu-unwarmed-AVX2-AMD.json")),
    "serve-soak-120s-runs": lambda m: serve_soak(m, SOAK_600.with_name("serve-soak-cpu-AVX2-AMD.json")),
    "gpu-profile-test": gpu_profile_test,
    "gpu-profile-test-6d2caf8": lambda m: gpu_profile_test(
        m, GPU_PROFILE_TEST.with_name("gpu-profile-test-stages-AVX2-AMD-6d2caf8.json")
    ),
    "gpu-profile-test-profile": gpu_profile_profile,
    "make-test-fresh-workers": lambda m: make_test_fresh(m, MAKE_TEST_FRESH_WORKERS),
    "make-test-workers-7b31800": lambda m: make_test_fresh(
        m, MAKE_TEST_FRESH_WORKERS.with_name("make-test-2workers-AVX2-AMD-7b31800.json")
    ),
    "generator-step": generator_step,
    "generator-step-bf16": lambda m: generator_step(m, GENERATOR_STEP_BF16),
    "test-suite": test_suite,
    "test-suite-fast-avx2": lambda m: test_suite(m, TEST_SUITE.with_name("test-suite-AVX2-AMD.json")),
    "make-test-workers": make_test_workers,
    "venv-setup": venv_setup,
    "venv-setup-bytecode": lambda m: venv_setup(m, VENV_SETUP.with_name("setup-bytecode-AVX2-AMD.json")),
    "venv-setup-c595844": lambda m: venv_setup(m, VENV_SETUP.with_name("setup-AVX2-AMD-c595844.json")),
    "test-profile-smoke-pipeline": lambda m: test_profile(
        m, REPO / "bench" / "results" / "test-profile-test_dvc_repro_noop_change_push_pull-AVX2-AMD.json"
    ),
    **{  # each dated fresh-clone run the report and the testing page show, by its commit
        f"make-test-fresh-{c}": lambda m, c=c: make_test_fresh(
            m, MAKE_TEST_FRESH.with_name(f"make-test-fresh-clone-AVX2-AMD-{c}.json")
        )
        for c in MAKE_TEST_RUNS
    },
    "make-test-fresh-3workers": lambda m: make_test_fresh(
        m, MAKE_TEST_FRESH.with_name("make-test-fresh-clone-AVX2-AMD-ecff4e3-3workers.json")
    ),
    "make-test-fresh": make_test_fresh,
    "stage-start": stage_start,
    "pipeline-time": pipeline_time,
    "pipeline-time-612a431": lambda m: pipeline_time(
        m, PIPELINE_TIME.with_name("pipeline-time-cpu-AVX512-AMD-612a431.json"), False
    ),
    "pipeline-time-60a53c9": lambda m: pipeline_time(
        m, PIPELINE_TIME.with_name("pipeline-time-cpu-AVX512-AMD-60a53c9.json")
    ),
    "pipeline-time-cad8e12": lambda m: pipeline_time(
        m, PIPELINE_TIME.with_name("pipeline-time-cpu-AVX512-AMD-cad8e12.json")
    ),
    "bf16-study": bf16_study,
    "bf16-full-length": bf16_full_length,
    "bf16-sr-pose2sketch": bf16_sr_pose2sketch,
    "dcgan-seeds": lambda m: generator_seeds(m, "dcgan"),
    "dcgan-seeds-avx512-intel": lambda m: generator_seeds(m, "dcgan", SEEDS_INTEL),
    "auto-tags": auto_tags,
    "auto-tag-floors": auto_tag_floors,
    "stylegan-seeds": lambda m: generator_seeds(m, "stylegan"),
    "sliders": sliders,
    "slider-ceiling": slider_ceiling,
    "dcgan-slider-seeds": dcgan_slider_seeds,
    "dcgan-slider-seeds-psi": dcgan_slider_seeds_psi,
    "summary": summary,
    "data": data,
    "tagger": tagger,
    "posenet": posenet,
    "dcgan": dcgan,
    "stylegan": stylegan,
    "sr": sr,
    "pose2sketch": pose2sketch,
    "evaluate": evaluate,
}


# --- the pages -------------------------------------------------------------------------------------------------


def pages(root: Path = REPO) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [root / "README.md"] + sorted((root / "docs").rglob("*.md"))


def render(text: str, m: Metrics, where: str = "") -> str:
    def fill(match: re.Match) -> str:
        key = match["key"]
        if key not in TABLES:
            raise KeyError(f"{where}: results marker {key!r} is none of {sorted(TABLES)}")
        body = "\n".join(TABLES[key](m)) + "\n"
        return match["begin"] + body + match["end"]

    return MARKER.sub(fill, text)


def keys_in(text: str) -> list[str]:
    return [match["key"] for match in MARKER.finditer(text)]


def stale(root: Path = REPO, metrics: Path | None = None) -> dict[Path, str]:
    """{page: what the metrics give} for every page whose tables differ from it."""
    m = Metrics(metrics or root / "metrics")
    out = {}
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        new = render(text, m, str(page.relative_to(root)))
        if new != text:
            out[page] = new
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the tables that differ (default: only check)")
    ap.add_argument("--metrics", type=Path, default=None, help="the metrics folder (default: metrics/)")
    ap.add_argument("--print", dest="show", metavar="KEY", help="print one table (e.g. summary) and exit")
    args = ap.parse_args(argv)
    if args.show:
        print("\n".join(TABLES[args.show](Metrics(args.metrics or REPO / "metrics"))))
        return 0
    changed = stale(REPO, args.metrics)
    for page, text in changed.items():
        rel = page.relative_to(REPO)
        if args.write:
            page.write_text(text, encoding="utf-8")
            print(f"results: rewrote {rel}")
        else:
            print(f"results: {rel} differs from the metrics; run `python -m tools.results --write`", file=sys.stderr)
    return 0 if args.write or not changed else 1


if __name__ == "__main__":
    sys.exit(main())
