"""`torchrun --nproc-per-node 2 -m stages.train --family <f>` on the smoke profile, for the families that train data
parallel (DCGAN, StyleGAN): the stage itself, not a family's own train module. Rank 1 trains in step with rank 0
(without it rank 0 waits for ever in its first all-reduce) while rank 0 alone scores, registers and writes; in
DCGAN rank 1 goes on to the transfer pair while rank 0 still scores the first model. SR and pose2sketch train on
rank 0 alone (their `run` returns at once on the other ranks) and are not launched here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, VENV_BIN, set_profile, untrained_ruler
from tests.faults.test_retry import _inputs  # the label and tagger outputs the train stage reads

pytestmark = pytest.mark.slow

# what the stage writes on the smoke profile: bundles under --out, the figures' sections, the registered roles
EXPECTED = {
    "dcgan": {
        "bundles": ["dcgan-32", "dcgan-transfer", "dcgan-transfer_scratch", "pca_gaussian"],
        "steps": {"dcgan": 12, "transfer": 4, "transfer_scratch": 4},
        "sections": {
            "dcgan",
            "pca_gaussian",
            "floor",
            "transfer",
            "transfer_scratch",
            "transfer_floor",
            "extractor_version",
            "data",
        },
        "roles": ["dcgan", "pca_gaussian", "transfer", "transfer_scratch"],
        "arrays": ["samples.npy"],
    },
    "stylegan": {
        "bundles": ["stylegan-32"],
        "steps": {"stylegan": 4},
        "sections": {"stylegan", "extractor_version", "data"},
        "roles": ["stylegan"],
        "arrays": ["sheet.npy"],
    },
}


def _pin(tmp_path: Path, smoke_params) -> Path:
    """A small tagger registered in the test's store and pinned as the extractor (what the extractor stage writes);
    its folder is also the judge."""
    from core import tracking
    from models.tagger.net import MODEL, TaggerNet
    from stages.extractor import describe

    folder = tmp_path / "judge"
    TaggerNet(width=4, size=32).save(folder, {"role": "cnn", "thresholds": {}})
    with tracking.start_run("tagger", smoke_params, "tagger", ["tagger"], [], run_name="tagger-cnn"):
        version = tracking.register_bundle(folder, MODEL, tags={"role": "cnn"})
    pin = tmp_path / "pin.json"
    pin.write_text(json.dumps(describe(version)))
    return pin


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_stage_train_under_torchrun_with_two_gloo_processes(family, tmp_path, smoke_ingest, smoke_params, store):
    import mlflow

    from core import tracking

    files = _inputs(tmp_path, smoke_ingest)
    pin = _pin(tmp_path, smoke_params)
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    set_profile(params, "smoke")
    work = tmp_path / "work"  # the stage's working folder: docs/ and .cache/ land here, not in the repository
    (work / "docs").mkdir(parents=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd = [*torchrun, "-m", "stages.train", "--family", family, "--params", str(params)]
    cmd += ["--data", str(smoke_ingest), "--labels", str(files["labels"]), "--auto-tags", str(files["auto_tags"])]
    cmd += ["--pin", str(pin), "--judge-tagger", str(tmp_path / "judge")]
    cmd += ["--ruler", str(untrained_ruler(tmp_path / "ruler", smoke_params))]
    cmd += ["--out", str(work / "out"), "--metrics", str(work / "m.json")]
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "ANIME_MLFLOW_STORE": str(store),
        "MLFLOW_TRACKING_URI": tracking.default_uri(),
    }
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    want = EXPECTED[family]

    # rank 0 alone writes: one summary line, the figures, the bundles, the contact sheet
    assert done.stdout.count(f"train {family}:") == 1, done.stdout[-2000:]
    figures = json.loads((work / "m.json").read_text())[family]
    assert want["sections"] <= set(figures)
    for section, steps in want["steps"].items():
        assert figures[section]["steps_done"] == steps, section
        assert isinstance(figures[section]["version"], str)
    assert isinstance(figures[family]["fd_tagger"], float) and isinstance(figures[family]["val_fd_tagger"], float)
    for figure in ("fd_ssl", "kid_ssl", "precision_ssl", "recall_ssl"):  # the second ruler's space, beside
        assert isinstance(figures[family][figure], float) and isinstance(figures[family][f"val_{figure}"], float)
    assert len(figures["ruler_version"]) == 12
    assert isinstance(figures[family]["ndb_ratio"], float) and "val_ndb_ratio" not in figures[family]  # split-free
    assert isinstance(figures[family]["msssim_diversity"], float) and "val_msssim_diversity" not in figures[family]
    for section in ("transfer", "transfer_scratch", "transfer_floor"):  # few held-out images: KID, not FD
        if section in want["sections"]:
            f = figures[section]
            assert "fd_tagger" not in f and f["kid_generated"] == 16, section  # the smoke profile's transfer.samples
            assert f["val_kid_tagger_low"] <= f["val_kid_tagger_high"] and f["kid_real"] >= 4, section
            assert f["val_kid_ssl_low"] <= f["val_kid_ssl_high"] and isinstance(f["kid_ssl"], float), section
    out = work / "out"
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "plots") == want["bundles"]
    assert any((out / "plots" / "losses").glob("*.csv"))  # rank 0's curves, as DVC plots
    for name in want["bundles"]:
        assert (out / name / "config.json").exists(), name
    for name in want["arrays"]:
        assert np.load(out / name).shape[0] > 0, name
    assert (work / "docs" / f"{family}_samples.png").stat().st_size > 0
    # the checkpoints (rank 0's) are cleared once their models are registered
    assert not list((work / ".cache" / "checkpoints").rglob("step-*.json"))

    # registered once each, by rank 0, and marked done; one MLflow run per trained model
    client = mlflow.MlflowClient(tracking_uri=tracking.default_uri())
    versions = client.search_model_versions(f"name = 'anime-{family}'")
    assert sorted(v.tags.get("role") for v in versions) == want["roles"]
    assert all(v.tags.get("stage_done") == "true" for v in versions)
    exp = client.get_experiment_by_name(family)
    assert len(client.search_runs([exp.experiment_id])) == len(want["roles"])
