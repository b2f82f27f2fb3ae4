"""experiments/auto_tags.py end to end on the smoke profile, as a user runs it: two generated sets (one hidden in
another style), the tagger stage's auto-tags scored against the hidden truth, DCGAN on auto-tags against the truth,
and the result file; in a scratch store and cache, leaving nothing in the working tree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.names import GROUPS
from tests.conftest import REPO, run

pytestmark = pytest.mark.slow


def test_the_study_on_the_smoke_profile(tmp_path):
    out = tmp_path / "auto_tags.json"
    cmd = ["python", "-m", "experiments.auto_tags", "--profile", "smoke", "--seeds", "1", "--count", "48"]
    env = {"BENCH_CACHE": str(tmp_path / "bench"), "PYTHONPATH": str(REPO)}
    proc = run([*cmd, "--out", str(out)], tmp_path, env=env)  # its caches (.cache/) in tmp_path, not the tree
    assert "cond_accuracy ratio" in proc.stdout
    doc = json.loads(out.read_text())
    assert set(doc["images_by_source"]) == {"generated", "generated:ink"}
    hidden = doc["tagger"]["on_hidden"]
    assert 40 <= hidden["hidden_images"] <= 48 and set(hidden["macro_f1_by_group"]) == set(GROUPS)
    assert 0 <= hidden["trusted_share"] <= 1
    assert doc["tagger"]["auto_tags"]["tags_by_origin"]["source"] > 0  # the built-in set keeps its own tags
    (seed,) = doc["runs"]["truth"]
    auto, truth = doc["runs"]["auto"][seed], doc["runs"]["truth"][seed]
    assert auto["conditions_by_origin"]["train_auto_tags"] + auto["conditions_by_origin"]["train_unknown"] > 0
    assert truth["conditions_by_origin"]["train_auto_tags"] == truth["conditions_by_origin"]["train_unknown"] == 0
    ratio = doc["cond_accuracy_ratio"]
    assert ratio["runs"] == [auto["cond_accuracy"] / truth["cond_accuracy"]] and ratio["mean"] == ratio["runs"][0]
    assert np.isclose(doc["fd_tagger_change"]["mean"], auto["fd_tagger"] / truth["fd_tagger"] - 1)
    assert doc["seeds_done"] == 1 and doc["bars"]["cond_accuracy_ratio"] == 0.9
