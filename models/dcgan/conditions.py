"""What each training image is conditioned on: the `label` stage's tags, the tagger's auto-tags where a group has none.

    y, origin = conditions(ids, read_tags("data/label/tags.csv"), read_auto_tags("data/tagger/tags_auto.csv"))

Per group: a human or source label wins; an image the labels do not cover in that group takes the tagger's reading
(`tags_auto.csv` covers every image) where the tagger is confident enough (its `trusted:<group>` column: a confidence
floor chosen on validation, `tagger.auto_min_accuracy`); -1 (unknown: the generator's null entry, not a value) where
neither knows.

Annotators' extra groups (`label.extra_groups`) join as more columns, after the six, once the tagger stage has fitted
a head for them (`read_extra_tags`: its extra/heads.json lists them, tags_extra.csv gives each image's best tag and
where it came from): the annotation, else the head's trusted auto-tag, else unknown, as for the fixed groups. Groups
still waiting for labels (no head) are left out.

`ConditionPrior` is the training set's table of condition combinations with their counts, saved in the bundle: a
generator samples *unconditionally* by drawing a combination from it (the data's own joint distribution of
attributes) and *partially* conditioned (say hair_color=red only) by drawing among the training combinations that
agree with the request, so the attributes that were not asked for keep their natural correlations.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from core.names import FIXED, GROUPS, AttributeSchema, index_of


def read_auto_tags(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """id -> class index per group (GROUPS order) from the tagger stage's tags_auto.csv; -1 where the auto-tag is
    below its group's confidence floor (`trusted:<group>` 0: models/tagger/evaluate.auto_floors)."""
    out: dict[str, np.ndarray] = {}
    with open(Path(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"id", *GROUPS, *(f"trusted:{g}" for g in GROUPS)} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} (written by the tagger stage?)")
        for row in reader:
            out[row["id"]] = np.array(
                [index_of(g, row[g]) if row[f"trusted:{g}"] == "1" else -1 for g in GROUPS], np.int64
            )
    return out


@dataclass
class ExtraTags:
    """The annotators' extra groups that the generators condition on, and every image's tags in them."""

    schema: AttributeSchema = FIXED  # the fixed groups, then the extra groups with a tagger head
    waiting: list[str] = field(default_factory=list)  # extra groups without a head yet: left out
    labelled: dict[str, np.ndarray] = field(default_factory=dict)  # id -> class per extra group (-1: none)
    auto: dict[str, np.ndarray] = field(default_factory=dict)  # id -> the head's trusted reading (-1: none)


def read_extra_tags(tags_extra: str | os.PathLike[str], heads: str | os.PathLike[str]) -> ExtraTags:
    """The tagger stage's tags_extra.csv and the heads it fitted (the folder `extra/`: heads.json lists each
    group's values): the groups with a head, in heads.json's order, with their annotations and trusted auto-tags."""
    try:
        fitted = json.loads((Path(heads) / "heads.json").read_text(encoding="utf-8"))["groups"]
    except (KeyError, ValueError) as err:
        raise ValueError(f"{heads}/heads.json: not the tagger stage's extra heads ({err})") from None
    schema = AttributeSchema.with_extra({g: h["values"] for g, h in fitted.items()})
    out = ExtraTags(schema)
    with open(Path(tags_extra), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        missing = sorted({*schema.extra, *(f"from:{g}" for g in schema.extra)} - columns)
        if "id" not in columns or missing:
            raise ValueError(f"{tags_extra}: no column {', '.join(missing or ['id'])} (written by the tagger stage?)")
        out.waiting = sorted(g for g in columns if f"from:{g}" in columns and g not in fitted)
        for row in reader:
            lab = np.full(len(schema.extra), -1, np.int64)
            aut = lab.copy()
            for k, g in enumerate(schema.extra):
                origin = row[f"from:{g}"]
                if origin == "annotation":
                    lab[k] = schema.index_of(g, row[g])
                elif origin == "auto":
                    aut[k] = schema.index_of(g, row[g])
                elif origin != "unknown":
                    raise ValueError(
                        f"{tags_extra}: from:{g} {origin!r} for {row['id']}; expected annotation, auto or unknown"
                    )
            out.labelled[row["id"]], out.auto[row["id"]] = lab, aut
    return out


def conditions(
    ids: list[str],
    tags: dict[str, tuple[str, np.ndarray]],
    auto: dict[str, np.ndarray],
    extra: ExtraTags | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """(conditions [N, groups] with -1 where unknown, counts of group values by where they came from). The groups are
    the six, then `extra`'s (its annotations in place of labels, its trusted readings in place of auto-tags)."""
    n_extra = len(extra.schema.extra) if extra is not None else 0
    y = np.full((len(ids), len(GROUPS) + n_extra), -1, np.int64)
    counts = {"labels": 0, "auto_tags": 0, "unknown": 0}
    unset = np.full(len(GROUPS), -1, np.int64)
    for i, ref in enumerate(ids):
        labelled = tags.get(ref, ("none", None))[1]
        guessed = auto.get(ref)
        if extra is not None:
            none = np.full(n_extra, -1, np.int64)
            labelled = np.concatenate([unset if labelled is None else labelled, extra.labelled.get(ref, none)])
            guessed = np.concatenate([unset if guessed is None else guessed, extra.auto.get(ref, none)])
        for k in range(y.shape[1]):
            if labelled is not None and labelled[k] >= 0:
                y[i, k] = labelled[k]
                counts["labels"] += 1
            elif guessed is not None and guessed[k] >= 0:
                y[i, k] = guessed[k]
                counts["auto_tags"] += 1
            else:
                counts["unknown"] += 1
    return y, counts


class ConditionPrior:
    def __init__(self, table: np.ndarray, counts: np.ndarray):
        self.table, self.counts = table.astype(np.int64), counts.astype(np.int64)  # [M, groups], [M]

    @classmethod
    def fit(cls, labels: np.ndarray) -> ConditionPrior:
        """From training conditions [N, groups] (-1 unknown stays -1: the generator's null entry)."""
        table, counts = np.unique(labels.astype(np.int64), axis=0, return_counts=True)
        return cls(table, counts)

    def sample(self, n: int, rng: np.random.Generator, requested: np.ndarray | None = None) -> np.ndarray:
        """[n, groups] conditions: drawn from the table by count; rows of `requested` [n, groups] (-1: not asked)
        fix their asked groups and draw the rest among the agreeing combinations (independently from the table
        when no training combination agrees)."""
        p = self.counts / self.counts.sum()
        out = self.table[rng.choice(len(self.table), n, p=p)]
        if requested is None:
            return out
        for i, req in enumerate(requested):
            asked = req >= 0
            if not asked.any():
                continue
            agree = np.flatnonzero((self.table[:, asked] == req[asked]).all(axis=1))
            if len(agree):
                out[i] = self.table[rng.choice(agree, p=self.counts[agree] / self.counts[agree].sum())]
            else:
                out[i, asked] = req[asked]
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        save_file({"table": torch.from_numpy(self.table), "counts": torch.from_numpy(self.counts)}, str(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ConditionPrior:
        t = load_file(str(path))
        return cls(t["table"].numpy(), t["counts"].numpy())
