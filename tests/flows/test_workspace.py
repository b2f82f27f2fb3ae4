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


def test_retention_keeps_the_newest_and_every_adopted_experiment(tmp_path):
    """Five scheduled runs' experiments, the second adopted (`dvc exp apply` + commit): keeping 2 removes the first and
    the third alone, in the checkout; an experiment not named like a scheduled run is never touched; the command
    line's --dry-run removes nothing."""
    import subprocess
    import sys

    origin = make_project(tmp_path / "proj")
    ws = workspace.prepare(origin, tmp_path / "runs")
    names = [f"nightly-2026-11-2{i}-030000" for i in range(5)]
    for i, name in enumerate(names):
        (ws / "labeling" / "exports" / "tags.json").write_text(f"[{i}]")  # each run reproduces something new
        run(["dvc", "repro"], ws)
        assert workspace.record(ws, name, push=True)["pushed"]
    (ws / "labeling" / "exports" / "tags.json").write_text("[9]")
    run(["dvc", "repro"], ws)
    run(["git", "add", "--all"], ws)
    run(["dvc", "exp", "save", "--name", "by-hand-run"], ws, env=workspace.GIT_IDENTITY)
    run(["dvc", "exp", "push", "origin", "by-hand-run"], ws)

    found = workspace.experiments(origin)
    assert [e["name"] for e in found] == names and not any(e["adopted"] for e in found)
    run(["dvc", "exp", "apply", names[1]], origin)  # adopting the second run: its record is committed on the branch
    run(["git", "add", "dvc.lock", "labeling/exports/tags.json"], origin)
    run(["git", "commit", "-qm", f"adopt {names[1]}"], origin)
    assert [e["name"] for e in workspace.experiments(origin) if e["adopted"]] == [names[1]]

    cli = [sys.executable, "-m", "flows.workspace", "retain", "--project", str(origin), "--keep", "2", "--dry-run"]
    dry = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    assert f"would remove 2: {names[0]} {names[2]}" in dry and len(workspace.experiments(origin)) == 5

    got = workspace.retain(origin, keep=2)
    assert got["removed"] == [names[0], names[2]] and got["adopted"] == [names[1]]
    assert [e["name"] for e in workspace.experiments(origin)] == [names[1], names[3], names[4]]
    listed = run(["dvc", "exp", "list", "--all-commits", "--name-only"], origin).stdout.split()
    assert "by-hand-run" in listed and names[0] not in listed
    with pytest.raises(ValueError):
        workspace.retain(origin, keep=-1)
