"""Sources: the spec in `ingest.source` resolves to a folder, read in its layout (dataset/layouts.py), and to a lock.

    generated                          the built-in renderer's set, rendered once into a content-addressed cache
    dir:<path>                         a local folder in any supported layout
    zip:<path>                         a local zip, extracted safely once into .cache/sources/zip-<sha>/
    kaggle:<owner>/<dataset>[/versions/<N>]   through kagglehub (dataset/kaggle.py)

The lock (`source.lock.json`, written by `python -m stages.source`, a DVC dependency of ingest) pins the spec and
its content: the generator digest, every file's sha256 (dir, kaggle), the archive's sha256 (zip), the Kaggle version.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.errors import BadInput
from core.params import Params
from dataset.archive import archive_sha256, extract_zip
from dataset.facegen import VERSION as GENERATOR_VERSION
from dataset.layouts import Source, SourceItem, display, read_layout
from dataset.tagmap import TagMapper

__all__ = ["Source", "SourceItem", "open_source", "compute_lock", "MAX_FILE_BYTES", "CACHE_DIR"]

CACHE_DIR = Path(".cache")
MAX_FILE_BYTES = 256 << 20  # no single image file is read past this


def generated_digest(params: Params) -> str:
    blob = json.dumps(
        {"v": GENERATOR_VERSION, "seed": params.seed, "p": params.generated.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generated_dir(params: Params, cache: Path | None = None) -> Path:
    """The rendered generated set, made on first use; content-addressed by generator version, seed and params."""
    from dataset.generated_source import write_generated_source

    out = (cache or CACHE_DIR) / "sources" / f"generated-{generated_digest(params)}"
    if not (out / "provenance.json").exists():
        write_generated_source(out, params.generated, params.seed, workers=params.ingest.workers)
    return out


def _read(root: Path, params: Params, spec: str, layout: str | None = None) -> Source:
    ip = params.ingest
    return read_layout(root, spec, layout or ip.layout, TagMapper(ip.tag_map), list(ip.danbooru_ratings))


def open_source(params: Params, lock: dict | None = None) -> Source:
    """Resolve and read the source of params; with a lock, a kaggle source uses the pinned version."""
    spec = params.ingest.source
    if spec == "generated":
        return _read(generated_dir(params), params, spec, layout="generic")
    if spec.startswith("dir:"):
        return _read(Path(spec[4:]).expanduser(), params, spec)
    if spec.startswith("zip:"):
        archive = Path(spec[4:]).expanduser()
        if lock is not None and lock.get("sha256") and archive.is_file() and archive_sha256(archive) != lock["sha256"]:
            raise BadInput(f"source {spec} changed since source.lock.json was written; run `make lock`")
        root, rejects = extract_zip(archive, CACHE_DIR / "sources", params.ingest.archive)
        src = _read(root, params, spec)
        src.problems = [(f"{archive.name}:{name}", why) for name, why in rejects] + src.problems
        return src
    if spec.startswith("kaggle:"):
        from dataset import kaggle

        pinned = lock.get("handle") if lock else None
        path, _ = kaggle.resolve(f"kaggle:{pinned}" if pinned else spec, params.ingest.kaggle_timeout_s)
        return _read(path, params, spec)
    raise BadInput(f"ingest.source: {spec!r}: expected generated, dir:, zip: or kaggle:")


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
            if rel not in files and p.suffix.lower() in (".csv", ".json", ".txt"):
                files[rel] = file_sha256(p)
    return dict(sorted(files.items()))


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
