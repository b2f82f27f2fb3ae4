"""The tagger family (`python -m stages.tagger`): train the attribute classifiers, calibrate per-tag thresholds,
auto-tag every image.

Three models on the ingest split, each an MLflow run in experiment `tagger` and a version of `anime-tagger`
(models/tagger/roles.py):

  cnn        the TaggerNet (models/tagger/net.py) with seed `seed`: tag `role=cnn`; a store's first one becomes the
             extractor, the feature space of fd_tagger / kid_tagger (the `extractor` stage pins it; retraining does
             not move it)
  baseline   HOG + colour histograms + logistic regression (models/tagger/baseline.py): tag `role=baseline`
  judge      the same CNN trained with seed + judge_seed_offset, judge_low_res of its rows shown at judge_low_size px
             (the generators' size, which it reads): tag `role=judge`, alias `judge`; the independent judge of the
             attribute-slider test

Labels come from `data/label/tags.csv` (the `label` stage: the source's tags with the annotators' consensus over
them; models/tagger/labels.py): a human label overrides or adds, images with no known group stay out of training
and still get auto-tags, and every image keeps its ingest split, so labels of test images only score.

Per-tag thresholds are calibrated on the validation split, every figure is reported on validation and test, and the
model with the better *validation* macro-F1 (cnn or baseline) is this run's pick: alias `challenger` (the evaluate
stage scores it against the champion and moves `champion`) and it writes `tags_auto.csv`: one row per image of the
ingest manifest (labelled or not), a probability per tag, the predicted value per group.

The family contract (models/family.py): `load`, `run` (inside the stage's atomic output folder), `sheet` (none),
`summary`; `stage(params, paths, out)` is the whole stage, what stages/tagger.py calls. Its figures:
{cnn: {...}, judge: {...}, hog_baseline: {...}, floor: {...}, chosen, chosen_version, data: {...}}
(`floor`: every group's most common training value answered for every image).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput
from core.names import ATTRIBUTES, GROUPS
from core.params import Params
from core.rounding import rounded
from dataset.shards import ImageShards, read_manifest
from models.promote import promote
from models.tagger import evaluate, extra, roles, trust
from models.tagger.labels import count_by_origin, labels_for, read_tags
from models.tagger.net import MODEL, predict_proba

SECTION = "tagger"
INPUTS = ("data", "labels", "pin")  # keys of `paths`; labels None: the manifest's own tags; pin None: no pin
GRID_KEYS = ("C_by_group", "C_interior_by_group", "C_tried_by_group")  # the HOG baseline's C, chosen on validation


class NoTrainingLabels(BadInput):
    """Too few labelled training images to train a tagger (and no pinned tagger to use instead)."""


def load(params: Params, paths: dict[str, Path | None]) -> tuple[dict, dict]:
    """({"splits": {split: (images, labels)}, "origins", "every" (every image's shards), "data_dir", "tags", "pin"},
    what to record): the ingest shards with the label stage's tags (`paths["labels"]` None: the manifest's own tags)
    and the tagger pin (`paths["pin"]`, models/tagger/pinned.py; None: no pin); the training split keeps its labelled
    images only. Without a pinned tagger, a split too small to train or score on is an error."""
    from models.tagger import pinned as pin_file

    tp = params.tagger
    pin = pin_file.read_pin(paths["pin"]) if paths.get("pin") is not None else {"version": None}
    pinned = pin["version"] is not None
    data_dir, labels = paths["data"], paths.get("labels")
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
    for s in ("train", "val", "test") if not pinned else ():
        if len(data[s][0]) < 2:
            if s == "train":
                raise NoTrainingLabels(
                    f"{data_dir}: the train split has {len(data[s][0])} labelled images; a tagger needs at least 2"
                )
            raise BadInput(f"{data_dir}: the {s} split has {len(data[s][0])} images; the tagger needs at least 2")
    extra_labels = extra.read_extra(labels) if labels is not None else {}  # annotators' extra groups
    doc = {"splits": data, "origins": origins, "every": every, "data_dir": data_dir, "tags": tags, "pin": pin}
    return {**doc, "extra": extra_labels}, {}


def run(
    params: Params,
    data: dict,
    extractor,
    inputs: list[str],
    out: Path,
    world,
    units: tracking.Units,
) -> dict:
    """Train the three roles into `out` (the stage's atomic folder), choose, promote, auto-tag; the figures. The
    tagger is what the extractor is pinned from, so `extractor` is None here; it trains on one process (`world`)."""
    tp = params.tagger
    splits, origins, every, data_dir = data["splits"], data["origins"], data["every"], data["data_dir"]
    balance = evaluate.balance({s: splits[s][1] for s in splits})
    write_json(out / "balance.json", balance)
    cnn = roles.train_cnn_role(params, "cnn", params.seed, splits, inputs, out / "cnn", units)
    base = roles.train_baseline_role(params, splits, inputs, out / "baseline", units)
    judge = None
    if tp.judge:
        judge = roles.train_cnn_role(
            params, "judge", params.seed + tp.judge_seed_offset, splits, inputs, out / "judge", units
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
    write_json(out / "registered.json", registered)  # the extractor stage pins a store's first cnn
    x_all, y_all = every_labelled(every, data["tags"])
    rows = read_manifest(data_dir)

    probs = predict_proba(cnn["net"], x_all) if pick == "cnn" else base["model"].probabilities(x_all)
    floors = chosen["floors"]  # chosen on validation when the role was trained, and kept in its bundle
    model = f"{MODEL}/{chosen['version']}"
    pred, trusted, by_source = trust.auto_tag(params, rows, probs, chosen["thresholds"], y_all, floors, out, model)
    auto = auto_figures(params, floors, by_source, rows, data["tags"], pred, trusted, out / "tags_best.csv")
    figures = {**_figures(splits, origins, balance, cnn, base, judge, pick, chosen, len(rows)), "auto_tags": auto}
    # the annotators' extra groups: heads on the cnn role's features once labelled enough, and on the judge's
    extra_figures = extra.run(params, cnn["net"], x_all, rows, data["extra"], out, judge["net"] if judge else None)
    if data["extra"]:
        figures["extra_groups"] = extra_figures
    return figures


def every_labelled(every: ImageShards, tags: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(every image, its known class per group: the label stage's `tags`, or the manifest's own where None)."""
    x, y = every.arrays()
    if tags is not None:
        y, _ = labels_for(every.ids, tags)
    return x, y


ORIGINS = ("annotation", "source", "auto", "unknown")  # where an image's best tag of a group comes from


def auto_figures(
    params: Params,
    floors: dict,
    by_source: dict,
    rows: list[dict],
    tags: dict | None,
    pred: np.ndarray,
    trusted: np.ndarray,
    best: Path,
) -> dict:
    """Write `best` (tags_best.csv: every image's best tag per group and where it came from) and return
    metrics/tagger.json's `auto_tags`: each group's overall confidence floor and what it keeps of validation, each
    source's own floors (models/tagger/trust.py), and every (image, group) counted by where its tag comes from."""
    text, counts = best_tags(rows, tags, pred, trusted)
    best.write_text(text, encoding="utf-8")
    return {
        "min_accuracy": params.tagger.auto_min_accuracy,
        "min_labels": params.tagger.auto_min_labels,
        "floor_by_group": {g: e["floor"] for g, e in floors.items()},
        "val_accuracy_by_group": {g: e["val_accuracy"] for g, e in floors.items()},
        "val_coverage_by_group": {g: e["val_coverage"] for g, e in floors.items()},
        **trust.figures(by_source, trusted, rows),
        "tags_by_origin": counts,
    }


def best_tags(rows: list[dict], tags: dict | None, pred: np.ndarray, trusted: np.ndarray) -> tuple[str, dict[str, int]]:
    """(tags_best.csv, counts by origin): per image of the manifest and per group, the best tag there is and where it
    comes from: `annotation` (annotators added or changed it), `source` (the source's own, the generated set's
    included), `auto` (the tagger's, trusted: at or over its group's confidence floor) or `unknown` (empty). `tags`:
    the label stage's tags (models/tagger/labels.read_tags), None for the manifest's own; `pred`, `trusted`: the
    auto-tags (class per group) and which of them are trusted."""
    counts = dict.fromkeys(ORIGINS, 0)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "source", *GROUPS, *(f"from:{g}" for g in GROUPS)])
    for i, r in enumerate(rows):
        origin, values = tags.get(r["id"], ("none", None)) if tags is not None else ("source", None)
        best, whence = [], []
        for k, g in enumerate(GROUPS):
            own = r.get(g, "")
            if values is not None and values[k] >= 0:
                value = ATTRIBUTES[g][values[k]]
                where = "annotation" if origin == "label_studio" and own != value else "source"
            elif tags is None and own:
                value, where = own, "source"
            elif trusted[i, k]:
                value, where = ATTRIBUTES[g][pred[i, k]], "auto"
            else:
                value, where = "", "unknown"
            best.append(value)
            whence.append(where)
            counts[where] += 1
        w.writerow([r["id"], r.get("source", ""), *best, *whence])
    return buf.getvalue(), counts


def _figures(data, origins, balance, cnn, base, judge, pick, chosen, auto_tagged: int) -> dict:
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
        "hog_baseline": {**summary(base), **{k: base["model"].info.get(k) for k in GRID_KEYS}},
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
            "auto_tagged": auto_tagged,
            "imbalance_train_by_group": balance["imbalance_train"],
        },
    }
    if judge is not None:
        metrics["judge"] = {**summary(judge), "epochs_done": judge["epochs_done"]}
    return metrics


def sheet(out: Path) -> None:
    """The tagger has no contact sheet."""
    return None


def summary(figures: dict) -> str:
    if figures["chosen"] == "pinned":
        p = figures["pinned"]
        return (
            f"pinned {MODEL} v{p['version']} ({p['role']}) tagged {figures['data']['auto_tagged']} images, "
            f"test macro-F1 {p['macro_f1']} (None: no test labels); tags by origin "
            f"{figures['auto_tags']['tags_by_origin']}"
        )
    return (
        f"test macro-F1 cnn {figures['cnn']['macro_f1']}, hog_baseline {figures['hog_baseline']['macro_f1']}"
        + (f", judge {figures['judge']['macro_f1']}" if "judge" in figures else "")
        + f", floor {figures['floor']['macro_f1']}; chosen {figures['chosen']} (by validation macro-F1); "
        f"{figures['data']['auto_tagged']} images auto-tagged; tags by origin {figures['auto_tags']['tags_by_origin']}"
        + _extra_summary(figures.get("extra_groups"))
    )


def _extra_summary(e: dict | None) -> str:
    """The summary's words on the annotators' extra groups: each one's head, or the labels it still needs."""
    if not e:
        return ""
    parts = [
        f"{g}: head, test macro-F1 {e['macro_f1_by_group'][g]}"
        if ready
        else f"{g}: {e['labels_needed_by_group'][g]} more training labels for a head"
        for g, ready in e["head_by_group"].items()
    ]
    return "; extra groups " + ", ".join(parts)


def stage(params: Params, paths: dict[str, Path | None], out: Path) -> dict:
    """The tagger stage: load, train, choose and auto-tag into `out` (atomically), the figures rounded; with a pinned
    tagger (`paths["pin"]`, models/tagger/pinned.py) nothing is trained: the pinned version auto-tags."""
    from models.tagger import pinned

    tracking.preflight()
    try:
        data, _ = load(params, paths)
    except NoTrainingLabels as err:
        raise NoTrainingLabels(f"{err}. {_routes()}") from None
    pin = data["pin"]
    if pin["version"] is not None:
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            metrics = pinned.run(params, data, pin, tmp)
        return rounded(metrics)
    inputs = [str(paths[k]) for k in INPUTS if paths.get(k) is not None]
    from serve import pyfunc  # each version is also an MLflow pyfunc model that loads as the service does

    units = tracking.Units(params, "tagger", inputs, pyfunc.log_model)  # a retry takes the roles registered before
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        metrics = run(params, data, None, inputs, tmp, None, units)
    units.complete()
    return rounded(metrics)


def _routes() -> str:
    """What a user can do when the sources carry too few tags to train a tagger, given what this store holds."""
    label = "label some images in Label Studio (make labelstudio, then make label-sync) and re-run"
    _, client = tracking.connect()
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
    if not versions:
        return f"This store has no registered tagger to tag them with either: {label}."
    return (
        f"Either {label}, or pin a registered tagger to tag them ({MODEL} versions {versions[0]}..{versions[-1]} in "
        f"this store): python -m stages.tagger --pin <version or alias> --why '...'"
    )
