"""Sources: each entry of `ingest.sources` resolves to a folder, read in its layout (dataset/layouts.py).

    generated                          the built-in renderer's set, rendered once into a content-addressed cache
    generated:<name>                   another rendered set: its own characters, `count` and drawing `style`
    dir:<path>                         a local folder in any supported layout
    zip:<path>                         a local zip, extracted safely once into .cache/sources/zip-<sha>/
    kaggle:<owner>/<dataset>[/versions/<N>]   through kagglehub (dataset/kaggle.py)

Each kind is one entry of KINDS: how it is opened and what pins its content in `source.lock.json` (one entry per
source, read and checked by dataset/lock.py). The spec is parsed once, by `parse_spec`. An entry's `layout`,
`groups` and `licence` (core/params.SourceParams) say how it is read, which of its tags are kept, and the licence
note its images carry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from core import source_spec
from core.errors import BadInput
from core.hashing import file_digest
from core.names import UNKNOWN
from core.params import GeneratedParams, Params, SourceParams, StyleParams
from core.source_spec import SourceSpec
from dataset.archive import extract_zip
from dataset.decoding import MAX_FILE_BYTES
from dataset.layouts import Source, SourceItem, display, read_layout
from dataset.tagmap import TagMapper
from synth.faces.render import VERSION as GENERATOR_VERSION
from synth.faces.style import VERSION as STYLE_VERSION

__all__ = [
    "Source",
    "SourceItem",
    "SourceSpec",
    "open_source",
    "open_sources",
    "compute_lock",
    "parse_spec",
    "KINDS",
    "CACHE_DIR",
]

CACHE_DIR = Path(".cache")


BUILT_IN = SourceParams(spec="generated")


def generated_settings(
    params: Params, entry: SourceParams = BUILT_IN
) -> tuple[GeneratedParams, int, str, StyleParams | None]:
    """(renderer params, seed, name, style) of a generated source: the built-in set is `generated` with the params'
    seed; `generated:<name>` draws its own characters (a seed of its own, from the params' seed and its name), with
    its own count and style."""
    name = parse_spec(entry.spec).arg
    p = params.generated if entry.count is None else params.generated.model_copy(update={"count": entry.count})
    if not name:
        return p, params.seed, "", None
    seed = int.from_bytes(hashlib.sha256(f"{params.seed}:{name}".encode()).digest()[:4], "big")
    return p, seed, name, entry.style


def generated_digest(params: Params, entry: SourceParams = BUILT_IN) -> str:
    p, seed, name, style = generated_settings(params, entry)
    doc = {"v": GENERATOR_VERSION, "seed": seed, "p": p.model_dump(mode="json")}
    if name:  # the built-in set's digest is what it always was
        doc.update({"name": name, "style": style.model_dump(mode="json") if style else None, "v_style": STYLE_VERSION})
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def generated_dir(params: Params, cache: Path | None = None, entry: SourceParams = BUILT_IN) -> Path:
    """A rendered generated set, made on first use; content-addressed by generator version, seed, params and style."""
    from synth.faces.source import write_generated_source

    p, seed, name, style = generated_settings(params, entry)
    out = (cache or CACHE_DIR) / "sources" / f"generated-{name + '-' if name else ''}{generated_digest(params, entry)}"
    if not (out / "provenance.json").exists():
        write_generated_source(out, p, seed, workers=params.ingest.workers, name=name, style=style)
    return out


def _read(root: Path, params: Params, entry: SourceParams, layout: str | None = None) -> Source:
    ip = params.ingest
    layout = layout or ip.layout_of(entry)
    return read_layout(root, entry.spec, layout, TagMapper(ip.tag_map), list(ip.danbooru_ratings))


# -- the kinds: how each one is read, and what pins its content in the lock -----------------------------------------


def _open_generated(params: Params, entry: SourceParams, lock: dict | None) -> Source:
    return _read(generated_dir(params, entry=entry), params, entry, layout="generic")


def _pin_generated(params: Params, entry: SourceParams) -> dict:
    return {"spec": entry.spec, "generator": GENERATOR_VERSION, "digest": generated_digest(params, entry)}


def _open_dir(params: Params, entry: SourceParams, lock: dict | None) -> Source:
    return _read(parse_spec(entry.spec).path, params, entry)


def _pin_files(params: Params, entry: SourceParams) -> dict:
    src = KINDS[parse_spec(entry.spec).kind].open(params, entry, None)
    return {"spec": entry.spec, "layout": src.layout, "files": content_hashes(src)}


def _open_zip(params: Params, entry: SourceParams, lock: dict | None) -> Source:
    spec = parse_spec(entry.spec)
    archive = spec.path
    if lock is not None and lock.get("sha256") and archive.is_file() and file_digest(archive) != lock["sha256"]:
        raise BadInput(f"source {spec.text} changed since source.lock.json was written; run `make lock`")
    root, rejects = extract_zip(archive, CACHE_DIR / "sources", params.ingest.archive)
    src = _read(root, params, entry)
    src.problems = [replace(r, path=f"{archive.name}:{r.path}") for r in rejects] + src.problems
    return src


def _pin_zip(params: Params, entry: SourceParams) -> dict:
    spec = parse_spec(entry.spec)
    archive = spec.path
    if not archive.is_file():
        raise BadInput(f"source {spec.text}: {archive} is not a file")
    return {"spec": spec.text, "sha256": file_digest(archive), "bytes": archive.stat().st_size}


def _open_kaggle(params: Params, entry: SourceParams, lock: dict | None) -> Source:
    from dataset import kaggle

    pinned = lock.get("handle") if lock else None
    path, _ = kaggle.resolve(f"kaggle:{pinned}" if pinned else entry.spec, params.ingest.kaggle_timeout_s)
    return _read(path, params, entry)


def _pin_kaggle(params: Params, entry: SourceParams) -> dict:
    from dataset import kaggle

    lock = _pin_files(params, entry)
    owner, slug, _ = kaggle.parse(entry.spec)
    _, version = kaggle.resolve(entry.spec, params.ingest.kaggle_timeout_s)
    return {**lock, "handle": f"{owner}/{slug}/versions/{version}", "version": version}


@dataclass(frozen=True)
class SourceKind:
    open: Callable[[Params, SourceParams, dict | None], Source]  # read it (its lock entry pins what it resolves to)
    pin: Callable[[Params, SourceParams], dict]  # what its lock entry records


KINDS: dict[str, SourceKind] = {  # keyed like core/source_spec.FORMS (tested)
    "generated": SourceKind(_open_generated, _pin_generated),
    "dir": SourceKind(_open_dir, _pin_files),
    "zip": SourceKind(_open_zip, _pin_zip),
    "kaggle": SourceKind(_open_kaggle, _pin_kaggle),
}


def parse_spec(text: str) -> SourceSpec:
    """core/source_spec.parse_spec, with a bad spec as the stage's exit-2 error."""
    try:
        return source_spec.parse_spec(text)
    except ValueError as err:
        raise BadInput(f"ingest.sources: {err}") from None


def open_source(params: Params, entry: SourceParams, lock: dict | None = None) -> Source:
    """Resolve and read one source; its lock entry pins what it resolves to (a kaggle source's version). The
    entry's groups decide which of its tags are kept, its crop (unless auto) how every image is cut, and its licence
    note, when given, is the one its images carry."""
    src = KINDS[parse_spec(entry.spec).kind].open(params, entry, lock)
    if entry.licence:
        src.licence = entry.licence
    kept, crop = params.ingest.groups_of(entry), params.ingest.crop_of(entry)
    for item in src.items:
        item.tags = {g: (v if g in kept else UNKNOWN) for g, v in item.tags.items()}
        if crop != "auto":
            item.crop = crop
    return src


def open_sources(params: Params, lock: list[dict] | None = None) -> list[Source]:
    """Every source of `ingest.sources`, in order; `lock` (dataset/lock.check_lock) has one entry per source."""
    entries = params.ingest.sources
    return [open_source(params, e, lock[i] if lock else None) for i, e in enumerate(entries)]


def compute_generated(params: Params, entry: SourceParams = BUILT_IN) -> dict:
    """The lock entry of a generated source (cheap: no file is read)."""
    return _pin_generated(params, entry)


def compute_lock(params: Params) -> dict:
    """The source lock: per source, its spec and what pins its content (dataset/lock.py reads and checks it)."""
    return {"sources": [KINDS[parse_spec(e.spec).kind].pin(params, e) for e in params.ingest.sources]}


# -- content hashes of a folder source ------------------------------------------------------------------------------

METADATA_SUFFIXES = (".csv", ".json", ".txt")  # locked beside the images: they carry the labels


def file_sha256(path: Path) -> str:
    """sha256 of a file; "" for one that is not a regular file, cannot be read, or is over MAX_FILE_BYTES."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if not os.path.isfile(path) or os.path.islink(path) or st.st_size > MAX_FILE_BYTES:
            return ""
        return file_digest(path)
    except OSError:
        return ""


def content_hashes(src: Source) -> dict[str, str]:
    """Every listed image's sha256, and every metadata file's (tags files, Danbooru JSON), by display path."""
    files = {display(rel): file_sha256(src.root / rel) for rel in src.listed}
    for dirpath, _, names in os.walk(src.root):
        for name in names:
            p = Path(dirpath) / name
            rel = display(p.relative_to(src.root).as_posix())
            if rel not in files and p.suffix.lower() in METADATA_SUFFIXES:
                files[rel] = file_sha256(p)
    return dict(sorted(files.items()))
