"""The MLflow helper against a real local store: lineage tags, params, metrics, images, registered bundle + alias."""

from __future__ import annotations

import json

import numpy as np
import torch
from safetensors.torch import save_file

from core import tracking


def test_run_with_lineage_and_registered_bundle(store, tmp_path, smoke_params, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "inputs"
    data.mkdir()
    (data / "a.bin").write_bytes(b"abc")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    save_file({"w": torch.ones(2, 2)}, str(bundle / "weights.safetensors"))
    (bundle / "config.json").write_text(json.dumps({"arch": "tiny"}))

    with tracking.start_run("unit", smoke_params, "unit", ["ingest"], [str(data)], run_name="r1") as run:
        tracking.log_metrics({"macro_f1": 0.5, "by_group": {"hair_color": 0.25}})
        tracking.log_image(np.zeros((8, 8, 3), np.uint8), "grid.png")
        version = tracking.register_bundle(bundle, "anime-unit", alias="champion")

    assert tracking.tracking_uri() == f"sqlite:///{store / 'mlflow.db'}"
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"macro_f1": 0.5, "by_group/hair_color": 0.25}
    assert got.data.params["ingest.sizes"] == "[32, 64]" and got.data.params["profile"] == "smoke"
    tags = got.data.tags
    assert tags["profile"] == "smoke" and tags["stage"] == "unit" and tags["git_dirty"] in ("true", "false")
    assert len(tags["git_commit"]) == 40 or tags["git_commit"] == "unknown"
    key = next(k for k in tags if k.startswith("dvc_md5/"))
    assert tags[key].endswith(".dir")
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"grid.png", "model"} <= arts

    mv = client.get_model_version_by_alias("anime-unit", "champion")
    assert str(mv.version) == version == "1" and mv.run_id == run.info.run_id
    assert mv.tags["profile"] == "smoke" and mv.tags["params_digest"] == tags["params_digest"]
    local = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(tmp_path / "dl"))
    assert sorted(p.name for p in __import__("pathlib").Path(local).iterdir()) == ["config.json", "weights.safetensors"]
    assert mv.source.startswith((store / "artifacts" / "unit").as_uri()), (
        mv.source
    )  # artifacts live in the project's store, not the working folder


def test_dvc_md5_matches_dvc_for_a_file(tmp_path):
    f = tmp_path / "x.txt"
    f.write_bytes(b"hello\n")
    import hashlib

    assert tracking.dvc_md5(f, lock=tmp_path / "none.lock") == hashlib.md5(b"hello\n").hexdigest()


def test_dvc_md5_prefers_dvc_lock(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  ingest:\n    outs:\n    - path: data/ingest\n      md5: abc.dir\n")
    assert tracking.dvc_md5("data/ingest", lock=lock) == "abc.dir"
