"""A scheduled run's workspace (flows/workspace.py), without a server: only a folder the runs made is ever reset,
each run is its own experiment, and a failed push leaves the experiment findable and says why."""

from __future__ import annotations

import pytest

from flows import workspace
from tests.conftest import run
from tests.flows.conftest import make_project


def test_a_folder_a_run_did_not_make_is_never_reset(tmp_path):
    origin = make_project(tmp_path / "proj")
    mine = make_project(tmp_path / "my-checkout")  # a person's checkout, with work not yet committed
    (mine / "notes.txt").write_text("unsaved thoughts")
    (mine / "step.py").write_text("edited")
    with pytest.raises(workspace.NotOurs, match="was not made by a scheduled run"):
        workspace.prepare(origin, mine)
    assert (mine / "notes.txt").read_text() == "unsaved thoughts" and (mine / "step.py").read_text() == "edited"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(workspace.NotOurs):
        workspace.prepare(origin, tmp_path / "full")
    with pytest.raises(workspace.NotOurs, match="outside the checkout"):
        workspace.prepare(origin, origin / "runs")
    with pytest.raises(workspace.NotOurs, match="outside the checkout"):
        workspace.prepare(origin, tmp_path)  # a folder holding the checkout

    ws = workspace.prepare(origin, tmp_path / "runs")  # new: made and marked, then refreshed on the next run
    (ws / "scratch.txt").write_text("left by a run")
    assert workspace.prepare(origin, ws) == ws and not (ws / "scratch.txt").exists()
    other = make_project(tmp_path / "other")
    with pytest.raises(workspace.NotOurs, match="not of"):
        workspace.prepare(other, ws)  # the runs of another checkout's clone: not this one's to reset
    assert workspace.location(origin, "../anime-runs") == (tmp_path / "anime-runs").resolve()


def test_each_run_is_its_own_experiment_and_a_failed_push_is_reported(tmp_path):
    origin = make_project(tmp_path / "proj")
    ws = workspace.prepare(origin, tmp_path / "runs")
    run(["dvc", "repro"], ws)
    got = workspace.record(ws, "nightly-a", push=True)  # no DVC remote: the git ref goes to the checkout
    assert got["pushed"] and got["push_error"] is None
    with pytest.raises(RuntimeError, match="nightly-a"):
        workspace.record(ws, "nightly-a", push=False)  # a name already taken is refused, never replaced
    run(["dvc", "remote", "add", "-d", "--local", "down", "/proc/no-such-remote"], ws)
    got = workspace.record(ws, "nightly-b", push=True)
    assert not got["pushed"] and "exp push" in got["push_error"]
    assert "nightly-b" in run(["dvc", "exp", "list", "--name-only"], ws).stdout  # findable where it ran
