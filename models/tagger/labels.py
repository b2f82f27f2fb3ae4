"""The tagger's labels: `data/label/tags.csv` (the `label` stage: the source's tags with the annotators' consensus
over them) joined to the ingest shards by image id.

- A human label overrides the source's value of that group for that image and adds one where the source had none
  (the label stage merges them group by group); an id absent from tags.csv is unlabelled (-1 in every group).
- Each image keeps its ingest split: labels of test images only ever score, never train.
- The origin of an image's labels: `generated` (the built-in set's own), `source` (an imported data set's tags) or
  `label_studio` (at least one group from annotators).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from core.names import GROUPS, index_of

ORIGINS = ("generated", "source", "label_studio")


def origin_of(source: str) -> str:
    if source == "label-studio":
        return "label_studio"
    return "generated" if source == "generated" else "source"


def read_tags(path: str | os.PathLike[str]) -> dict[str, tuple[str, np.ndarray]]:
    """id -> (origin, class index per group in GROUPS order, -1 where unknown); values outside a group are errors."""
    out: dict[str, tuple[str, np.ndarray]] = {}
    with open(Path(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"id", "source", *GROUPS} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} (written by the label stage?)")
        for row in reader:
            y = np.array([index_of(g, row[g]) if row[g] else -1 for g in GROUPS], np.int64)
            out[row["id"]] = (origin_of(row["source"]), y)
    return out


def labels_for(ids: list[str], tags: dict[str, tuple[str, np.ndarray]]) -> tuple[np.ndarray, list[str]]:
    """(labels [N, len(GROUPS)], origin per image: one of ORIGINS, or "none") for the images `ids`."""
    y = np.full((len(ids), len(GROUPS)), -1, np.int64)
    origins = []
    for i, ref in enumerate(ids):
        origin, values = tags.get(ref, ("none", None))
        if values is not None:
            y[i] = values
        origins.append(origin if values is not None and (values >= 0).any() else "none")
    return y, origins


def count_by_origin(origins: list[str]) -> dict[str, int]:
    return {o: sum(1 for x in origins if x == o) for o in ORIGINS}
