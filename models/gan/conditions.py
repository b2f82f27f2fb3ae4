"""What each training image is conditioned on: the `label` stage's tags, the tagger's auto-tags where a group has none.

    y, origin = conditions(ids, read_tags("data/label/tags.csv"), read_auto_tags("data/tagger/tags_auto.csv"))

Per group: a human or source label wins; an image the labels do not cover in that group takes the tagger champion's
reading (`tags_auto.csv` covers every image); -1 only where neither knows (never with the tagger's file).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from core.names import GROUPS, index_of


def read_auto_tags(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """id -> class index per group (GROUPS order) from the tagger stage's tags_auto.csv."""
    out: dict[str, np.ndarray] = {}
    with open(Path(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"id", *GROUPS} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} (written by the tagger stage?)")
        for row in reader:
            out[row["id"]] = np.array([index_of(g, row[g]) for g in GROUPS], np.int64)
    return out


def conditions(
    ids: list[str], tags: dict[str, tuple[str, np.ndarray]], auto: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, int]]:
    """(conditions [N, groups] with -1 where unknown, counts of group values by where they came from)."""
    y = np.full((len(ids), len(GROUPS)), -1, np.int64)
    counts = {"labels": 0, "auto_tags": 0, "unknown": 0}
    for i, ref in enumerate(ids):
        labelled = tags.get(ref, ("none", None))[1]
        guessed = auto.get(ref)
        for k in range(len(GROUPS)):
            if labelled is not None and labelled[k] >= 0:
                y[i, k] = labelled[k]
                counts["labels"] += 1
            elif guessed is not None and guessed[k] >= 0:
                y[i, k] = guessed[k]
                counts["auto_tags"] += 1
            else:
                counts["unknown"] += 1
    return y, counts
