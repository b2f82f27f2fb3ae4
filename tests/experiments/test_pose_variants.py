"""The studies run as a user runs them (`python -m experiments.<name>`, smoke profile, a small pose set):
experiments/pose_variants.py writes only validation figures, equal to experiments/seeds.py's for the same params and
seed, and re-scores from its kept models; it never reads the test split (a pose set that refuses it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.names import POSE_KINDS
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _study(name: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"experiments.{name}", "--profile", "smoke", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )


@pytest.fixture(scope="module")
def render_dir(smoke_params, tmp_path_factory):
    """The render stage's pose sets on the smoke profile, made once for this file."""
    from stages import render

    out = tmp_path_factory.mktemp("pose") / "render"
    render.run(smoke_params, out, workers=1)
    return out


def test_variants_and_seeds_on_the_smoke_set(smoke_params, render_dir, tmp_path, monkeypatch):
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    variants = tmp_path / "variants.yaml"
    variants.write_text("chosen: {}\njoints_only: {embed_weight: 0.0}\n")
    out = tmp_path / "variants.json"
    common = ["--render", str(render_dir), "--variants", str(variants), "--out", str(out)]
    r = _study("pose_variants", *common, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["split"] == "val" and set(doc["variants"]) == {"chosen", "joints_only"}
    chosen = doc["variants"]["chosen"]
    text = json.dumps(doc)
    assert '"retrieval_top1"' not in text and '"pck_0_05"' not in text  # nothing of the test split
    assert chosen["posenet"]["val_retrieval_candidates"] == smoke_params.render.count.val
    assert doc["variants"]["joints_only"]["overrides"] == {"embed_weight": 0.0}

    # the seeds study trains the same model for the same seed: same validation figures, from the kept model
    seeds = tmp_path / "seeds.json"
    r = _study(
        "seeds",
        "--only",
        "pose",
        "--seeds",
        str(smoke_params.seed),
        "--render",
        str(render_dir),
        "--out",
        str(seeds),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    run = json.loads(seeds.read_text())["posenet"]["runs"][0]
    assert run["posenet/val_retrieval_top1"] == chosen["posenet"]["val_retrieval_top1"]
    assert run["posenet/val_pck_0_05"] == chosen["posenet"]["val_pck_0_05"]
    assert run["train_seconds"] == chosen["train_seconds"]  # not retrained: the kept model was scored

    # a bad variant is a clear exit 2 before any training
    variants.write_text("typo: {embed_wieght: 1}\n")
    r = _study("pose_variants", *common, env=env)
    assert r.returncode == 2 and "typo" in r.stderr and "embed_wieght" in r.stderr


def test_the_study_never_reads_the_test_split(smoke_params, render_dir, tmp_path, monkeypatch):
    """The table chooses settings, so nothing of test may be computed: the study runs against a pose set whose
    accessors refuse the test split, and its figures are still those of the pose stage's scorer on validation."""
    from core import checkpoint
    from experiments import pose_variants, seeds
    from models.pose.evaluate import evaluate
    from synth.pose.poseset import SPLITS, PoseSet

    split, rows = PoseSet.split, PoseSet.rows

    def refuse_test(method):
        def guarded(self, *args, **kwargs):
            if "test" in (*args[:1], kwargs.get("split")):
                raise AssertionError(f"the study read the test split (PoseSet.{method.__name__})")
            return method(self, *args, **kwargs)

        return guarded

    monkeypatch.setattr(PoseSet, "split", refuse_test(split))
    monkeypatch.setattr(PoseSet, "rows", refuse_test(rows))
    with pytest.raises(AssertionError, match="test split"):  # the guard holds
        PoseSet(render_dir).split("test", "stick")
    monkeypatch.setattr(seeds, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    variants, out = tmp_path / "variants.yaml", tmp_path / "variants.json"
    variants.write_text("chosen: {}\n")
    argv = ["pose_variants", "--params", str(REPO / "params.yaml"), "--profile", "smoke", "--render", str(render_dir)]
    monkeypatch.setattr(sys, "argv", [*argv, "--variants", str(variants), "--out", str(out)])
    pose_variants.main()
    chosen = json.loads(out.read_text())["variants"]["chosen"]
    assert set(chosen["posenet"]) == set(pose_variants.VALIDATION)

    # the same figures as the pose stage's scorer on validation (it reads test too: the guard is lifted for it)
    monkeypatch.setattr(PoseSet, "split", split)
    monkeypatch.setattr(PoseSet, "rows", rows)
    net, _, _ = seeds.trained_posenet(smoke_params, smoke_params.seed, render_dir)  # the kept model
    ps = PoseSet(render_dir)
    splits = {s: {k: ps.split(s, k) for k in POSE_KINDS} for s in SPLITS}
    metrics, _, _ = evaluate(net, ps, splits, ps.size, smoke_params.seed, smoke_params.pose.retrieval)
    assert chosen["posenet"] == {k: metrics["posenet"][k] for k in pose_variants.VALIDATION}
    assert chosen["joints_embedding"] == {"val_retrieval_top1": metrics["joints_embedding"]["val_retrieval_top1"]}
