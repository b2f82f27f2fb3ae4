"""`manifest.csv` of ingest's output: line i describes row i of every shard (dataset/shardfile.py).

Columns: id (sha256 prefix), source, path, sha256, phash, width, height, split, group, character, one per attribute
group (core/names.py GROUPS), extra_tags (JSON list), licence. `dataset.shardfile.read_manifest` reads it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.names import GROUPS

COLUMNS = [
    "id",
    "source",
    "path",
    "sha256",
    "phash",
    "width",
    "height",
    "split",
    "group",
    "character",
    *GROUPS,
    "extra_tags",
    "licence",
]


@dataclass(frozen=True)
class ManifestRow:
    id: str
    source: str  # the spec
    path: str  # in the source, as text that always encodes (dataset.layouts.display)
    sha256: str
    phash: int
    width: int  # of the decoded image, before crop and resize
    height: int
    split: str
    group: int  # images sharing a character or a pHash (dataset/split.py)
    character: str
    tags: dict[str, str]  # group -> value, "" unknown
    extra_tags: list[str]  # source tags that map to no group
    licence: str

    def cells(self) -> list:
        return [
            self.id,
            self.source,
            self.path,
            self.sha256,
            f"{self.phash:016x}",
            self.width,
            self.height,
            self.split,
            self.group,
            self.character,
            *(self.tags[g] for g in GROUPS),
            json.dumps(self.extra_tags),
            self.licence,
        ]


def write_manifest(path: Path, rows: Iterable[ManifestRow]) -> None:
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(r.cells() for r in rows)
    path.write_text(text.getvalue(), encoding="utf-8")
