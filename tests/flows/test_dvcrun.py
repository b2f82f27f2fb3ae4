"""How the flows read DVC, without a server: the stage order of this repository's dvc.yaml, what the label stage
reaches, the stage's own exit code inside `dvc repro`'s message, and the run lock naming its holder."""

from __future__ import annotations

import pytest

from flows.dvcrun import downstream, stage_exit_code, stage_order
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
