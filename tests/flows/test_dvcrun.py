"""How the flows read DVC, without a server: the stage order of this repository's dvc.yaml, what the label stage
reaches, the stage's own exit code inside `dvc repro`'s message, and the run lock naming its holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.dvcrun import downstream, stage_exit_code, stage_order
from flows.lock import Busy, run_lock
from tests.conftest import REPO


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


def test_a_held_lock_names_its_holder(tmp_path):
    path = tmp_path / "run.lock"
    code = (
        "import sys, time; from pathlib import Path; from flows.lock import run_lock\n"
        "with run_lock(Path(sys.argv[1]), 'pipeline run brave-owl'):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=r"pipeline run brave-owl \(pid \d+ on .*, since .*\) is in progress"):
            with run_lock(path, "second", wait_seconds=0.3, poll=0.1):
                pass
    finally:
        holder.communicate("\n", timeout=10)
    with run_lock(Path(path), "third") as info:  # released with its holder
        assert info["what"] == "third"
