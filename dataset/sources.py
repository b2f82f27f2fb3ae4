"""Sources: the spec in `ingest.source` resolves to a folder, read in its layout (dataset/layouts.py).

    generated                          the built-in renderer's set, rendered once into a content-addressed cache
    dir:<path>                         a local folder in any supported layout
    zip:<path>                         a local zip, extracted safely once into .cache/sources/zip-<sha>/
    kaggle:<owner>/<dataset>[/versions/<N>]   through kagglehub (dataset/kaggle.py)

What pins a source's content (`source.lock.json`) is dataset/lock.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from core.errors import BadInput
from core.params import Params
from dataset.archive import archive_sha256, extract_zip
from dataset.layouts import Source, SourceItem, read_layout
from dataset.tagmap import TagMapper
from synth.faces.render import VERSION as GENERATOR_VERSION

__all__ = ["Source", "SourceItem", "open_source", "CACHE_DIR"]

CACHE_DIR = Path(".cache")


def generated_digest(params: Params) -> str:
    blob = json.dumps(
        {"v": GENERATOR_VERSION, "seed": params.seed, "p": params.generated.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generated_dir(params: Params, cache: Path | None = None) -> Path:
    """The rendered generated set, made on first use; content-addressed by generator version, seed and params."""
    from synth.faces.source import write_generated_source

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
        src.problems = [replace(r, path=f"{archive.name}:{r.path}") for r in rejects] + src.problems
        return src
    if spec.startswith("kaggle:"):
        from dataset import kaggle

        pinned = lock.get("handle") if lock else None
        path, _ = kaggle.resolve(f"kaggle:{pinned}" if pinned else spec, params.ingest.kaggle_timeout_s)
        return _read(path, params, spec)
    raise BadInput(f"ingest.source: {spec!r}: expected generated, dir:, zip: or kaggle:")
