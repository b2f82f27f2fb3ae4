"""tools/install.py: the one uv pin it hands to pip first, with its hashes, and a clear stop where the lock has none."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tools import install


def test_the_uv_pin_is_its_line_and_its_hash_lines_alone():
    block = install.pinned(REPO / "requirements.lock", "uv").splitlines()
    assert block[0].startswith("uv==") and block[0].endswith("\\")
    assert len(block) > 1 and all(line.strip().startswith("--hash=sha256:") for line in block[1:])


def test_a_lock_without_the_package_stops_with_its_name(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("uvicorn==0.30.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")  # a name that starts with uv
    with pytest.raises(SystemExit, match="pins no uv"):
        install.pinned(lock, "uv")
