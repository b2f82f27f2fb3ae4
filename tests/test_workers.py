"""The suite on several pytest workers (make test: `-n 2 --dist loadgroup`): what shares a session server runs on one
worker, the tests of a module that makes a fixture once per module stay together and every other test goes where a
worker is free, the heaviest groups go first (in the collection's order), and each worker computes on its share of
the cores (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.conftest import HEAVY_FIRST, REPO, SERVER_GROUPS, TOOL_ENV, WORKERS, worker_group


def test_every_heavy_group_names_a_server_group_or_a_test_module():
    """A renamed module in the list would silently lose its place at the front."""
    for group in HEAVY_FIRST:
        assert group in SERVER_GROUPS.values() or (REPO / group).is_file(), group


def test_a_session_server_puts_its_tests_on_one_worker_and_a_module_fixture_keeps_its_module():
    def item(nodeid, *fixtures, scopes=()):
        defs = {f"f{i}": [SimpleNamespace(scope=scope)] for i, scope in enumerate(("function", "session", *scopes))}
        return SimpleNamespace(nodeid=nodeid, fixturenames=["tmp_path", *fixtures],
                               _fixtureinfo=SimpleNamespace(name2fixturedefs=defs))  # fmt: skip

    a = item("tests/labeling/test_sync.py::test_push", "labelstudio_empty")
    b = item("tests/core/test_launchers.py::test_labelstudio_launcher", "labelstudio")
    c = item("tests/flows/test_flows.py::test_a_flow_run_completes_and_reports", "prefect_server")
    d = item("tests/models/test_engine.py::test_resume[2]", scopes=("module",))
    e = item("tests/models/test_engine.py::test_step")  # function and session fixtures alone: any worker
    assert worker_group(a) == worker_group(b) == "labelstudio" and worker_group(c) == "prefect"
    assert worker_group(d) == "tests/models/test_engine.py" and worker_group(e) is None


@pytest.mark.slow  # a pytest session of its own: three interpreters that import the suite's conftest
def test_two_workers_keep_a_module_fixtures_tests_together():
    """Against pytest and pytest-xdist as installed (a version pair where the group never reaches the scheduler splits
    every group silently): tests/core/test_params.py's ten tests that share its module fixture `raw` run on one
    worker of two."""
    import ast

    module = "tests/core/test_params.py"
    tree = ast.parse((REPO / module).read_text())
    shared = {f.name for f in tree.body if isinstance(f, ast.FunctionDef) and "raw" in [a.arg for a in f.args.args]}
    assert len(shared) == 10
    cmd = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-v"]
    done = subprocess.run([*cmd, "-o", "addopts=", module], cwd=REPO, env={**os.environ, **TOOL_ENV},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = re.findall(r"\[(gw\d+)\] \[ *\d+%\] PASSED \S+::(\w+)", done.stdout)
    assert {name for _, name in ran} >= shared, done.stdout[-3000:]
    assert len({worker for worker, name in ran if name in shared}) == 1, ran


@pytest.mark.slow  # a pytest session of its own
def test_groups_are_handed_out_in_the_collections_order():
    """xdist's loadgroup sorts the groups by their number of tests unless told not to (tests/conftest.py tells it):
    on one worker, a file of one-test groups named first runs before tests/core/test_params.py's group of ten."""
    first, module = "tests/core/test_atomic.py", "tests/core/test_params.py"
    cmd = [sys.executable, "-m", "pytest", "-n", "1", "--dist", "loadgroup", "-p", "no:cacheprovider", "-v"]
    done = subprocess.run([*cmd, "-o", "addopts=", first, module], cwd=REPO, env={**os.environ, **TOOL_ENV},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = re.findall(r"\[gw0\] \[ *\d+%\] PASSED (\S+?)::", done.stdout)
    assert ran and set(ran) == {first, module}, done.stdout[-3000:]
    assert ran.index(module) == ran.count(first), ran  # every test of the first file, then the module


def test_a_worker_computes_on_its_share_of_the_cores():
    """Under make test every worker (and every stage or server it starts) has cores // workers threads; a run in one
    process leaves the thread counts as the environment gave them."""
    if WORKERS > 1:
        share = str(max(1, (os.cpu_count() or 1) // WORKERS))
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == share
        import torch

        assert torch.get_num_threads() == int(share)
    else:
        assert "PYTEST_XDIST_WORKER" not in os.environ
