"""The studies run as a user runs them (`python -m experiments.<name>`, smoke profile, a small pose set):
experiments/pose_variants.py writes only validation figures, equal to experiments/seeds.py's for the same params and
seed, and re-scores from its kept models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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


def test_variants_and_seeds_on_the_smoke_set(smoke_params, tmp_path, monkeypatch):
    from stages import render

    render.run(smoke_params, tmp_path / "render", workers=1)
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    variants = tmp_path / "variants.yaml"
    variants.write_text("chosen: {}\njoints_only: {embed_weight: 0.0}\n")
    out = tmp_path / "variants.json"
    common = ["--render", str(tmp_path / "render"), "--variants", str(variants), "--out", str(out)]
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
        str(tmp_path / "render"),
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
