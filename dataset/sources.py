"""Sources: a spec in params (`ingest.source`) resolves to a list of image files with their tags, and to a lock.

    generated         the built-in renderer's set, rendered once into a content-addressed cache folder
    dir:<path>        a folder in the generic layout: images anywhere below it, optional tags.csv and provenance.json

Generic layout: `tags.csv` has a `file` column (path relative to the folder), optional `character`, one column per
attribute group (hair_color, ...) and an optional free `tags` column; `provenance.json` may give a `licence`.

The lock (`source.lock.json`, written by `python -m stages.source`, a DVC dependency of ingest) pins the spec and the
hash of every file, so a changed source re-runs ingest and an unchanged one does not.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.params import Params
from dataset.attributes import ATTRIBUTES, GROUPS, UNKNOWN
from dataset.facegen import VERSION as GENERATOR_VERSION

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
CACHE_DIR = Path(".cache")
MAX_FILE_BYTES = 256 << 20  # no single image file is read past this


@dataclass
class SourceItem:
    rel: str  # posix path inside the source
    path: Path
    character: str = ""
    tags: dict[str, str] = field(default_factory=lambda: {g: UNKNOWN for g in GROUPS})
    extra: list[str] = field(default_factory=list)  # tags that map to no attribute group


@dataclass
class Source:
    spec: str
    root: Path
    licence: str
    items: list[SourceItem]
    problems: list[tuple[str, str]]  # (where, reason): rows of a tags file that could not be used


def generated_digest(params: Params) -> str:
    blob = json.dumps(
        {"v": GENERATOR_VERSION, "seed": params.seed, "p": params.generated.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generated_dir(params: Params, cache: Path = CACHE_DIR) -> Path:
    """The rendered generated set, made on first use; content-addressed by generator version, seed and params."""
    from dataset.generated_source import write_generated_source

    out = cache / "sources" / f"generated-{generated_digest(params)}"
    if not (out / "provenance.json").exists():
        write_generated_source(out, params.generated, params.seed, workers=params.ingest.workers)
    return out


def _list_images(root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_symlink():
                found.append(p.relative_to(root).as_posix())
    return found


def read_folder(root: Path, spec: str) -> Source:
    """A folder in the generic layout."""
    if not root.is_dir():
        raise BadInput(f"source {spec}: {root} is not a folder")
    rels = _list_images(root)
    items = {rel: SourceItem(rel=rel, path=root / rel) for rel in rels}
    problems: list[tuple[str, str]] = []
    tags_file = root / "tags.csv"
    if tags_file.exists():
        with open(tags_file, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise BadInput(f"{tags_file}: expected a header with a 'file' column, got {reader.fieldnames}")
            for n, row in enumerate(reader, start=2):
                item = items.get((row.get("file") or "").strip())
                if item is None:
                    problems.append((f"tags.csv:{n}", f"file {row.get('file')!r} is not an image in the source"))
                    continue
                item.character = (row.get("character") or "").strip()
                for g in GROUPS:
                    value = (row.get(g) or "").strip()
                    if value and value not in ATTRIBUTES[g]:
                        problems.append((f"tags.csv:{n}", f"{g}={value!r} is not one of {list(ATTRIBUTES[g])}"))
                    elif value:
                        item.tags[g] = value
                item.extra = sorted(t for t in (row.get("tags") or "").replace(",", " ").split() if t)
    licence = "unknown"
    prov = root / "provenance.json"
    if prov.exists():
        try:
            licence = str(json.loads(prov.read_text(encoding="utf-8")).get("licence", licence))
        except (json.JSONDecodeError, AttributeError):
            problems.append(("provenance.json", "not a JSON object; licence unknown"))
    return Source(spec=spec, root=root, licence=licence, items=[items[r] for r in rels], problems=problems)


def open_source(params: Params) -> Source:
    spec = params.ingest.source
    if spec == "generated":
        return read_folder(generated_dir(params), spec)
    if spec.startswith("dir:"):
        return read_folder(Path(spec[4:]).expanduser(), spec)
    raise BadInput(f"ingest.source: {spec!r} is not supported yet (expected 'generated' or 'dir:<path>')")


def file_sha256(path: Path) -> str:
    """sha256 of a file; "" for one that cannot be read or is over MAX_FILE_BYTES (ingest rejects those)."""
    try:
        if os.stat(path, follow_symlinks=False).st_size > MAX_FILE_BYTES:
            return ""
    except OSError:
        return ""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def compute_lock(params: Params) -> dict:
    """The source lock: the spec, and what pins its content (generator digest, or every file's sha256)."""
    spec = params.ingest.source
    if spec == "generated":
        return {"spec": spec, "generator": GENERATOR_VERSION, "digest": generated_digest(params)}
    src = open_source(params)
    files = {it.rel: file_sha256(it.path) for it in src.items}
    for extra in ("tags.csv", "provenance.json"):
        if (src.root / extra).exists():
            files[extra] = file_sha256(src.root / extra)
    return {"spec": spec, "files": dict(sorted(files.items()))}
