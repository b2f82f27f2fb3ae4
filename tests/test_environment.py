"""The test process's environment is each test's to change and not to keep (tests/conftest.py,
`environment_unchanged`): a Dask local cluster sets the thread counts of its own process to 1, which every stage that a
later test started inherited."""

from __future__ import annotations

import os

from tests.conftest import restored_environment


def test_what_a_dask_cluster_sets_in_this_process_is_undone(monkeypatch):
    from distributed import LocalCluster

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # (monkeypatch puts back what was there before it)
    with restored_environment():
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None):
            pass
        assert os.environ.get("OMP_NUM_THREADS") == "1"  # the nanny's pre-spawn environment, left in this process
    assert "OMP_NUM_THREADS" not in os.environ
