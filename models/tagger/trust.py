"""Which auto-tags are trusted, source by source.

An auto-tag counts (for the generators' conditions, tags_best.csv and the metrics' `tags_by_origin`) only at or
above its group's confidence floor: the lowest confidence from which the tagger's readings of labelled validation
images were right `tagger.auto_min_accuracy` of the time (evaluate.floor_entry). Confidence does not carry over from
one drawing style to another (docs/reports/2026-11-27-auto-tags.md: floors chosen on the built-in style trust nearly
all of another style's auto-tags, which are then right less often than the floors were chosen for), so each source
gets its own floor per group once it has `tagger.auto_min_labels` labelled validation images of that group (its own tags, or
Label Studio annotations of its images); until then it borrows the floor chosen on every source's validation images
together, and floors.json says how many labels it still needs.

floors.json: {"min_accuracy", "min_labels", "overall": {group: entry}, "by_source": {source: {group: entry}}}, an
entry as evaluate.source_floors gives it (floor, val_accuracy, val_coverage, labelled, from, labels_needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import write_json
from core.names import GROUPS
from models.tagger import evaluate, roles


def floors_by_source(
    rows: list[dict], conf: np.ndarray, pred: np.ndarray, y: np.ndarray, overall: dict, params
) -> dict[str, dict]:
    """Per source of the manifest `rows` (in their order), its floors (evaluate.source_floors) from its validation
    images: `conf`, `pred` the auto-tags' confidence and class, `y` every image's known class (-1 unknown), all
    [N, len(GROUPS)] in the rows' order."""
    tp = params.tagger
    source = np.array([r.get("source", "") for r in rows])
    val = np.array([r["split"] == "val" for r in rows], bool)
    out = {}
    for s in dict.fromkeys(source.tolist()):
        m = val & (source == s)
        out[s] = evaluate.source_floors(
            conf[m], pred[m] == y[m], y[m] >= 0, overall, tp.auto_min_accuracy, tp.auto_min_labels
        )
    return out


def trusted(rows: list[dict], conf: np.ndarray, by_source: dict[str, dict]) -> np.ndarray:
    """[N, len(GROUPS)] bool: each image's auto-tags at or above its own source's floors."""
    source = np.array([r.get("source", "") for r in rows])
    mask = np.zeros((len(rows), len(GROUPS)), bool)
    for s, floors in by_source.items():
        m = source == s
        mask[m] = evaluate.trusted(conf[m], floors)
    return mask


def document(params, overall: dict, by_source: dict[str, dict]) -> dict:
    """floors.json's content."""
    tp = params.tagger
    return {
        "min_accuracy": tp.auto_min_accuracy,
        "min_labels": tp.auto_min_labels,
        "overall": overall,
        "by_source": by_source,
    }


def figures(by_source: dict[str, dict], trusted_mask: np.ndarray, rows: list[dict]) -> dict:
    """metrics/tagger.json's per-source part of `auto_tags`: how many groups have their own floor, how many more
    labelled validation images the source needs for all of them (an image labelled counts for every group), and the
    share of its (image, group) auto-tags trusted."""
    source = np.array([r.get("source", "") for r in rows])
    return {
        "own_floors_by_source": {s: sum(e["from"] == "own" for e in f.values()) for s, f in by_source.items()},
        "val_labels_needed_by_source": {s: max(e["labels_needed"] for e in f.values()) for s, f in by_source.items()},
        "trusted_share_by_source": {
            s: float(trusted_mask[source == s].mean()) if (source == s).any() else 0.0 for s in by_source
        },
    }


def auto_tag(
    params, rows: list[dict], probs: dict, thresholds: dict, y: np.ndarray, overall: dict, out: Path, model: str
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Auto-tag every image of the manifest `rows` (`probs` in their order, `y` their known classes), choose each
    source's floors, write `out`/tags_auto.csv and `out`/floors.json; (predicted class, trusted mask, floors by
    source)."""
    pred = evaluate.predict_groups(probs, thresholds)
    conf = evaluate.confidence(probs, pred)
    by_source = floors_by_source(rows, conf, pred, y, overall, params)
    mask = trusted(rows, conf, by_source)
    roles.write_readings(out / "tags_auto.csv", rows, probs, pred, conf, mask, model)
    write_json(out / "floors.json", document(params, overall, by_source))
    return pred, mask, by_source
