"""A real Label Studio server, started by the test from its own venv on 127.0.0.1: the admin's fixed token works,
a wrong one is refused, the labeling configs are accepted, and local files under the document root are served."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

from labeling import configs, server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    """A migrated data dir made once per session (about 35 s), copied for the server, which starts in seconds."""
    root = tmp_path_factory.mktemp("labelstudio")
    creds = server.Credentials("admin@example.com", "test-password-123", "0123456789abcdef0123456789abcdef01234567")
    docs = root / "files"
    (docs / "labeling").mkdir(parents=True)
    exe = server.ensure_venv()
    server.init_data_dir(exe, creds, root / "migrated", docs)
    server.copy_data_dir(root / "migrated", root / "data")
    port = _free_port()
    proc = server.start(port, root / "data", docs, creds, log=root / "server.log")
    try:
        yield {"url": f"http://127.0.0.1:{port}", "creds": creds, "docs": docs, "log": root / "server.log"}
    finally:
        server.stop(proc)


def test_token_login_and_configs(labelstudio):
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=labelstudio["url"], api_key=labelstudio["creds"].token)
    project = ls.projects.create(title="pose-check", label_config=configs.pose_config())
    got = ls.projects.get(project.id)
    assert "KeyPointLabels" in got.label_config and all(j in got.label_config for j in ("head", "right_foot"))
    tags = ls.projects.create(title="tags-check", label_config=configs.tags_config())
    assert ls.projects.get(tags.id).title == "tags-check"

    req = urllib.request.Request(f"{labelstudio['url']}/api/projects/", headers={"Authorization": "Token " + "0" * 40})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401


def test_binds_only_loopback(labelstudio):
    port = int(labelstudio["url"].rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for addr in addresses - {"127.0.0.1"}:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((addr, port)) != 0, f"Label Studio answers on {addr}"


def mlflow_champion(name: str) -> str:
    import mlflow

    return str(mlflow.MlflowClient().get_model_version_by_alias(name, "champion").version)


def test_sync_exit_codes(labelstudio, tmp_path):
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LABEL_STUDIO")}
    t0 = time.monotonic()
    down = subprocess.run(
        [sys.executable, "-m", "labeling.sync", "push", "--url", f"http://127.0.0.1:{_free_port()}"],
        cwd=REPO,
        env={**env, "LABEL_STUDIO_API_KEY": "x" * 40},
        capture_output=True,
        text=True,
    )
    assert down.returncode == 75 and time.monotonic() - t0 < 10 and "does not answer" in down.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "labeling.sync", "pull", "--url", labelstudio["url"]],
        cwd=REPO,
        env={**env, "LABEL_STUDIO_API_KEY": "0" * 40},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "refused the API token" in bad.stderr and "0" * 40 not in bad.stderr


def test_push_annotate_pull(labelstudio, smoke_params, smoke_ingest, store, tmp_path, monkeypatch):
    """Push twice (the second imports nothing), with posenet pre-annotations from the registry, most uncertain
    first; annotate as an annotator would; pull twice (the second export is byte-identical)."""
    from core import checkpoint
    from labeling import sync
    from stages import pose, render

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    from stages import tagger

    render.run(smoke_params, tmp_path / "render", workers=1)
    pose.run(smoke_params, tmp_path / "render", tmp_path / "pose")  # registers anime-posenet (champion)
    monkeypatch.chdir(tmp_path)
    tagger.run(smoke_params, smoke_ingest, tmp_path / "tagger")  # registers anime-tagger, writes tags_auto.csv
    tags_auto = tmp_path / "tagger" / "tags_auto.csv"
    tagger_version = mlflow_champion("anime-tagger")
    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 6, "tag_tasks": 5})}
    )
    srv = sync.connect(labelstudio["url"], labelstudio["creds"].token)
    docs = labelstudio["docs"]
    first = sync.push(srv, params, docs, tmp_path / "render", smoke_ingest, tags_auto)
    assert first["pose"]["imported"] == 6 and first["pose"]["model_version"] == "anime-posenet/1"
    assert first["tags"]["imported"] == 5 and first["tags"]["model_version"] == f"anime-tagger/{tagger_version}"
    again = sync.push(srv, params, docs, tmp_path / "render", smoke_ingest, tags_auto)
    assert again["pose"]["existing"] == 6 and again["tags"]["existing"] == 5
    ls = srv.client()
    pose_tasks = sorted(ls.tasks.list(project=first["pose"]["project"], fields="all"), key=lambda t: t.id)
    assert len(pose_tasks) == 12  # the second push took the next six
    unc = [t.data["uncertainty"] for t in pose_tasks[:6]]
    assert unc == sorted(unc, reverse=True)  # imported most uncertain first
    preds = ls.predictions.list(task=pose_tasks[0].id)
    assert preds and preds[0].model_version == "anime-posenet/1" and len(preds[0].result) == 11
    # the image is served from the local-files root
    import urllib.request

    req = urllib.request.Request(
        labelstudio["url"] + pose_tasks[0].data["image"], headers={"Authorization": f"Token {srv.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and r.read()[:8] == b"\x89PNG\r\n\x1a\n"

    truth = np.load(tmp_path / "render" / "joints.npy")
    ref = pose_tasks[0].data["ref_id"]
    row = next(
        int(m["index"])
        for m in __import__("dataset.poseset").poseset.PoseSet(tmp_path / "render").meta
        if m["id"] == ref
    )
    ls.annotations.create(id=pose_tasks[0].id, result=sync.keypoint_results(truth[row], 64))
    tag_tasks = sorted(ls.tasks.list(project=first["tags"]["project"], fields="all"), key=lambda t: t.id)
    tag_task = tag_tasks[0]
    tag_preds = ls.predictions.list(task=tag_task.id)
    assert tag_preds and tag_preds[0].model_version == f"anime-tagger/{tagger_version}"
    assert {r["from_name"] for r in tag_preds[0].result} == set(__import__("dataset.attributes").attributes.GROUPS)
    ls.annotations.create(id=tag_task.id, result=sync.choice_results({"smile": "yes", "hair_color": "blue"}))

    exports = tmp_path / "exports"
    got = sync.pull(srv, exports)
    assert got["pose"] == {"tasks": 1, "changed": True} and got["tags"]["tasks"] == 1
    before = {p.name: p.read_bytes() for p in exports.iterdir()}
    assert sync.pull(srv, exports)["pose"]["changed"] is False
    assert {p.name: p.read_bytes() for p in exports.iterdir()} == before
    pose_export = json.loads((exports / "pose.json").read_text())
    assert pose_export[0]["ref_id"] == ref and len(pose_export[0]["annotations"][0]["result"]) == 11

    # the label stage turns the pulled exports into label files
    from stages import label

    m = label.run(smoke_params, exports, smoke_ingest, tmp_path / "render", tmp_path / "label")
    assert m["joint_items_annotated"] == 1 and m["tag_rows_annotated"] == 1 and m["problems"] == 0
    doc = json.loads((tmp_path / "label" / "joints.json").read_text())
    item = next(i for i in doc["items"] if i["id"] == ref)
    assert item["source"] == "label-studio" and np.allclose(np.reshape(item["joints"], (11, 2)), truth[row], atol=1e-3)
