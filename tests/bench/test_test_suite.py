"""bench/test_suite.py's reading of pytest's output: durations per test name (files moved between the commits),
the summary line, and the time of the tests both commits have."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("bench_test_suite", REPO / "bench" / "test_suite.py")
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)

OUTPUT = """
============================= slowest durations ==============================
12.50s call     tests/stages/test_pipeline.py::test_smoke_pipeline
0.50s setup    tests/stages/test_pipeline.py::test_smoke_pipeline
1.00s call     tests/models/dcgan/test_net.py::test_shapes[32]
1.50s call     tests/models/dcgan/test_net.py::test_shapes[64]
0.25s call     tests/a.py::test_twice
0.75s call     tests/b.py::test_twice
0.01s teardown tests/models/dcgan/test_net.py::test_shapes[32]
=================== 5 passed, 1 failed, 2 skipped, 3 deselected in 20.11s ===================
"""


def test_durations_add_setup_call_and_teardown_per_test_and_key_by_name():
    got = suite.durations(OUTPUT)
    assert got["test_smoke_pipeline"] == [13.0]
    assert got["test_shapes[32]"] == [1.01] and got["test_shapes[64]"] == [1.5]
    assert sorted(got["test_twice"]) == [0.25, 0.75]


def test_summary_reads_the_last_line():
    assert suite.summary(OUTPUT) == {"passed": 5, "failed": 1, "skipped": 2, "deselected": 3}
    assert suite.summary("no tests ran") == {}


def test_common_seconds_match_names_present_as_often_in_both():
    base = {"test_a": [1.0], "test_b": [2.0], "test_twice": [1.0, 1.0], "test_gone": [5.0]}
    head = {
        "test_a": [1.5],
        "test_b": [2.0],
        "test_twice": [1.0],
        "test_new": [9.0],
    }  # a file of test_twice was removed
    assert suite.common_seconds(base, head) == (3.0, 3.5, 2)


def test_failed_tests_are_named_and_left_out_of_the_common_time():
    out = OUTPUT + "FAILED tests/a.py::test_twice - AssertionError\nERROR tests/x.py::test_b\n"
    assert suite.failed(out) == {"test_twice", "test_b"}
    base = {"test_a": [1.0], "test_b": [2.0]}
    head = {"test_a": [1.5], "test_b": [0.1]}
    assert suite.common_seconds(base, head, suite.failed(out)) == (1.0, 1.5, 1)


def test_the_common_tests_that_moved_most_are_listed_either_way():
    base = {"test_a": [1.0], "test_b": [2.0], "test_c": [4.0], "test_twice": [1.0, 1.0], "test_failed": [1.0]}
    head = {"test_a": [1.1], "test_b": [5.0], "test_c": [1.0], "test_twice": [9.0], "test_failed": [20.0]}
    got = suite.largest_changes(base, head, {"test_failed"}, n=2)
    assert got == [{"test": "test_b", "baseline": 2.0, "head": 5.0}, {"test": "test_c", "baseline": 4.0, "head": 1.0}]
