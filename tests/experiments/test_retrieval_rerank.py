"""experiments/retrieval_rerank.py: every setting scored on validation alone (a pose set that refuses the test
split), among validation's candidates and among as many as test has; the choice is the best of its rows at test's
count; the command writes its result and refuses a bad settings file with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from experiments.retrieval_rerank import chosen, study
from models.pose.net import PoseNet
from synth.pose.poseset import PoseSet
from tests.conftest import REPO


class ValidationOnly(PoseSet):
    """The pose set of a study that must never read test."""

    def split(self, split: str, kind: str):
        assert split != "test", "the study read the test split"
        return super().split(split, kind)


@pytest.fixture(scope="module")
def render_dir(smoke_params, tmp_path_factory):
    from stages import render

    out = tmp_path_factory.mktemp("rerank") / "render"
    render.run(smoke_params, out, workers=1)
    return out


def test_every_setting_on_validation_alone(smoke_params, render_dir):
    ps = ValidationOnly(render_dir)
    net = PoseNet(width=4, size=ps.size).eval()
    grid = {"k": [1, 3, 10], "weight": [0.5, 100.0], "joints": ["predicted", "rendered"]}
    found = study(net, ps, smoke_params.seed, grid, distractors=20)
    rows = found["rows"]
    assert len(rows) == 1 + 2 * 2 * 2 and rows[0]["k"] == 1 and rows[0]["joints"] is None  # k 1 is scored once
    n_val = smoke_params.render.count.val
    for r in rows:
        assert r["val_retrieval_candidates"] == n_val and r["val_retrieval_candidates_at_test_size"] == n_val + 20
        assert all(k.startswith("val_") for k in r if k not in ("k", "weight", "joints"))
        for key in ("val_retrieval_top1", "val_retrieval_pose_top1_at_test_size"):
            assert 0 <= r[key] <= 1
        assert r["val_retrieval_top1"] <= r["val_retrieval_pose_top1"]  # its own projection is in its pose
    best = chosen(rows)  # the best pose-level figure at test's count, then exact top-1 there
    pose, exact = "val_retrieval_pose_top1_at_test_size", "val_retrieval_top1_at_test_size"
    top = max(r[pose] for r in rows)
    assert best[pose] == top and best[exact] == max(r[exact] for r in rows if r[pose] == top)


@pytest.mark.slow
def test_the_command_writes_its_result_and_refuses_bad_settings(render_dir, tmp_path):
    PoseNet(width=4, size=64).eval().save(tmp_path / "pose", {"kinds": ["stick"]})
    settings = tmp_path / "settings.yaml"
    settings.write_text("k: [2]\nweight: [1]\njoints: [rendered]\n")
    out = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "experiments.retrieval_rerank", "--profile", "smoke", "--render", str(render_dir)]
    cmd += ["--pose", str(tmp_path / "pose"), "--settings", str(settings), "--out", str(out)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["split"] == "val" and len(doc["rows"]) == 2 and doc["chosen"] in doc["rows"]
    assert doc["distractors"] == 20  # test's count less validation's on the smoke profile (60 - 40)
    assert '"retrieval_top1"' not in out.read_text()  # nothing of the test split
    settings.write_text("k: [0]\nweight: [1]\n")
    bad = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "k: expected" in bad.stderr
    assert np.isfinite(doc["chosen"]["val_retrieval_pose_error_px"])
