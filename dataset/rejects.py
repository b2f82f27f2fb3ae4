"""Why an input was left out: a stable code for metrics and tests, a sentence for people, and the reject report.

Metrics count rejects by `code`, never by their text, so a reworded reason changes no count. Every code is in CODES
with what it means; docs/data.md's "Hostile and broken input" lists the same codes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CODES: dict[str, str] = {
    # a file, read and decoded in a worker (dataset/decoding.py, dataset/imageio.py, dataset/facecrop.py)
    "empty_file": "a zero-byte file",
    "not_an_image": "no known image format",
    "corrupt_image": "an image format, but truncated or damaged",
    "too_many_pixels": "over ingest.max_pixels (or Pillow's own bomb limit), seen in the header before decoding",
    "too_small": "under 8 px on a side",
    "file_too_large": "over 256 MiB on disk",
    "not_a_regular_file": "a FIFO, device or folder with an image extension",
    "symlink": "a symbolic link (file or folder), never followed",
    "unreadable": "the file could not be opened or read",
    "no_face": "ingest.crop animeface or cascade found no face",
    # the same picture twice (dataset/dedup.py)
    "exact_duplicate": "the same bytes (sha256) as an earlier file",
    "near_duplicate": "within ingest.near_duplicate_bits of an earlier file's perceptual hash",
    # what a layout leaves out or cannot read (dataset/layouts.py)
    "rating_filtered": "a Danbooru post whose rating is not in ingest.danbooru_ratings",
    "no_metadata": "a Danbooru image with no post in the metadata: rating unknown",
    "bad_metadata": "a metadata line or file that cannot be read (Danbooru JSON, provenance.json)",
    "tags_no_image": "a tags file row naming no image of the source",
    "tags_bad_value": "a tags.csv value that is not one of its group's values",
    # zip entries refused before a byte is written (dataset/archive.py)
    "archive_unsafe_name": "an absolute path, '..', a drive letter or control characters",
    "archive_link": "a link entry",
    "archive_encrypted": "an encrypted entry",
    "archive_duplicate_name": "a name already extracted (case-insensitive)",
    "archive_name_conflict": "a file and a folder of the same name (x.png and x.png/y.png)",
    "archive_not_wanted": "neither an image nor a known metadata file",
    "archive_entry_too_large": "over ingest.archive.max_entry_bytes",
    "archive_ratio": "a compression ratio over ingest.archive.max_ratio (zip bomb)",
    "archive_total_too_large": "past ingest.archive.max_total_bytes of the whole archive",
    "archive_too_many_entries": "past ingest.archive.max_entries",
    "archive_corrupt_entry": "an entry that does not inflate to its declared size",
}


@dataclass(frozen=True)
class Reject:
    """An input left out: `path` in its source (or `file:line`), `code` (a CODES key), `reason` for people, and
    `source`, the spec of the source it came from (set by ingest)."""

    path: str
    code: str
    reason: str
    source: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"reject code {self.code!r} is not one of dataset.rejects.CODES")


def count_by_code(rejects: Iterable[Reject]) -> dict[str, int]:
    return dict(sorted(Counter(r.code for r in rejects).items()))


def write_report(path: Path, rejects: Iterable[Reject]) -> None:
    """`rejects.csv`: source,path,code,reason, sorted."""
    report = io.StringIO()
    w = csv.writer(report, lineterminator="\n")
    w.writerow(["source", "path", "code", "reason"])
    w.writerows(sorted((r.source, r.path, r.code, r.reason) for r in rejects))
    path.write_text(report.getvalue(), encoding="utf-8")


def describe(rejects: list[Reject], examples: int = 3) -> str:
    """The counts by code and the first example of each code (at most `examples`), in one line for an error."""
    counts = ", ".join(f"{code} {n}" for code, n in count_by_code(rejects).items())
    first: dict[str, Reject] = {}
    for r in rejects:
        first.setdefault(r.code, r)
    shown = "; ".join(f"{r.path}: {r.reason}" for r in list(first.values())[:examples])
    return f"{counts} (e.g. {shown})"
