"""bench/timeline.py: the plugin records the outer test run's tests alone, and the cores' idle time is shared by the
tests that ran while it passed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench import timeline
from tests.conftest import REPO

INNER = "def test_inner():\n    pass\n"
OUTER = """import os, subprocess, sys

def test_quick():
    pass

def test_runs_pytest_itself(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.environ["INNER"]],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
"""


def test_the_plugin_records_the_outer_runs_tests_alone(tmp_path):
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "test_inner.py").write_text(INNER)
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer" / "test_outer.py").write_text(OUTER)
    lines = tmp_path / "t.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ANIME_TEST_TIMELINE"))}
    env.update({timeline.ENV: str(lines), "PYTHONPATH": str(REPO), "INNER": str(tmp_path / "inner")})
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the venv's plugins are not what is tested, and cost seconds
    env["PYTEST_ADDOPTS"] = "-p bench.timeline"  # as bench/make_test.py passes it: the inner run inherits it
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "outer")]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    ran = timeline.read(lines)
    assert sorted(r["test"].rsplit("::", 1)[-1] for r in ran) == ["test_quick", "test_runs_pytest_itself"]
    assert all(r["worker"] == "main" and r["end"] >= r["start"] for r in ran)


def test_idle_cores_are_shared_by_the_tests_running_then():
    tests = [
        {"test": "a", "worker": "gw0", "start": 0.0, "end": 4.0},
        {"test": "b", "worker": "gw1", "start": 0.0, "end": 2.0},
    ]
    samples = [(1.0, 2.0), (2.0, 1.0), (3.0, 1.0), (4.0, 0.5), (5.0, 0.0)]  # (end of the second, busy cores)
    got = timeline.idle_by_test(tests, samples, cores=2)
    # second 1: both busy; second 2: one idle core, a and b share it; seconds 3 and 4: a alone; second 5: no test
    assert got["by_test"] == pytest.approx({"a": 0.0 + 0.5 + 1.0 + 1.5, "b": 0.5})
    assert got["idle_core_seconds"] == pytest.approx(3.5)
    assert got["tail_seconds"] == pytest.approx(2.0)  # gw1 was done at 2 s, gw0 at 4 s


def test_the_sampler_reads_this_machines_cores():
    busy, total = timeline.cpu_times()
    assert 0 <= busy <= total
    with timeline.CpuSampler(every=0.05) as cpu:
        end = time.monotonic() + 0.4
        while time.monotonic() < end:  # a busy core for several samples
            pass
    assert cpu.samples and all(0 <= b <= cpu.cores + 1e-6 for _, b in cpu.samples)
    steal, total = timeline.steal_times()
    assert 0 <= steal <= total and 0 <= cpu.steal_core_seconds <= cpu.cores * 0.4 + 0.1
