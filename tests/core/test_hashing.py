"""core/hashing.py, the one file-hashing helper, and core/rounding.py, the one rounding rule of the figures."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from core import hashing
from core.rounding import rounded


@pytest.mark.parametrize("size", [0, 1, hashing.BLOCK - 1, hashing.BLOCK, 2 * hashing.BLOCK + 7])
@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_file_digest_is_the_digest_of_the_whole_file(tmp_path, size, algorithm):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    f = tmp_path / "blob"
    f.write_bytes(data)
    assert hashing.file_digest(f, algorithm) == hashlib.new(algorithm, data).hexdigest()
    assert hashing.file_digest(str(f), algorithm) == hashing.file_digest(f, algorithm)


def test_file_digest_is_sha256_by_default_and_block_size_does_not_matter(tmp_path, monkeypatch):
    f = tmp_path / "blob"
    f.write_bytes(b"abc" * 1000)
    expect = hashlib.sha256(b"abc" * 1000).hexdigest()
    assert hashing.file_digest(f) == expect
    monkeypatch.setattr(hashing, "BLOCK", 7)
    assert hashing.file_digest(f) == expect


def test_file_digest_of_a_missing_file_raises(tmp_path):
    with pytest.raises(OSError):
        hashing.file_digest(tmp_path / "none")


def test_dvc_md5_uses_it_as_dvc_does(tmp_path):
    from core.tracking import dvc_md5

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"a")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"bb")
    assert dvc_md5(tmp_path / "d" / "a.txt") == hashlib.md5(b"a").hexdigest()
    a, b = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"bb").hexdigest()
    entries = f'[{{"md5": "{a}", "relpath": "a.txt"}}, {{"md5": "{b}", "relpath": "sub/b.txt"}}]'
    assert dvc_md5(tmp_path / "d") == hashlib.md5(entries.encode()).hexdigest() + ".dir"
    assert dvc_md5(tmp_path / "none") == "missing"


def test_rounded_rounds_floats_in_nested_dicts_and_keeps_the_rest():
    doc = {"b": 0.123456, "a": {"x": 2.00005, "n": 3, "t": True, "s": "1.23456", "z": None, "l": [0.123456]}}
    out = rounded(doc)
    assert out == {"b": 0.1235, "a": {"x": 2.0, "n": 3, "t": True, "s": "1.23456", "z": None, "l": [0.123456]}}
    assert list(out) == ["b", "a"] and list(out["a"]) == list(doc["a"])  # key order kept
    assert rounded(np.float64(1 / 3)) == round(np.float64(1 / 3), 4) and rounded(7) == 7
