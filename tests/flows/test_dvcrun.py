"""How the flows read DVC, without a server: the stage order of this repository's dvc.yaml, what the label stage
reaches, the stage's own exit code inside `dvc repro`'s message, and a killed caller ending the `dvc repro` it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from flows.dvcrun import downstream, stage_exit_code, stage_order
from tests.conftest import REPO, alive, cmdline, descendants


def test_stage_order_of_this_pipeline():
    order = stage_order(REPO)
    assert order[0] == "params" and order[-1] == "deploy"
    assert len(order) == len(set(order)) and {"train@dcgan", "train@stylegan", "train@sr", "label"} <= set(order)
    before = lambda a, b: order.index(a) < order.index(b)  # noqa: E731
    assert before("ingest", "tagger") and before("extractor", "train@dcgan") and before("train@sr", "evaluate")
    assert before("render", "pose") and before("evaluate", "deploy")


def test_label_reaches_its_consumers_only():
    reached = downstream(REPO, "label")
    assert reached[0] == "label" and {"tagger", "pose", "evaluate", "deploy"} <= set(reached)
    assert not {"params", "ingest", "render", "pixel_baseline"} & set(reached)
    with pytest.raises(KeyError, match="no stage 'nope'"):
        downstream(REPO, "nope")


@pytest.mark.parametrize(
    ("rc", "output", "code"),
    [
        (0, "Running stage 'a'", 0),
        (255, "ERROR: failed to reproduce 'b': failed to run: python -m stages.b, exited with 75", 75),
        (255, "ERROR: failed to reproduce 'b': failed to run: python x.py, exited with 2", 2),
        (255, "ERROR: failed to reproduce 'b': failed to run: python x.py, exited with -9", -9),
        (255, "ERROR: Unable to acquire lock. Most likely another DVC process is running", None),
        (1, "ERROR: unexpected error", 1),
    ],
)
def test_the_stage_code_is_read_from_dvc_message(rc, output, code):
    assert stage_exit_code(rc, output) == code


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_caller_ends_the_stage_it_started(tmp_path, how):
    """A flow run's process (here: a Python process calling dvcrun.repro, as the flow's task does) is killed while
    its stage sleeps: the stage process ends within seconds instead of training on unrecorded."""
    from tests.flows.conftest import make_project

    proj = make_project(tmp_path / "proj")
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from pathlib import Path; from flows import dvcrun\n"
        f"dvcrun.repro(Path({str(proj)!r}), 'a', dvcrun.dvc_env({{'STEP_SLEEP': '120'}}))"
    )
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, start_new_session=True)
    try:
        deadline, stage = time.monotonic() + 60, None
        while stage is None and time.monotonic() < deadline:
            stage = next((p for p in descendants(caller.pid) if "step.py a" in cmdline(p)), None)
            time.sleep(0.2)
        assert stage is not None, "the stage did not start"
        left = descendants(caller.pid)
        os.kill(caller.pid, how)  # only the caller: its children are not signalled by anyone else
        caller.wait(10)
        deadline = time.monotonic() + 20
        while any(alive(p) for p in left) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [cmdline(p) for p in left if alive(p)]
    finally:
        for pid in descendants(caller.pid) | {caller.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_commands_lines_reach_the_log_while_it_runs(tmp_path):
    """dvcrun.stream hands each line on as it is printed (a flow's logger shows a long stage's progress), not at the
    end; stdout and stderr both, and the whole output comes back with the exit code."""
    from flows.dvcrun import dvc_env, stream

    script = "import sys, time\nprint('first')\nsys.stderr.write('to stderr\\n')\ntime.sleep(1.5)\nprint('last')\n"
    seen: list[tuple[str, float]] = []
    t0 = time.monotonic()
    code, output = stream(
        [sys.executable, "-c", script + "sys.exit(3)"],
        tmp_path,
        dvc_env(),
        lambda line: seen.append((line, time.monotonic() - t0)),
    )
    assert code == 3 and [line for line, _ in seen] == ["first", "to stderr", "last"]
    assert seen[0][1] < 1.0 and seen[-1][1] >= 1.5  # `first` arrived before the command had finished
    assert output.splitlines() == ["first", "to stderr", "last"]


def test_the_mlflow_runs_of_a_flow_run_are_found_with_links(store, smoke_params, monkeypatch, tmp_path):
    """A stage's MLflow run carries the flow run's id (core/tracking.py reads $ANIME_FLOW_RUN); dvcrun.mlflow_runs
    finds exactly those runs in the store the stages used, with a link into the MLflow UI."""
    from core import tracking
    from flows.dvcrun import mlflow_runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIME_FLOW_RUN", "11111111-2222-3333-4444-555555555555")
    with tracking.start_run("unit", smoke_params, "train@unit", ["ingest"], [], run_name="mine") as mine:
        pass
    monkeypatch.setenv("ANIME_FLOW_RUN", "99999999-2222-3333-4444-555555555555")
    with tracking.start_run("unit", smoke_params, "train@unit", ["ingest"], [], run_name="another flow run's"):
        pass
    monkeypatch.delenv("ANIME_FLOW_RUN")
    with tracking.start_run("unit", smoke_params, "by hand", ["ingest"], [], run_name="no flow run"):
        pass
    env = {"ANIME_MLFLOW_STORE": str(store), "MLFLOW_PORT": "5123"}
    runs = mlflow_runs(tmp_path, "11111111-2222-3333-4444-555555555555", env)
    assert [(r["run"], r["stage"], r["experiment"]) for r in runs] == [("mine", "train@unit", "unit")]
    exp = mine.info.experiment_id
    assert runs[0]["link"] == f"http://127.0.0.1:5123/#/experiments/{exp}/runs/{mine.info.run_id}"
    assert mlflow_runs(tmp_path / "elsewhere", "11111111-2222-3333-4444-555555555555", {}) == []  # no store there


def test_the_run_report_shows_the_summary_stages_figures(tmp_path):
    """The project declares metrics/summary.json alone under `metrics:` (stages/summary.py): every figure of it is a
    key figure of the run's artifact, strings (the served generator) left out."""
    import json

    from flows.dvcrun import key_metrics
    from tests.conftest import run

    (tmp_path / "metrics").mkdir()
    doc = {"summary": {"dcgan_fd_tagger": 2.06, "targets_met": 16, "served_generator": "anime-dcgan"}}
    (tmp_path / "metrics" / "summary.json").write_text(json.dumps(doc))
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  summary:\n    cmd: 'true'\n    metrics: [{metrics/summary.json: {cache: false}}]\n"
    )
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    assert key_metrics(tmp_path) == [
        ("metrics/summary.json", "summary.dcgan_fd_tagger", 2.06),
        ("metrics/summary.json", "summary.targets_met", 16.0),
    ]
