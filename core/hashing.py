"""The one file-hashing helper: a file's digest, read in blocks (memory stays flat for any size).

Used for the source lock and the zip cache (sha256), the extractor pin's weights (sha256) and DVC's md5 of a run's
inputs (core/tracking.py). The digest is the algorithm's over the file's bytes: the block size does not change it.
"""

from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest (`algorithm`: any name hashlib.new takes: "sha256", "md5", ...) of the file's bytes."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()
