"""A real Label Studio server (the `labelstudio` fixture of tests/conftest.py: its own venv, 127.0.0.1): the admin's
fixed token works, a wrong one is refused, the labeling configs are accepted, local files under the document root
are served, and a push / annotate / pull round trip with a tiny untrained champion's pre-annotations works."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from core.errors import Transient
from core.names import GROUPS, JOINTS
from labeling import configs
from labeling.client import connect
from labeling.formats import choice_results, keypoint_results
from labeling.pull import pull
from labeling.push import push
from tests.conftest import REPO, free_port
from tests.labeling.champions import register_posenet, register_tagger

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


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


def test_the_venv_holds_exactly_the_lock(labelstudio):
    """The server runs from .venv-labelstudio as the lock file pins it: every package at the lock's version."""
    from labeling import server

    frozen = subprocess.run(
        [str(server.VENV / "bin" / "pip"), "freeze", "--disable-pip-version-check", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {line.split("==")[0].lower(): line.split("==")[1] for line in frozen.splitlines() if "==" in line}
    pins = [line for line in server.LOCK.read_text().splitlines() if line and not line.startswith("#")]
    locked = {line.split("==")[0].lower(): line.split("==")[1] for line in pins}
    assert installed == locked


def test_binds_only_loopback(labelstudio):
    port = int(labelstudio["url"].rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for addr in addresses - {"127.0.0.1"}:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((addr, port)) != 0, f"Label Studio answers on {addr}"


def _sync(args: list[str], cwd, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "MLFLOW"))}
    return subprocess.run(
        [sys.executable, "-m", "labeling.sync", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
    )


def test_sync_exit_codes(labelstudio):
    t0 = time.monotonic()
    down = _sync(["push", "--url", f"http://127.0.0.1:{free_port()}"], REPO, LABEL_STUDIO_API_KEY="x" * 40)
    assert down.returncode == 75 and time.monotonic() - t0 < 10 and "does not answer" in down.stderr
    bad = _sync(["pull", "--url", labelstudio["url"]], REPO, LABEL_STUDIO_API_KEY="0" * 40)
    assert bad.returncode == 2 and "refused the API token" in bad.stderr and "0" * 40 not in bad.stderr


def test_push_with_the_tracking_server_down_exits_75(labelstudio_empty, smoke_params, tmp_path, monkeypatch):
    """Not a quiet push without pre-annotations: nothing is imported, exit 75, and a retry later does it right."""
    from stages import render

    docs = labelstudio_empty["docs"]
    render.run(smoke_params, docs / "render", workers=1)
    (tmp_path / "data").symlink_to(docs)  # the CLI's defaults: data/render, images under data/labeling/
    down = f"http://127.0.0.1:{free_port()}"
    token = labelstudio_empty["creds"].token
    args = ["push", "--url", labelstudio_empty["url"], "--params", str(REPO / "params.yaml")]
    got = _sync(args, tmp_path, LABEL_STUDIO_API_KEY=token, MLFLOW_TRACKING_URI=down)
    assert got.returncode == 75, got.stderr
    assert "MLflow tracking server" in got.stderr and "unreachable" in got.stderr and "Traceback" not in got.stderr
    srv = connect(labelstudio_empty["url"], token)
    ls = srv.client()
    assert all(not list(ls.tasks.list(project=p.id)) for p in ls.projects.list())
    # the same through the API
    monkeypatch.setenv("MLFLOW_TRACKING_URI", down)
    with pytest.raises(Transient, match="unreachable"):
        push(
            srv,
            smoke_params,
            docs,
            docs / "render",
            tmp_path / "none",
            tmp_path / "none.csv",
            projects=tmp_path / "p.json",
        )


def _points(result: list[dict]) -> dict[str, tuple[float, float]]:
    """Keypoint regions -> {joint: (x, y) in percent of the image}."""
    return {r["value"]["keypointlabels"][0]: (r["value"]["x"], r["value"]["y"]) for r in result}


def test_push_annotate_pull(labelstudio_empty, smoke_params, smoke_ingest, store, tmp_path):
    """Push twice (the second imports the next ones), with the champion's pre-annotations, most uncertain first;
    annotate as an annotator would; pull twice (the second export is byte-identical); the label stage reads it."""
    from models.pose.net import predict
    from stages import render
    from synth.pose.poseset import PoseSet

    labelstudio = labelstudio_empty
    render.run(smoke_params, tmp_path / "render", workers=1)
    pose_version, net = register_posenet(tmp_path / "posenet", smoke_params, 64)
    tags_auto = tmp_path / "tagger" / "tags_auto.csv"
    tagger_version = register_tagger(tmp_path / "tagger_bundle", smoke_params, smoke_ingest, tags_auto)
    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 6, "tag_tasks": 5})}
    )
    srv = connect(labelstudio["url"], labelstudio["creds"].token)
    docs = labelstudio["docs"]
    first = push(srv, params, docs, tmp_path / "render", smoke_ingest, tags_auto, projects=tmp_path / "projects.json")
    assert first["pose"]["imported"] == 6 and first["pose"]["model_version"] == f"anime-posenet/{pose_version}"
    assert first["tags"]["imported"] == 5 and first["tags"]["model_version"] == f"anime-tagger/{tagger_version}"
    again = push(srv, params, docs, tmp_path / "render", smoke_ingest, tags_auto, projects=tmp_path / "projects.json")
    assert again["pose"]["existing"] == 6 and again["tags"]["existing"] == 5
    ls = srv.client()
    pose_tasks = sorted(ls.tasks.list(project=first["pose"]["project"], fields="all"), key=lambda t: t.id)
    assert len(pose_tasks) == 12 and len({t.data["ref_id"] for t in pose_tasks}) == 12  # the next six, no repeat
    unc = [t.data["uncertainty"] for t in pose_tasks[:6]]
    assert unc == sorted(unc, reverse=True) and len(set(unc)) > 1  # imported most uncertain first

    # the pre-annotation is the registered model's reading of the sketch, each joint under its own name
    ps = PoseSet(tmp_path / "render")
    row_of = {m["id"]: int(m["index"]) for m in ps.meta}
    ref = pose_tasks[0].data["ref_id"]
    row = row_of[ref]
    sketch = np.repeat(np.asarray(ps.array("sketch")[[row]])[..., None], 3, axis=3)
    preds = ls.predictions.list(task=pose_tasks[0].id)
    assert preds and preds[0].model_version == f"anime-posenet/{pose_version}"
    got, want = _points(preds[0].result), _points(keypoint_results(predict(net, sketch)[0], 64))
    assert got.keys() == set(JOINTS) and np.allclose([got[j] for j in JOINTS], [want[j] for j in JOINTS], atol=1e-3)
    # the image is served from the local-files root, and it is the sketch
    req = urllib.request.Request(
        labelstudio["url"] + pose_tasks[0].data["image"], headers={"Authorization": f"Token {srv.token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        png = r.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from dataset.imageio import decode_image

    assert np.array_equal(decode_image(png, 1 << 20), sketch[0])

    truth = np.load(tmp_path / "render" / "joints.npy")
    ls.annotations.create(id=pose_tasks[0].id, result=keypoint_results(truth[row], 64))
    tag_tasks = sorted(ls.tasks.list(project=first["tags"]["project"], fields="all"), key=lambda t: t.id)
    tag_task = tag_tasks[0]
    tag_preds = ls.predictions.list(task=tag_task.id)
    assert tag_preds and tag_preds[0].model_version == f"anime-tagger/{tagger_version}"
    with open(tags_auto, newline="", encoding="utf-8") as f:
        auto = next(r for r in csv.DictReader(f) if r["id"] == tag_task.data["ref_id"])
    assert {r["from_name"]: r["value"]["choices"][0] for r in tag_preds[0].result} == {g: auto[g] for g in GROUPS}
    # the prediction carries the champion's confidence as its score, which the project's sampling follows
    assert tag_preds[0].score == pytest.approx(1 - tag_task.data["uncertainty"], abs=1e-3)
    for kind in ("pose", "tags"):
        project = ls.projects.get(id=first[kind]["project"])
        assert project.sampling == "Uncertainty sampling" and project.show_instruction
        assert project.expert_instruction == configs.INSTRUCTIONS[kind]
    ls.annotations.create(id=tag_task.id, result=choice_results({"smile": "yes", "hair_color": "blue"}))

    exports = tmp_path / "exports"
    got = pull(srv, exports)
    assert got["pose"]["tasks"] == 1 and got["pose"]["changed"] and got["pose"]["added"] == 1
    assert got["tags"]["tasks"] == 1 and got["pose"]["removed"] == 0 and not got["pose"]["problems"]
    before = {p.name: p.read_bytes() for p in exports.iterdir()}
    assert pull(srv, exports)["pose"]["changed"] is False
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


def test_visibility_choices_come_back_through_pull_and_the_label_stage(labelstudio_empty, smoke_params, tmp_path):
    """The pose config on a real server: an annotation with an occluded joint (a per-region choice under its point's
    region id, as the editor writes it) and one out of frame (ticked, no point) is accepted, pulled with the ids that
    link choice and point, and the label stage reads the same visibility."""
    from labeling.client import ensure_project
    from stages import label

    srv = connect(labelstudio_empty["url"], labelstudio_empty["creds"].token)
    ls = srv.client()
    project = ensure_project(ls, "pose", configs.pose_config())
    ls.tasks.create(project=project, data={"image": "/data/local-files/?d=labeling/pose/v.png", "ref_id": "vis-1"})
    (task,) = ls.tasks.list(project=project, fields="all")
    joints = np.random.default_rng(5).uniform(2, 60, (11, 2))
    vis = ["visible"] * 11
    vis[JOINTS.index("left_hand")], vis[JOINTS.index("right_foot")] = "occluded", "out_of_frame"
    ls.annotations.create(id=task.id, result=keypoint_results(joints, 64, vis))
    exports = tmp_path / "exports"
    assert pull(srv, exports, projects=tmp_path / "projects.json")["pose"]["tasks"] == 1
    (exported,) = json.loads((exports / "pose.json").read_text())
    result = exported["annotations"][0]["result"]
    occluded = next(r for r in result if r["from_name"] == configs.VISIBILITY_CONTROL)
    point = next(r for r in result if r["type"] == "keypointlabels" and r["id"] == occluded["id"])
    assert point["value"]["keypointlabels"] == ["left_hand"] and occluded["value"]["choices"] == ["occluded"]
    m = label.run(smoke_params, exports, tmp_path / "none", tmp_path / "none", tmp_path / "label")
    assert m["problems"] == 0 and m["annotated_joints_by_visibility"] == {
        "visible": 9,
        "occluded": 1,
        "out_of_frame": 1,
    }
    (item,) = json.loads((tmp_path / "label" / "joints.json").read_text())["items"]
    got = np.array([np.nan if v is None else v for v in item["joints"]], float).reshape(11, 2)
    assert item["visibility"] == vis and np.isnan(got[-1]).all()
    assert np.allclose(got[:-1], joints[:-1], atol=1e-3)  # the occluded hand keeps its point


def test_disputed_task_goes_back_to_the_queue(labelstudio_empty, smoke_params, smoke_ingest, store, tmp_path):
    """Two annotators disagree on smile: the next push asks for a third annotation (a new task of the same image),
    a re-run asks nothing more, the label stage keeps the disputed label out; the third annotation resolves it."""
    from stages import label

    labelstudio = labelstudio_empty
    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 0, "tag_tasks": 2})}
    )
    srv = connect(labelstudio["url"], labelstudio["creds"].token)
    docs = labelstudio["docs"]

    def push_tags(p):
        return push(
            srv, p, docs, tmp_path / "none", smoke_ingest, tmp_path / "none.csv", projects=tmp_path / "projects.json"
        )

    first = push_tags(params)
    assert first["tags"]["imported"] == 2 and first["tags"]["requeued"] == []
    ls = srv.client()
    project = first["tags"]["project"]
    task = sorted(ls.tasks.list(project=project, fields="all"), key=lambda t: t.id)[0]
    ref = task.data["ref_id"]
    ls.annotations.create(id=task.id, result=choice_results({"smile": "yes", "blush": "no"}))
    ls.annotations.create(id=task.id, result=choice_results({"smile": "no", "blush": "no"}))

    params = params.model_copy(update={"label": params.label.model_copy(update={"tag_tasks": 0})})
    again = push_tags(params)
    assert again["tags"]["requeued"] == [ref]
    tasks = [t for t in ls.tasks.list(project=project, fields="all") if t.data["ref_id"] == ref]
    assert {(t.data.get("requeue"), t.data.get("disputed")) for t in tasks} == {(None, None), (2, "smile")}
    assert push_tags(params)["tags"]["requeued"] == []

    exports = tmp_path / "exports"
    pull(srv, exports)
    m = label.run(params, exports, smoke_ingest, tmp_path / "none", tmp_path / "label")
    assert m["tag_tasks_disputed"] == 1 and m["tag_rows_annotated"] == 0  # out of the labels until resolved

    waiting = next(t for t in tasks if t.data.get("requeue") == 2)
    ls.annotations.create(id=waiting.id, result=choice_results({"smile": "yes"}))
    pull(srv, exports)
    m = label.run(params, exports, smoke_ingest, tmp_path / "none", tmp_path / "label")
    assert m["tag_tasks_disputed"] == 0 and m["tag_rows_annotated"] == 1
    with open(tmp_path / "label" / "tags.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["id"] == ref)
    assert row["smile"] == "yes" and row["source"] == "label-studio"  # 2 of 3 said yes
    assert push_tags(params)["tags"]["requeued"] == []


def test_an_unsure_annotation_is_left_out_and_goes_to_another_annotator(
    labelstudio_empty, smoke_params, smoke_ingest, store, tmp_path
):
    """An annotator ticks `unsure`: the label stage leaves the annotation out (a problem row says why), the next push
    asks for another annotation of the image, and a sure one then counts."""
    from stages import label

    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 0, "tag_tasks": 1})}
    )
    srv = connect(labelstudio_empty["url"], labelstudio_empty["creds"].token)

    def push_tags(p):
        docs = labelstudio_empty["docs"]
        return push(
            srv, p, docs, tmp_path / "none", smoke_ingest, tmp_path / "none.csv", projects=tmp_path / "projects.json"
        )

    first = push_tags(params)
    ls = srv.client()
    project = first["tags"]["project"]
    (task,) = ls.tasks.list(project=project, fields="all")
    ref = task.data["ref_id"]
    unsure = {"from_name": "unsure", "to_name": "image", "type": "choices", "value": {"choices": ["unsure"]}}
    ls.annotations.create(id=task.id, result=[*choice_results({"smile": "yes"}), unsure])
    params = params.model_copy(update={"label": params.label.model_copy(update={"tag_tasks": 0})})
    assert push_tags(params)["tags"]["requeued"] == [ref]
    waiting = next(t for t in ls.tasks.list(project=project, fields="all") if t.data.get("requeue") == 1)
    assert waiting.data["disputed"] == "unsure" and waiting.data["ref_id"] == ref
    exports = tmp_path / "exports"
    pull(srv, exports)
    m = label.run(params, exports, smoke_ingest, tmp_path / "none", tmp_path / "label")
    assert m["tag_rows_annotated"] == 0 and m["problems"] == 1
    report = json.loads((tmp_path / "label" / "report.json").read_text())
    assert any("unsure" in p["problem"] and p["ref_id"] == ref for p in report["problems"])
    ls.annotations.create(id=waiting.id, result=choice_results({"smile": "no"}))
    pull(srv, exports)
    m = label.run(params, exports, smoke_ingest, tmp_path / "none", tmp_path / "label")
    assert m["tag_rows_annotated"] == 1 and m["tag_tasks_disputed"] == 0
    assert push_tags(params)["tags"]["requeued"] == []


def test_the_pose_source_goes_to_the_pose_project(labelstudio_empty, smoke_params, store, tmp_path):
    """`label.pose_source` pictures (stage pose_import) are pushed before the render sketches, with the champion's
    guesses; an annotation of one comes back through pull and the label stage, and posenet's sets pick it up."""
    from models.pose.labels import imported_sets
    from stages import label, render
    from stages.pose_import import compute_pose_lock, run
    from synth.pose.poseset import PoseSet
    from tests.stages.test_pose_import import _artist_folder, _params

    render.run(smoke_params, tmp_path / "render", workers=1)
    truth = _artist_folder(tmp_path / "sketches", PoseSet(tmp_path / "render"), 4)
    params = _params(smoke_params, f"dir:{tmp_path / 'sketches'}")
    params = params.model_copy(update={"label": params.label.model_copy(update={"pose_tasks": 6, "tag_tasks": 0})})
    lock = tmp_path / "pose_source.lock.json"
    lock.write_text(json.dumps(compute_pose_lock(params)))
    run(params, tmp_path / "imported", lock)
    version, _ = register_posenet(tmp_path / "posenet", smoke_params, 64)
    srv = connect(labelstudio_empty["url"], labelstudio_empty["creds"].token)
    docs = labelstudio_empty["docs"]
    out = push(
        srv,
        params,
        docs,
        tmp_path / "render",
        tmp_path / "none",
        tmp_path / "none.csv",
        pose_import_dir=tmp_path / "imported",
        projects=tmp_path / "projects.json",
    )
    assert out["pose"]["imported"] == 6 and out["pose"]["model_version"] == f"anime-posenet/{version}"
    ls = srv.client()
    tasks = sorted(ls.tasks.list(project=out["pose"]["project"], fields="all"), key=lambda t: t.id)
    assert [t.data["kind"] for t in tasks] == ["import"] * 4 + ["sketch"] * 2
    assert all(ls.predictions.list(task=t.id) for t in tasks)
    from dataset.shards import read_manifest

    path_of = {r["id"]: r["path"] for r in read_manifest(tmp_path / "imported")}
    task = tasks[0]
    joints = (truth[path_of[task.data["ref_id"]]] + 0.5) * (64 / 96) - 0.5  # the pushed picture is 64 px
    ls.annotations.create(id=task.id, result=keypoint_results(joints, 64))
    exports = tmp_path / "exports"
    pull(srv, exports)
    m = label.run(params, exports, tmp_path / "none", tmp_path / "render", tmp_path / "label")
    assert m["joint_items_annotated"] == 1
    sets = imported_sets(tmp_path / "label" / "joints.json", tmp_path / "imported", 64)
    found = [y for x, y, _ in sets.values() if len(x)]
    assert len(found) == 1 and np.allclose(found[0][0], joints, atol=0.05)
