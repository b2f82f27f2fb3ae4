"""The suite on several pytest workers (make test: `-n 2 --dist loadgroup`): what shares a session server runs on one
worker, a module's tests stay together, the heaviest groups go first, and each worker computes on its share of the
cores (tests/conftest.py)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from tests.conftest import HEAVY_FIRST, REPO, SERVER_GROUPS, WORKERS, worker_group


def test_every_heavy_group_names_a_server_group_or_a_test_module():
    """A renamed module in the list would silently lose its place at the front."""
    for group in HEAVY_FIRST:
        assert group in SERVER_GROUPS.values() or (REPO / group).is_file(), group


def test_a_session_server_puts_its_tests_on_one_worker_and_a_module_keeps_its_own():
    def item(nodeid, *fixtures):
        return SimpleNamespace(nodeid=nodeid, fixturenames=["tmp_path", *fixtures])

    a = item("tests/labeling/test_sync.py::test_push", "labelstudio_empty")
    b = item("tests/core/test_launchers.py::test_labelstudio_launcher", "labelstudio")
    c = item("tests/flows/test_flows.py::test_a_flow_run_completes_and_reports", "prefect_server")
    d = item("tests/models/test_engine.py::test_resume[2]")
    assert worker_group(a) == worker_group(b) == "labelstudio" and worker_group(c) == "prefect"
    assert worker_group(d) == "tests/models/test_engine.py"


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
