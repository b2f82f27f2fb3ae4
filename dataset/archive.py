"""Safe extraction of a zip source into a content-addressed cache folder.

Every entry is checked before a byte is written: absolute paths, `..`, drive letters, control characters, links,
encrypted entries, duplicates, and sizes (entry count, declared size, compression ratio, running total) against
`ingest.archive`. Bytes are streamed in blocks and counted as they are written (declared sizes can lie), so a zip
bomb is stopped after at most one block past its limit and never inflated into memory. Only images and the known
metadata files are extracted; every entry left out is reported with its reason.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zipfile
from pathlib import Path, PurePosixPath

from core.atomic import atomic_path
from core.errors import BadInput
from core.hashing import file_digest
from core.params import MAX_ZIP_ENTRIES, ArchiveParams
from dataset.layouts import IMAGE_EXTENSIONS
from dataset.rejects import Reject

METADATA_NAMES = {"tags.csv", "provenance.json", "tags_clean.csv", "color.csv"}
BLOCK = 1 << 20
REPORT = ".archive_rejects.json"  # kept in the extracted folder so a cached extraction still reports


def _wanted(name: PurePosixPath) -> bool:
    if name.suffix.lower() in IMAGE_EXTENSIONS or name.name in METADATA_NAMES:
        return True
    return name.suffix == ".json" and "danbooru-metadata" in name.parts


def safe_name(raw: str) -> tuple[PurePosixPath | None, str]:
    """(relative path, "") for a safe entry name, else (None, reason)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        return None, "unsafe name: control characters"
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None, "unsafe name: absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None, "unsafe name: '..' escapes the archive"
    if not parts:
        return None, "unsafe name: empty"
    return PurePosixPath(*parts), ""


def _cached_report(dest: Path) -> list[Reject] | None:
    """The entries refused when `dest` was extracted; None when it was not, or by a version whose report had no
    codes (it is extracted again)."""
    try:
        return [Reject(*r) for r in json.loads((dest / REPORT).read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return None


def central_directory_entries(path: Path) -> int | None:
    """The entry count a zip's end-of-central-directory record claims (ZIP64 too), read from the file's tail only;
    None when there is no such record (zipfile then says the archive is not readable)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        tail_start = max(0, size - (1 << 16) - 22)
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None
        (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
        loc = at - 20  # a ZIP64 locator sits just before the classic record
        if entries == 0xFFFF and loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":
            (offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
            if offset + 56 <= size:
                f.seek(offset)
                rec = f.read(56)
                if rec[:4] == b"PK\x06\x06":
                    (entries,) = struct.unpack("<Q", rec[32:40])
        return entries


def extract_zip(archive: Path, dest_root: Path, limits: ArchiveParams) -> tuple[Path, list[Reject]]:
    """Extract `archive` once into dest_root/zip-<sha>/ (reused later); returns (folder, refused entries)."""
    if not archive.is_file():
        raise BadInput(f"source zip:{archive}: not a file")
    sha = file_digest(archive)
    dest = dest_root / f"zip-{sha[:16]}"
    cached = _cached_report(dest)
    if cached is not None:
        return dest, cached
    claimed = central_directory_entries(archive)
    if claimed is not None and claimed > MAX_ZIP_ENTRIES:
        # refused before the central directory is parsed: Python holds about 600 bytes per entry
        raise BadInput(
            f"source zip:{archive}: its central directory lists {claimed} entries, more than the {MAX_ZIP_ENTRIES} "
            "an ingest reads (about 600 bytes of memory per entry to parse); split the archive"
        )
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadInput(f"source zip:{archive}: not a readable zip archive ({err})") from None
    rejects: list[Reject] = []
    with zf, atomic_path(dest, durable=False) as tmp:
        tmp.mkdir(parents=True)
        total = 0
        seen: set[str] = set()  # files extracted (lower-case names)
        folders: set[str] = set()  # the folders they are in
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            why = f"{len(infos)} entries > ingest.archive.max_entries {limits.max_entries}; the rest left out"
            rejects.append(Reject("*", "archive_too_many_entries", why))
            infos = infos[: limits.max_entries]
        for info in infos:
            shown = info.filename
            if info.is_dir():
                continue
            rel, why = safe_name(info.filename)
            mode = info.external_attr >> 16
            if rel is None:
                rejects.append(Reject(shown, "archive_unsafe_name", why))
                continue
            if stat.S_ISLNK(mode):
                rejects.append(Reject(shown, "archive_link", "link entry not extracted"))
                continue
            if not _wanted(rel):
                rejects.append(Reject(shown, "archive_not_wanted", "not an image or known metadata file"))
                continue
            if info.flag_bits & 0x1:
                rejects.append(Reject(shown, "archive_encrypted", "encrypted entry"))
                continue
            key = rel.as_posix().lower()
            if key in seen:
                rejects.append(Reject(shown, "archive_duplicate_name", "duplicate entry name"))
                continue
            if info.file_size > limits.max_entry_bytes:
                why = f"entry too large: {info.file_size} bytes > ingest.archive.max_entry_bytes"
                rejects.append(Reject(shown, "archive_entry_too_large", why))
                continue
            if info.file_size / max(info.compress_size, 1) > limits.max_ratio:
                why = (
                    f"compression ratio {info.file_size / max(info.compress_size, 1):.0f} > "
                    f"ingest.archive.max_ratio {limits.max_ratio:g} (zip bomb?)"
                )
                rejects.append(Reject(shown, "archive_ratio", why))
                continue
            if total + info.file_size > limits.max_total_bytes:
                why = "archive total size over ingest.archive.max_total_bytes; left out"
                rejects.append(Reject(shown, "archive_total_too_large", why))
                continue
            out = tmp / rel
            if tmp.resolve() not in out.resolve().parents:  # belt and braces after the name checks
                rejects.append(Reject(shown, "archive_unsafe_name", "unsafe name: resolves outside the destination"))
                continue
            parents = [p.as_posix().lower() for p in rel.parents if p.as_posix() != "."]
            if key in folders or any(p in seen for p in parents):
                why = "a file and a folder of the same name (x.png and x.png/...): the later one left out"
                rejects.append(Reject(shown, "archive_name_conflict", why))
                continue
            cap = min(info.file_size, limits.max_entry_bytes)
            written = 0
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    while block := src.read(BLOCK):
                        written += len(block)
                        if written > cap:
                            raise ValueError(f"inflates past its declared size {info.file_size}")
                        dst.write(block)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as err:
                out.unlink(missing_ok=True)
                rejects.append(Reject(shown, "archive_corrupt_entry", f"corrupt entry: {err}"))
                continue
            seen.add(key)
            folders.update(parents)
            total += written
        (tmp / REPORT).write_text(json.dumps([[r.path, r.code, r.reason] for r in rejects]), encoding="utf-8")
    return dest, rejects
