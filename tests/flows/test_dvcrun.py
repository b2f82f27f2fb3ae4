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
