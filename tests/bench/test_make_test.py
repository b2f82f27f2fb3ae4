"""bench/make_test.py's reading of pytest's output: the slowest phases, longest first, and the skipped tests."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("bench_make_test", REPO / "bench" / "make_test.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

OUTPUT = """
============================= slowest durations ==============================
12.50s call     tests/stages/test_pipeline.py::test_smoke_pipeline
0.50s setup    tests/stages/test_pipeline.py::test_smoke_pipeline
61.00s setup    tests/serve/test_browser.py::test_drawing
=========================== short test summary info ============================
SKIPPED [1] tests/serve/test_image.py:12: no Docker daemon
=================== 2 passed, 1 skipped in 80.11s ===================
"""


def test_slowest_phases_longest_first():
    got = bench.slowest(OUTPUT, n=2)
    assert got == [
        {"test": "tests/serve/test_browser.py::test_drawing", "phase": "setup", "seconds": 61.0},
        {"test": "tests/stages/test_pipeline.py::test_smoke_pipeline", "phase": "call", "seconds": 12.5},
    ]


def test_skipped_tests_are_named_with_their_reason():
    assert bench.skipped(OUTPUT) == "[1] tests/serve/test_image.py:12: no Docker daemon"
    assert bench.skipped("2 passed in 1.0s") == "nothing skipped"


def test_the_workers_are_read_from_the_makefile():
    makefile = (REPO / "Makefile").read_text()
    assert bench.makefile_workers(makefile) == int(makefile.split("TEST_WORKERS ?=")[1].split()[0])
    assert bench.makefile_workers("TEST_WORKERS ?= 3\nPYTEST := pytest\n") == 3
    assert bench.makefile_workers("PYTEST := pytest\n") is None
