"""Pose data and models: the skeleton and its left/right rule, the OpenCV renderer, the render stage, posenet's
coordinate conventions and training, PCK, the retrieval index, and the pose stage against a real MLflow store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dataset import posegen, skeleton
from dataset.poseset import PoseSet, render_one
from models import pose_train
from models.posenet import PoseNet, gaussian_targets


def test_poses_stay_within_limits_and_bones_are_rigid():
    rng = np.random.default_rng(0)
    ref = skeleton.Pose("standing").points3d()
    bones = [
        (skeleton.P[a], skeleton.P[b])
        for a, b in [
            ("left_shoulder", "left_elbow"),
            ("left_elbow", "left_hand"),
            ("right_hip", "right_knee"),
            ("right_knee", "right_foot"),
        ]
    ]
    for family in skeleton.FAMILIES:
        for _ in range(50):
            pose = skeleton.sample_pose(rng, family)
            assert pose.family == family and pose.within_limits()
            pts = pose.points3d()
            for a, b in bones:
                assert np.linalg.norm(pts[a] - pts[b]) == pytest.approx(np.linalg.norm(ref[a] - ref[b]), abs=1e-9)
    with pytest.raises(ValueError, match="unknown pose family"):
        skeleton.sample_pose(rng, "dancing")
    assert not skeleton.Pose("standing", l_knee=170).within_limits()


def test_left_is_the_characters_left_whatever_the_camera():
    pts = skeleton.Pose("standing").points3d()
    ls, rs = skeleton.J["left_shoulder"], skeleton.J["right_shoulder"]
    front, _ = skeleton.Camera(0, 0, 0).project(pts)
    back, _ = skeleton.Camera(180, 0, 0).project(pts)
    assert front[ls, 0] > front[rs, 0]  # facing the camera: the character's left is on the image's right
    assert back[ls, 0] < back[rs, 0]
    assert front[skeleton.J["head"], 1] < front[skeleton.J["pelvis"], 1] < front[skeleton.J["left_foot"], 1]  # y down
    _, depth = skeleton.Camera(0, 0, 0).project(pts)
    assert depth[skeleton.P["nose"]] > depth[skeleton.P["head"]]  # the face turns to a yaw-0 camera
    names = skeleton.JOINTS
    assert [names[i] for i in skeleton.MIRROR][2:6] == ["right_shoulder", "left_shoulder", "right_hand", "left_hand"]


def test_renderer_is_deterministic_aligned_and_inside(smoke_params):
    p = smoke_params.render
    a, meta = render_one(7, "train", 3, p)
    b, _ = render_one(7, "train", 3, p)
    c, _ = render_one(7, "train", 4, p)
    for k in ("stick", "projection", "sketch", "joints"):
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["joints"], c["joints"])
    s = p.size
    assert a["stick"].shape == (s, s, 3) and a["projection"].shape == (s, s) and a["sketch"].shape == (s, s)
    assert meta["family"] in p.families
    for i in range(30):
        out, _ = render_one(1, "test", i, p)
        j = out["joints"]
        assert (j >= 0).all() and (j <= s - 1).all()
        # every joint lies on the mannequin: darker than the projection's background
        bg = np.median(np.concatenate([out["projection"][0], out["projection"][-1]]))
        xi, yi = np.round(j).astype(int).T
        assert (out["projection"][yi, xi] < bg - 20).mean() >= 0.9
        # the stick between the left shoulder and the left hand carries the left arm's colour at its midpoint
        mid = np.round((j[skeleton.J["left_shoulder"]] + j[skeleton.J["left_hand"]]) / 2).astype(int)
        if np.linalg.norm(j[skeleton.J["left_shoulder"]] - j[skeleton.J["left_hand"]]) > 8:
            got = out["stick"][max(mid[1] - 1, 0) : mid[1] + 2, max(mid[0] - 1, 0) : mid[0] + 2].reshape(-1, 3)
            want = np.array(posegen.STICK_COLORS[3])
            assert np.abs(got.astype(int) - want).sum(axis=1).min() < 150
        # the sketch is dark lines on white
        assert (out["sketch"] > 200).mean() > 0.6 and (out["sketch"] < 100).sum() > 20
    # the projection is thresholded into tones, then blurred: a few dominant levels, with soft edges between them
    proj = render_one(2, "val", 0, p)[0]["projection"]
    assert len(np.unique(proj)) > 8


def test_render_stage_writes_the_sets(smoke_params, tmp_path):
    from stages import render

    m = render.run(smoke_params, tmp_path / "render", workers=2)
    ps = PoseSet(tmp_path / "render")
    n = sum(m["poses"].values())
    assert len(ps.meta) == n and m["images"] == 3 * n
    assert ps.array("stick").shape == (n, ps.size, ps.size, 3) and ps.array("joints").shape == (n, 11, 2)
    assert [r["split"] for r in ps.meta] == sorted((r["split"] for r in ps.meta), key=["train", "val", "test"].index)
    x, y = ps.split("val", "sketch")
    assert x.shape == (smoke_params.render.count.val, ps.size, ps.size, 3) and y.shape[1:] == (11, 2)
    info = json.loads((tmp_path / "render" / "info.json").read_text())
    assert info["joints"] == list(skeleton.JOINTS) and "character's own left" in info["left_right"]
    assert all((tmp_path / "render" / f"sheet_{k}.png").stat().st_size > 1000 for k in posegen.KINDS)
    # a sample is seeded by (seed, split, index): the same whatever the counts or the number of workers
    other = smoke_params.model_copy(
        update={
            "render": smoke_params.render.model_copy(
                update={"count": smoke_params.render.count.model_copy(update={"test": 5})}
            )
        }
    )
    render.run(other, tmp_path / "render2", workers=1)
    assert np.array_equal(PoseSet(tmp_path / "render2").split("train", "stick")[0], ps.split("train", "stick")[0])
    with pytest.raises(FileNotFoundError, match="render stage"):
        PoseSet(tmp_path / "nothing")


def test_soft_argmax_reads_pixel_coordinates(monkeypatch):
    net = PoseNet(width=4, size=32)
    joints = np.array([[3.0, 5.0], [27.5, 2.5]] + [[16.0, 16.0]] * 9, np.float32)  # the renderer keeps a margin
    t = gaussian_targets(__import__("torch").from_numpy(joints[None]), 32, 16, sigma=0.6)
    monkeypatch.setattr(net, "encode", lambda x: ((t.reshape(1, 11, 16, 16) + 1e-12).log(), x.new_zeros(1, 64)))
    xy, logp, _ = net(__import__("torch").zeros(1, 3, 32, 32))
    assert np.allclose(xy[0].numpy(), joints, atol=0.35)
    assert logp.shape == (1, 11, 256)


def test_random_placement_moves_image_and_joints_together():
    import torch

    from models.pose_train import _place, random_placement

    rng = np.random.default_rng(0)
    joints = torch.from_numpy(rng.uniform(12, 52, (8, 11, 2)).astype(np.float32))
    img = torch.zeros(8, 3, 64, 64)
    for b in range(8):  # a bright 3x3 dot at joint 4 of each image
        x, y = (int(round(v)) for v in joints[b, 4].tolist())
        joints[b, 4] = torch.tensor([float(x), float(y)])
        img[b, :, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    theta, moved = random_placement(joints, 64, torch.Generator().manual_seed(1), (0.8, 1.2))
    out = _place(img, theta)
    for b in range(8):
        w = out[b, 0]
        ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        centre = torch.stack([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
        assert torch.allclose(centre, moved[b, 4], atol=0.3)
    assert (moved >= 2).all() and (moved <= 61).all()  # every joint stays inside the margin


def test_pck_embedding_and_index(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 64, (50, 11, 2))
    assert pose_train.pck(truth, truth, 64) == 1.0
    off = truth + np.array([3.0, 0.0])  # 3 px: inside 0.05 * 64 = 3.2
    assert pose_train.pck(off, truth, 64) == 1.0 and pose_train.pck(truth + 3.3, truth, 64) == 0.0
    e = pose_train.embed_joints(truth)
    assert np.allclose(pose_train.embed_joints(truth * 2.5 + 7), e, atol=1e-5)
    index = pose_train.RetrievalIndex(e, [f"p{i}" for i in range(50)])
    assert pose_train.retrieval_top1(index, e + 1e-4, np.arange(50)) == 1.0
    index.save(tmp_path / "ix")
    back = pose_train.RetrievalIndex.load(tmp_path / "ix")
    assert back.ids == index.ids and np.array_equal(back.embeddings, index.embeddings)
    assert not list((tmp_path / "ix").glob("*.pkl"))
    with pytest.raises(ValueError, match="not a retrieval index"):
        pose_train.RetrievalIndex.load(tmp_path)
    with pytest.raises(ValueError):
        pose_train.pck(truth[:3], truth, 64)


def test_posenet_learns_and_resumes(smoke_params, tmp_path, monkeypatch):
    """On a few hundred stick figures the error falls well below chance; a run interrupted after an epoch and
    resumed from its checkpoint ends with the weights of an unbroken run."""
    from core import checkpoint

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    p = smoke_params.render.model_copy(update={"size": 32, "supersample": 2})
    data = [render_one(3, "train", i, p)[0] for i in range(256)]
    x = np.stack([d["stick"] for d in data])
    y = np.stack([d["joints"] for d in data])
    cfg = pose_train.PoseTrainConfig(width=8, size=32, epochs=8, batch=16, lr=5e-3, place=0.0)
    whole = pose_train.train_posenet({"stick": x}, y, cfg, seed=5)
    mean_pose = np.linalg.norm(y - y.mean(axis=0), axis=-1).mean()  # predicting the average pose: ~6 px here
    pred = pose_train.predict(whole.net, x)
    assert pred.shape == (256, 11, 2) and np.linalg.norm(pred - y, axis=-1).mean() < 0.65 * mean_pose
    assert whole.history[-1]["train_px_error"] < 0.6 * whole.history[0]["train_px_error"]

    # a run that dies in epoch 3 leaves the checkpoint of epoch 2; the next run goes on from there
    images = {"stick": x, "projection": np.stack([d["projection"] for d in data])[..., None].repeat(3, axis=3)}
    cfg = pose_train.PoseTrainConfig(width=4, size=32, epochs=3, batch=64)
    unbroken = pose_train.train_posenet(images, y, cfg, seed=5)

    def die(metrics, step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pose_train.train_posenet(images, y, cfg, seed=5, ckpt_name="t", log=die)
    assert (tmp_path / "ckpt" / "t.safetensors").exists()
    resumed = pose_train.train_posenet(images, y, cfg, seed=5, ckpt_name="t")
    assert resumed.epochs_done == 3 and not (tmp_path / "ckpt" / "t.safetensors").exists()
    for a, b in zip(unbroken.net.state_dict().values(), resumed.net.state_dict().values()):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-5)
    budget = pose_train.train_posenet(images, y, pose_train.PoseTrainConfig(**{**cfg.__dict__, "max_minutes": 1e-9}), 5)
    assert budget.stopped_by_budget and budget.epochs_done == 1  # the budget is checked between epochs


@pytest.mark.timeout(600)
def test_pose_stage_on_the_smoke_set(smoke_params, store, tmp_path, monkeypatch):
    import mlflow

    from core import checkpoint
    from stages import pose, render

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    render.run(smoke_params, tmp_path / "render", workers=1)
    m = pose.run(smoke_params, tmp_path / "render", tmp_path / "pose")
    for k in pose.KINDS:
        assert 0.0 <= m["pck_0_05"][k] <= 1.0 and m["px_error"][k] >= 0
    assert m["retrieval_candidates"] == smoke_params.render.count.test
    assert m["index_size"] == sum(smoke_params.render.count.model_dump().values())
    assert 0.0 <= m["retrieval_top1"] <= 1.0 and 0.0 <= m["retrieval_top1_joints"] <= 1.0
    assert 0.0 <= m["pck_0_05_stick_replaced"] <= 1.0
    net = PoseNet.load(tmp_path / "pose")
    index = pose_train.RetrievalIndex.load(tmp_path / "pose")
    assert net.config["size"] == smoke_params.render.size and len(index.ids) == m["index_size"]
    client = mlflow.MlflowClient()
    v = client.get_model_version_by_alias("anime-posenet", "challenger")
    assert v.version == int(m["version"]) and v.tags["role"] == "posenet" and v.tags["profile"] == "smoke"
    assert client.get_model_version_by_alias("anime-posenet", "champion").version == v.version
    run = mlflow.search_runs(experiment_names=["posenet"], output_format="list")[0]
    assert "pck_0_05/stick" in run.data.metrics and "retrieval_top1" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"per_joint_error.png", "test_sketch_predictions.png", "model"} <= arts
    # a second run adds a challenger and leaves the champion where it was
    shutil.rmtree(tmp_path / "pose")
    m2 = pose.run(smoke_params, tmp_path / "render", tmp_path / "pose")
    assert client.get_model_version_by_alias("anime-posenet", "challenger").version == int(m2["version"])
    assert client.get_model_version_by_alias("anime-posenet", "champion").version == v.version


def test_pose_params_checked():
    from pydantic import ValidationError

    from core.params import PoseParams, RenderParams

    with pytest.raises(ValidationError, match="including projection"):
        PoseParams(kinds=["stick"])
    with pytest.raises(ValidationError, match="distinct families"):
        RenderParams(families=["dancing"])
    with pytest.raises(ValidationError):
        RenderParams(size=8)
