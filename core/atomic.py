"""The one atomic writer: everything is written to a temporary name beside its target and renamed into place.

An interrupted run leaves the last good output (or none), never a half-written file. Writes are durable by default:
the new file's bytes (every file of a new folder) are flushed to disk before the rename, and the folder holding the
target after it, so a power cut cannot leave the new name pointing at unwritten data or lose the rename. Caches and
large regenerable outputs pass `durable=False` (ingest's shards: the speed matters and `dvc repro` rebuilds them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flush_tree(path: Path) -> None:
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                fsync_path(Path(root) / name)
            fsync_path(Path(root))
    elif path.exists():
        fsync_path(path)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "", durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it over `target` (file or folder), flushed to disk
    first and the rename after when `durable`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f"{suffix}.tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # callers create a file or a folder at this name
    try:
        yield tmp
        if durable:
            _flush_tree(tmp)
        if tmp.is_dir() and target.is_dir():
            # Two renames: the old folder steps aside, the new one steps in, the old one goes.
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
        if durable:
            fsync_path(target.parent)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Stable JSON (sorted keys, fixed indent) so unchanged content is byte-identical and DVC sees no change."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
