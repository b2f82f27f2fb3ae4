"""The source lock, `source.lock.json` (committed, a DVC dependency of ingest): `{"sources": [...]}`, one entry per
source of `ingest.sources`, in order: its spec and what pins its content.

    generated   the generator's version and a digest of the seed and `generated` params
    dir:        the layout and every file's sha256 (labels and metadata files included)
    zip:        the archive's sha256 and size
    kaggle:     as dir:, plus the pinned handle and version

`python -m stages.source` (make lock) writes it. Ingest refuses (exit 2, nothing replaced) a lock that no longer
matches: `check_lock` before reading the sources (the outside ones' specs, in order), `verify_files` after (every
file's hash). A generated source's entry is a record, not a guard: DVC already tracks the params and code it comes
from, so check_lock computes it instead of refusing a changed one.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import BadInput
from core.params import Params
from dataset.layouts import Source, display
from dataset.sources import METADATA_SUFFIXES, compute_generated, compute_lock, parse_spec

__all__ = ["LOCK", "read_lock", "check_lock", "verify_files", "compute_lock"]

LOCK = Path("source.lock.json")


def read_lock(path: Path = LOCK) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: missing; run `make lock` (python -m stages.source) first") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"{path}: not valid JSON ({err}); run `make lock` to rewrite it") from None


def check_lock(params: Params, path: Path = LOCK) -> list[dict]:
    """One lock entry per source of params, in order. The sources read from outside the repository (dir:, zip:,
    kaggle:) must be the ones the lock at `path` pins, in the same order (`make lock` rewrites it). A generated source
    needs no pin: its content is a function of the params and the generator's code, both dependencies of the ingest
    stage that DVC tracks, so its entry is computed here, and `dvc exp run -S seed=7` (or any `generated.*` key, a
    second generated set, `profile=gpu`) runs without `make lock`."""
    lock = read_lock(path)
    entries = lock.get("sources") if isinstance(lock, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("spec"), str) for e in entries
    ):
        raise BadInput(f"{path}: not a lock of ingest.sources (written by an older version?); run `make lock`")
    pinned = [e for e in entries if not _generated(e["spec"])]
    outside = [s for s in params.ingest.sources if not _generated(s.spec)]
    if [e["spec"] for e in pinned] != [s.spec for s in outside]:
        locked, wanted = [e["spec"] for e in entries], [s.spec for s in params.ingest.sources]
        raise BadInput(f"{path} is for sources {locked} but ingest.sources are {wanted}; run `make lock`")
    by_order = iter(pinned)
    return [compute_generated(params, s) if _generated(s.spec) else next(by_order) for s in params.ingest.sources]


def _generated(spec: str) -> bool:
    try:
        return parse_spec(spec).kind == "generated"
    except (ValueError, BadInput):
        return False  # not a spec at all: it cannot match a source of params either


def verify_files(source: Source, read: dict[str, str], locked: dict[str, str]) -> None:
    """Every image file listed now must be in the lock, every locked image must still be there, and the sha256 of
    each file read (`read`: path -> sha256) must be the locked one."""
    listed = {display(r) for r in source.listed}
    images = {k for k in locked if k in listed or Path(k).suffix.lower() not in METADATA_SUFFIXES}
    changed = listed ^ images
    changed |= {rel for rel, sha in read.items() if locked.get(rel) != sha}
    if changed:
        first = sorted(changed)[0]
        raise BadInput(
            f"source {source.spec} changed since {LOCK} was written ({len(changed)} files differ, "
            f"e.g. {first!r}); run `make lock` and repeat"
        )
