"""The source lock, `source.lock.json` (committed, a DVC dependency of ingest): the spec of `ingest.source` and what
pins its content.

    generated   the generator's version and a digest of the seed and `generated` params
    dir:        the layout and every file's sha256 (labels and metadata files included)
    zip:        the archive's sha256 and size
    kaggle:     as dir:, plus the pinned handle and version

`python -m stages.source` (make lock) writes it. Ingest refuses (exit 2, nothing replaced) a lock that no longer
matches: `check_lock` before reading the source (spec, generator digest), `verify_files` after (every file's hash).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.errors import BadInput
from core.params import Params
from dataset.archive import archive_sha256
from dataset.decoding import MAX_FILE_BYTES
from dataset.layouts import Source, display
from dataset.sources import generated_digest, open_source
from synth.faces.render import VERSION as GENERATOR_VERSION

LOCK = Path("source.lock.json")
METADATA_SUFFIXES = (".csv", ".json", ".txt")  # locked beside the images: they carry the labels


def read_lock(path: Path = LOCK) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: missing; run `make lock` (python -m stages.source) first") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"{path}: not valid JSON ({err}); run `make lock` to rewrite it") from None


def check_lock(params: Params, path: Path = LOCK) -> dict:
    """The lock at `path`, which must describe the source in params (`make lock` rewrites it)."""
    lock = read_lock(path)
    if lock.get("spec") != params.ingest.source:
        raise BadInput(
            f"{path} is for source {lock.get('spec')!r} but ingest.source is {params.ingest.source!r}; run `make lock`"
        )
    if params.ingest.source == "generated" and lock != compute_lock(params):
        raise BadInput(f"{path} is stale for the generated source (params or generator changed); run `make lock`")
    return lock


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


def compute_lock(params: Params) -> dict:
    """The source lock: the spec and what pins its content."""
    spec = params.ingest.source
    if spec == "generated":
        return {"spec": spec, "generator": GENERATOR_VERSION, "digest": generated_digest(params)}
    if spec.startswith("zip:"):
        archive = Path(spec[4:]).expanduser()
        if not archive.is_file():
            raise BadInput(f"source {spec}: {archive} is not a file")
        return {"spec": spec, "sha256": archive_sha256(archive), "bytes": archive.stat().st_size}
    src = open_source(params)
    lock = {"spec": spec, "layout": src.layout, "files": _file_hashes(src)}
    if spec.startswith("kaggle:"):
        from dataset import kaggle

        owner, slug, _ = kaggle.parse(spec)
        _, version = kaggle.resolve(spec, params.ingest.kaggle_timeout_s)
        lock.update({"handle": f"{owner}/{slug}/versions/{version}", "version": version})
    return lock


def file_sha256(path: Path) -> str:
    """sha256 of a file; "" for one that is not a regular file, cannot be read, or is over MAX_FILE_BYTES."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if not os.path.isfile(path) or os.path.islink(path) or st.st_size > MAX_FILE_BYTES:
            return ""
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def _file_hashes(src: Source) -> dict[str, str]:
    files = {display(rel): file_sha256(src.root / rel) for rel in src.listed}
    for dirpath, _, names in os.walk(src.root):  # metadata (tags files, Danbooru JSON) pins the labels too
        for name in names:
            p = Path(dirpath) / name
            rel = display(p.relative_to(src.root).as_posix())
            if rel not in files and p.suffix.lower() in METADATA_SUFFIXES:
                files[rel] = file_sha256(p)
    return dict(sorted(files.items()))
