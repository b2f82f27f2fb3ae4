"""bench/stage_start.py on one small module: the baseline's processes write no bytecode into their copy, HEAD's way
reads the bytecode its first process wrote into the other, and each stage's figures are the medians it reports."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("stage_start", REPO / "bench" / "stage_start.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["stage_start"] = module
    spec.loader.exec_module(module)
    return module


def test_each_way_on_a_copy_of_the_tracked_files(tmp_path, monkeypatch):
    bench = _bench()
    none, written = bench.copy_tracked(tmp_path / "none"), bench.copy_tracked(tmp_path / "written")
    assert (none / "core" / "names.py").exists() and not list(none.rglob("__pycache__"))
    assert not (none / ".venv").exists() and not (none / "data").exists()  # tracked files only

    monkeypatch.setattr(bench, "IMPORTS", {"names": "core.names, core.rounding"})
    got = bench.measure(none, written, runs=1)
    figures = got["names"]
    assert figures["imports"] == "core.names, core.rounding"
    assert 0 < figures["head_seconds"] and 0 < figures["baseline_seconds"]
    assert figures["bytecode_files"] >= 2  # the two modules' bytecode, written by HEAD's first process
    assert figures["ratio"] == pytest.approx(figures["head_seconds"] / figures["baseline_seconds"], rel=0.1)
    assert not list(none.rglob("__pycache__")) and list(written.rglob("__pycache__"))
