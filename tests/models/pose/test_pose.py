"""Pose models: posenet's coordinate conventions and training, PCK, the retrieval index, and the pose stage against a
real MLflow store."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from core import tracking
from core.names import POSE_KINDS
from core.params import load_params
from models.metrics.pck import pck
from models.pose import train as pose_train
from models.pose.evaluate import replaced_sticks
from models.pose.net import PoseNet, embed_images, gaussian_targets, predict
from models.pose.retrieval import RetrievalIndex, embed_joints, rerank, retrieval_pose, retrieval_top1
from synth.pose.poseset import PoseSet, render_one
from tests.conftest import REPO


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

    from models.pose.train import _place, random_placement

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
    assert pck(truth, truth, 64) == 1.0
    off = truth + np.array([3.0, 0.0])  # 3 px: inside 0.05 * 64 = 3.2
    assert pck(off, truth, 64) == 1.0 and pck(truth + 3.3, truth, 64) == 0.0
    e = embed_joints(truth)
    assert np.allclose(embed_joints(truth * 2.5 + 7), e, atol=1e-5)
    index = RetrievalIndex(e, [f"p{i}" for i in range(50)])
    assert retrieval_top1(index, e + 1e-4, np.arange(50)) == 1.0
    index.save(tmp_path / "ix")
    back = RetrievalIndex.load(tmp_path / "ix")
    assert back.ids == index.ids and np.array_equal(back.embeddings, index.embeddings)
    assert not list((tmp_path / "ix").glob("*.pkl"))
    assert back.joints is None and back.k == 1  # an index without joints: the embedding's nearest
    RetrievalIndex(e, index.ids, truth, k=3, weight=2.0).save(tmp_path / "rr")
    again = RetrievalIndex.load(tmp_path / "rr")
    assert np.array_equal(again.joints, truth.astype(np.float32)) and (again.k, again.weight) == (3, 2.0)
    assert list(again.nearest(e[:4] + 1e-4, truth[:4])) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="joints of shape"):
        RetrievalIndex(e, index.ids, truth[:3])
    with pytest.raises(ValueError, match="not a retrieval index"):
        RetrievalIndex.load(tmp_path)
    with pytest.raises(ValueError):
        pck(truth[:3], truth, 64)


def test_rerank_puts_the_embeddings_nearest_in_order_by_their_joints():
    """Two projections whose embeddings are near-equal but whose poses differ: the embedding alone returns the wrong
    one, re-ranking its 2 nearest by joints returns the query's own; a weight of 0 or k 1 leaves the embedding's
    order."""
    rng = np.random.default_rng(3)
    poses = rng.uniform(8, 56, (6, 11, 2))
    emb = rng.normal(size=(6, 4)).astype(np.float32)
    emb[1] = emb[0] + 0.01  # projection 1 sits next to projection 0 in the embedding
    index = RetrievalIndex(emb, [f"p{i}" for i in range(6)])
    query = emb[[0, 2]] + np.array([[0.004] * 4, [0] * 4], np.float32)  # the first nearer to 0 than to 1
    q_joints = poses[[1, 2]] * 1.7 + 3  # the same poses, elsewhere and larger: the joint distance is 0
    assert list(rerank(index, query)) == [0, 2]
    assert list(rerank(index, query, q_joints, poses, k=1, weight=5.0)) == [0, 2]
    assert list(rerank(index, query, q_joints, poses, k=2, weight=0.0)) == [0, 2]
    assert list(rerank(index, query, q_joints, poses, k=2, weight=5.0)) == [1, 2]
    assert (
        retrieval_top1(index, query, np.array([1, 2]), query_joints=q_joints, index_joints=poses, k=2, weight=5.0) == 1
    )
    pose = retrieval_pose(
        index, query, poses, poses[[1, 2]], 64, query_joints=q_joints, index_joints=poses, k=2, weight=5
    )
    assert pose == {"retrieval_pose_top1": 1.0, "retrieval_pose_error_px": 0.0}
    assert retrieval_pose(index, query, poses, poses[[1, 2]], 64)["retrieval_pose_top1"] == 0.5


def test_pck_counts_only_joints_with_a_truth_and_can_narrow_to_some():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 64, (4, 11, 2))
    pred = truth.copy()
    pred[0, :3] += 10.0  # three joints of the first image far off
    assert pck(pred, truth, 64) == pytest.approx(41 / 44)
    truth[0, 0] = np.nan  # out of frame: no truth, not counted, wherever the prediction lies
    assert pck(pred, truth, 64) == pytest.approx(41 / 43)
    occluded = np.zeros((4, 11), bool)
    occluded[0, :2] = occluded[1, 5] = True
    assert pck(pred, truth, 64, counted=occluded) == pytest.approx(1 / 2)  # joint 0 has no truth: 1 of 2 near
    with pytest.raises(ValueError, match="at least one joint"):
        pck(pred, np.full_like(truth, np.nan), 64)


def test_an_out_of_frame_joint_adds_no_loss_and_no_gradient():
    size, hm = 32, 16
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(3, 11, 2, generator=gen) * (size - 1)
    pred = (y + torch.randn(3, 11, 2, generator=gen)).requires_grad_()
    logp = torch.randn(3, 11, hm * hm, generator=gen).log_softmax(-1).requires_grad_()
    every = torch.ones(3, 11, dtype=torch.bool)
    plain = pose_train.joint_loss(pred, logp, y, size, 1.0, 1.0)
    assert torch.allclose(pose_train.joint_loss(pred, logp, y, size, 1.0, 1.0, every), plain)  # same mean
    known = every.clone()
    known[1, 4] = False
    y[1, 4] = float("nan")  # the left hand of image 1 is out of frame
    loss = pose_train.joint_loss(pred, logp, y, size, 1.0, 1.0, known)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all() and torch.isfinite(logp.grad).all()
    assert not pred.grad[1, 4].any() and not logp.grad[1, 4].any()  # nothing pulls the unknown joint anywhere
    assert pred.grad[1, 3].abs().sum() > 0 and logp.grad[0, 4].abs().sum() > 0  # the others still learn
    y[1, 4] = 1e6  # whatever stands in for the missing target, the loss is the same
    assert torch.allclose(pose_train.joint_loss(pred, logp, y, size, 1.0, 1.0, known), loss)


def test_query_size_says_nothing_of_the_candidate():
    """Retrieval queries are drawn at the size of another pose: their size does not follow their own pose's size."""
    rng = np.random.default_rng(3)
    base = rng.uniform(-1, 1, (400, 11, 2))
    own_size = rng.uniform(4, 14, 400)  # each pose's own scale, very different from pose to pose
    joints = base * own_size[:, None, None] + 32
    moved, images = replaced_sticks(joints, 64, seed=7)
    assert images.shape == (400, 64, 64, 3) and images.dtype == np.uint8
    assert (moved >= 3 - 1e-4).all() and (moved <= 60 + 1e-4).all()  # inside the frame, 3 px margin

    def radius(j):
        c = j - j.mean(axis=1, keepdims=True)
        return np.sqrt((c**2).sum(-1).mean(1))

    r_own, r_query = radius(joints), radius(moved)
    assert abs(np.corrcoef(r_own, r_query)[0, 1]) < 0.15  # was ~0.9 when the query was 0.75-1.25x its own size
    assert np.allclose(np.sort(r_query), np.sort(r_own), rtol=1e-3)  # the same sizes overall, another order
    # the same shape: only scale and place change
    assert np.allclose(embed_joints(moved), embed_joints(joints), atol=1e-4)
    again, _ = replaced_sticks(joints, 64, seed=7)
    assert np.array_equal(again, moved)


def test_posenet_learns_and_resumes(smoke_params, tmp_path, monkeypatch):
    """On a few hundred stick figures the error falls well below chance; a run interrupted after an epoch and
    resumed from its checkpoint runs only the missing epoch and ends with the weights of an unbroken run."""
    from core import checkpoint

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    p = smoke_params.render.model_copy(update={"size": 32, "supersample": 2})
    data = [render_one(3, "train", i, p)[0] for i in range(256)]
    x = np.stack([d["stick"] for d in data])
    y = np.stack([d["joints"] for d in data])
    cfg = smoke_params.pose.model_copy(
        update={"width": 8, "epochs": 8, "batch": 16, "lr": 5e-3, "place": 0.0, "max_minutes": 30}
    )
    whole = pose_train.train_posenet({"stick": x}, y, cfg, 32, seed=5)
    mean_pose = np.linalg.norm(y - y.mean(axis=0), axis=-1).mean()  # predicting the average pose: ~6 px here
    pred = predict(whole.net, x)
    assert pred.shape == (256, 11, 2) and np.linalg.norm(pred - y, axis=-1).mean() < 0.65 * mean_pose
    assert whole.history[-1]["train_px_error"] < 0.6 * whole.history[0]["train_px_error"]

    # a run that dies in epoch 3 leaves the checkpoint of epoch 2; the next run goes on from there
    images = {"stick": x, "projection": np.stack([d["projection"] for d in data])[..., None].repeat(3, axis=3)}
    cfg = smoke_params.pose.model_copy(update={"width": 4, "epochs": 3, "batch": 64, "max_minutes": 30})
    unbroken = pose_train.train_posenet(images, y, cfg, 32, seed=5)

    def die(metrics, step):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pose_train.train_posenet(images, y, cfg, 32, seed=5, checkpoint_name="t", log=die)
    assert (tmp_path / "ckpt" / "t.safetensors").exists()
    logged = []
    resumed = pose_train.train_posenet(
        images, y, cfg, 32, seed=5, checkpoint_name="t", log=lambda m, epoch: logged.append(epoch)
    )
    # only the missing epoch ran, after the checkpoint's two: a run from epoch 0 ends with the same weights too
    assert logged == [3] and [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.epochs_done == 3 and not (tmp_path / "ckpt" / "t.safetensors").exists()
    for a, b in zip(unbroken.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)  # bit-identical: the resumed run drew what the unbroken one drew
    budget = pose_train.train_posenet(images, y, cfg.model_copy(update={"max_minutes": 1e-9}), 32, 5)
    assert budget.stopped_by_budget and budget.epochs_done == 1  # the budget is checked between epochs


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pose_stage_on_the_smoke_set(smoke_params, store, tmp_path, monkeypatch):
    import mlflow

    from core import checkpoint
    from stages import pose, render

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    render.run(smoke_params, tmp_path / "render", workers=1)
    # two annotated training sketches and one validation sketch (the label stage's joints.json)
    import json

    ps0 = PoseSet(tmp_path / "render")
    joints = np.asarray(ps0.array("joints"))
    picked = [m for m in ps0.meta if m["split"] == "train"][:2] + [m for m in ps0.meta if m["split"] == "val"][:1]
    items = [
        {
            "id": m["id"],
            "source": "label-studio",
            "size": [64, 64],
            "joints": joints[int(m["index"])].reshape(-1).tolist(),
        }
        for m in picked
    ]
    (tmp_path / "joints.json").write_text(json.dumps({"joints": [], "items": items}))
    labels = tmp_path / "joints.json"
    metrics = pose.run(smoke_params, tmp_path / "render", tmp_path / "pose", labels, imported=tmp_path / "none")
    assert metrics["posenet"]["train_images_by_origin"]["label_studio"] == 2
    assert metrics["posenet"]["annotated_scored"] == 1 and 0 <= metrics["posenet"]["pck_0_05_annotated"] <= 1
    assert set(metrics) == {"posenet", "embedding_nearest", "joints_embedding", "floor"}  # the one metrics layout
    m = metrics["posenet"]
    assert m["retrieval_candidates"] == smoke_params.render.count.test
    assert m["val_retrieval_candidates"] == smoke_params.render.count.val
    assert m["index_size"] == sum(smoke_params.render.count.model_dump().values())
    # a query's own projection is in its pose: the pose-level figure is never below exact top-1
    for prefix in ("", "val_"):
        assert m[f"{prefix}retrieval_top1"] <= m[f"{prefix}retrieval_pose_top1"] <= 1
        assert m[f"{prefix}retrieval_pose_error_px"] >= 0
    assert all(not isinstance(v, dict) for k, v in m.items() if "_by_" not in k)
    net = PoseNet.load(tmp_path / "pose")
    index = RetrievalIndex.load(tmp_path / "pose")
    assert net.config["size"] == smoke_params.render.size and len(index.ids) == m["index_size"]
    # the figures are those of the saved bundle: recomputed from it on each split, they agree to the digit
    ps = PoseSet(tmp_path / "render")
    for split, prefix in (("test", ""), ("val", "val_")):
        found = {}
        for k in POSE_KINDS:
            x, y = ps.split(split, k)
            found[k] = pck(predict(net, x), y, ps.size)
            assert m[f"{prefix}pck_0_05_by_kind"][k] == round(found[k], 4)
        assert m[f"{prefix}pck_0_05"] == round(float(np.mean(list(found.values()))), 4)
    x, y = ps.split("test", "sketch")
    assert m["px_error_by_kind"]["sketch"] == round(float(np.linalg.norm(predict(net, x) - y, axis=-1).mean()), 3)
    n_before = len(ps.rows("train")) + len(ps.rows("val"))
    query_joints, query = replaced_sticks(ps.split("test", "stick")[1], ps.size, smoke_params.seed)
    own = np.arange(len(query)) + n_before
    # the saved index keeps each projection's rendered joints and re-ranks the embedding's k nearest by them
    how = smoke_params.pose.retrieval
    assert how.k > 1 and how.joints == "rendered" and (index.k, index.weight) == (how.k, how.weight)
    rendered = np.concatenate([ps.split(s, "projection")[1] for s in ("train", "val", "test")])
    assert np.array_equal(index.joints, rendered.astype(np.float32))
    found_all = index.nearest(embed_images(net, query), predict(net, query))
    assert m["retrieval_top1_all"] == round(float((found_all == own).mean()), 4)
    assert m["pck_0_05_queries"] == round(pck(predict(net, query), query_joints, ps.size), 4)
    assert (m["retrieval_k"], m["retrieval_weight"], m["retrieval_joints"]) == (how.k, how.weight, how.joints)
    # validation retrieval: its own queries among the validation projections, re-ranked, and the embedding alone
    _, vq = replaced_sticks(ps.split("val", "stick")[1], ps.size, smoke_params.seed, salt=0x51D)
    val_x, val_y = ps.split("val", "projection")
    val_index = RetrievalIndex(embed_images(net, val_x), [str(i) for i in range(len(vq))])
    rerank_how = {"query_joints": predict(net, vq), "index_joints": val_y, "k": how.k, "weight": how.weight}
    truth = np.arange(len(vq))
    assert m["val_retrieval_top1"] == round(retrieval_top1(val_index, embed_images(net, vq), truth, **rerank_how), 4)
    alone = metrics["embedding_nearest"]
    assert alone["val_retrieval_top1"] == round(retrieval_top1(val_index, embed_images(net, vq), truth), 4)
    assert set(alone) == {k for k in m if k.startswith(("retrieval_", "val_retrieval_")) and "candidates" not in k} - {
        "retrieval_top1_all",
        "retrieval_k",
        "retrieval_weight",
        "retrieval_joints",
    }
    floor = metrics["floor"]
    assert floor["retrieval_top1"] == round(1 / m["retrieval_candidates"], 6)
    mean_pose = ps.split("train", "stick")[1].mean(axis=0)
    x, y = ps.split("test", "sketch")
    assert floor["pck_0_05_by_kind"]["sketch"] == round(pck(np.broadcast_to(mean_pose, y.shape), y, ps.size), 4)
    client = mlflow.MlflowClient()
    v = client.get_model_version_by_alias("anime-posenet", "challenger")
    assert v.version == int(m["version"]) and v.tags["role"] == "posenet" and v.tags["profile"] == "smoke"
    assert tracking.alias_version("anime-posenet", "champion") is None  # the evaluate stage moves champion
    run = mlflow.search_runs(experiment_names=["posenet"], output_format="list")[0]
    assert "pck_0_05_by_kind/stick" in run.data.metrics and "val_retrieval_top1" in run.data.metrics
    assert "joints_embedding/val_retrieval_top1" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"per_joint_error.png", "test_sketch_predictions.png"} <= arts
    # the version is an MLflow model (serve/pyfunc.py) holding the bundle, which loads as the posenet it is
    assert client.get_model_version("anime-posenet", str(v.version)).source.startswith("models:/")
    PoseNet.load(tracking.download_version("anime-posenet", str(v.version), tmp_path / "version"))
    # a second run moves challenger to its own version and leaves champion alone
    shutil.rmtree(tmp_path / "pose")
    m2 = pose.run(smoke_params, tmp_path / "render", tmp_path / "pose", labels=None)["posenet"]
    assert client.get_model_version_by_alias("anime-posenet", "challenger").version == int(m2["version"])
    assert tracking.alias_version("anime-posenet", "champion") is None


def test_pose_params_checked():
    from pydantic import ValidationError

    from core.params import PoseParams, RenderParams

    params = load_params(REPO / "params.yaml")
    pose, render = params.pose.model_dump(), params.render.model_dump()
    with pytest.raises(ValidationError, match="including projection"):
        PoseParams.model_validate({**pose, "kinds": ["stick"]})
    with pytest.raises(ValidationError, match="distinct families"):
        RenderParams.model_validate({**render, "families": ["dancing"]})
    with pytest.raises(ValidationError):
        RenderParams.model_validate({**render, "size": 8})


def test_annotated_sketches_join_training_and_keep_their_split(smoke_params, tmp_path):
    """joints.json items from Label Studio that name pose-set sketches: training ones join posenet's training (and
    change it), held-out ones are only scored; joints are scaled from the annotated image's size."""
    import json

    from models.pose.labels import annotated_sets
    from stages import render

    render.run(smoke_params, tmp_path / "render", workers=1)
    ps = PoseSet(tmp_path / "render")
    truth = np.asarray(ps.array("joints"))
    train_ids = [m for m in ps.meta if m["split"] == "train"][:3]
    val_ids = [m for m in ps.meta if m["split"] == "val"][:2]
    items = [
        {
            "id": m["id"],
            "source": "label-studio",
            "size": [128, 128],
            "joints": ((truth[int(m["index"])] + 0.5) * 2 - 0.5).reshape(-1).tolist(),
        }
        for m in train_ids + val_ids
    ]
    items.append({"id": "elsewhere-1", "source": "label-studio", "size": [64, 64], "joints": [1.0] * 22})
    items.append(
        {"id": train_ids[0]["id"].replace("train", "test"), "source": "render", "size": [64, 64], "joints": [1.0] * 22}
    )
    path = tmp_path / "joints.json"
    path.write_text(json.dumps({"joints": [], "items": items}))
    sets = annotated_sets(path, ps)
    assert [len(sets[s][0]) for s in ("train", "val", "test")] == [3, 2, 0]
    assert np.allclose(sets["train"][1][0], truth[int(train_ids[0]["index"])], atol=1e-4)  # 128 px -> 64 px
    assert sets["train"][0].shape == (3, ps.size, ps.size, 3) and sets["train"][0].dtype == np.uint8
    path.write_text("{}")
    with pytest.raises(ValueError, match="not the label stage's joints.json"):
        annotated_sets(path, ps)

    assert not np.isnan(sets["train"][1]).any() and not sets["train"][2].any()  # no visibility: all visible

    x, y = ps.split("train", "stick")
    cfg = smoke_params.pose.model_copy(update={"width": 4, "epochs": 1, "batch": 24, "kinds": ["stick"]})
    plain = pose_train.train_posenet({"stick": x}, y, cfg, ps.size, seed=3)
    again = pose_train.train_posenet({"stick": x}, y, cfg, ps.size, seed=3, annotated=(x[:0], y[:0]))
    with_labels = pose_train.train_posenet({"stick": x}, y, cfg, ps.size, seed=3, annotated=sets["train"])
    for a, b in zip(plain.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)  # no annotation: exactly the run it always was
    assert any(
        not torch.equal(a, b) for a, b in zip(plain.net.state_dict().values(), with_labels.net.state_dict().values())
    )
    assert "train_px_error_annotated" in with_labels.history[-1]


def test_annotated_visibility_reaches_training_and_scoring(smoke_params, tmp_path):
    """joints.json's visibility: an out-of-frame joint (null) becomes NaN, trains nothing and is not scored; an
    occluded one keeps its point and is scored apart as well; an item with every joint out is left out."""
    import json

    from models.pose.evaluate import labelled_figures
    from models.pose.labels import OCCLUDED, OUT_OF_FRAME, VISIBLE, annotated_sets
    from stages import render

    render.run(smoke_params, tmp_path / "render", workers=1)
    ps = PoseSet(tmp_path / "render")
    truth = np.asarray(ps.array("joints"))
    picked = [m for m in ps.meta if m["split"] == "train"][:4] + [m for m in ps.meta if m["split"] == "val"][:3]
    vis = ["visible"] * 11
    vis[2], vis[4] = "occluded", "out_of_frame"
    items = []
    for m in picked:
        joints = truth[int(m["index"])].reshape(-1).tolist()
        joints[8:10] = [None, None]
        items.append({"id": m["id"], "source": "label-studio", "size": [64, 64], "joints": joints, "visibility": vis})
    items[-1] = {**items[-1], "joints": [None] * 22, "visibility": ["out_of_frame"] * 11}  # nothing in frame
    path = tmp_path / "joints.json"
    path.write_text(json.dumps({"joints": [], "items": items}))
    sets = annotated_sets(path, ps)
    x, y, codes = sets["train"]
    assert len(x) == 4 and len(sets["val"][0]) == 2  # the all-out one left out
    assert np.isnan(y[:, 4]).all() and not np.isnan(np.delete(y, 4, axis=1)).any()
    assert (codes[:, 2] == OCCLUDED).all() and (codes[:, 4] == OUT_OF_FRAME).all() and (codes[:, 0] == VISIBLE).all()

    cfg = smoke_params.pose.model_copy(update={"width": 4, "epochs": 1, "batch": 24, "kinds": ["stick"]})
    xs, ys = ps.split("train", "stick")
    res = pose_train.train_posenet({"stick": xs}, ys, cfg, ps.size, seed=3, annotated=sets["train"])
    assert all(torch.isfinite(v).all() for v in res.net.state_dict().values() if v.is_floating_point())
    assert np.isfinite(res.history[-1]["train_px_error_annotated"])
    got = labelled_figures(res.net, [sets["val"], sets["test"]], ps.size, "annotated")
    pred = predict(res.net, sets["val"][0])
    in_frame = np.delete(np.arange(11), 4)
    assert got["annotated_scored"] == 2 and got["annotated_occluded_joints"] == 2
    assert got["pck_0_05_annotated"] == round(pck(pred[:, in_frame], sets["val"][1][:, in_frame], ps.size), 4)
    assert got["pck_0_05_annotated_occluded"] == round(pck(pred[:, 2:3], sets["val"][1][:, 2:3], ps.size), 4)
    plain = (sets["val"][0], np.nan_to_num(sets["val"][1]), np.zeros((2, 11), np.uint8))  # every joint visible
    assert "pck_0_05_annotated_occluded" not in labelled_figures(res.net, [plain], ps.size, "annotated")
    items[0]["visibility"] = ["seen"] * 11
    path.write_text(json.dumps({"joints": [], "items": items}))
    with pytest.raises(ValueError, match="visibility"):
        annotated_sets(path, ps)


def test_each_kind_trains_on_its_own_targets(smoke_params):
    """Targets per kind (the drawn kind's by the one-colour rule): the same training as shared targets when they
    agree, another when they differ; a kind without targets, or of another length, is refused."""
    from synth.pose.skeleton import canonical_left_right

    p = smoke_params.render.model_copy(update={"size": 32, "supersample": 2})
    data = [render_one(4, "val", i, p)[0] for i in range(24)]
    images = {"stick": np.stack([d["stick"] for d in data]), "drawn": np.stack([d["drawn"] for d in data])}
    y = np.stack([d["joints"] for d in data])
    cfg = smoke_params.pose.model_copy(update={"width": 4, "epochs": 1, "batch": 8, "max_minutes": 30})
    shared = pose_train.train_posenet(images, y, cfg, 32, seed=2).net.state_dict()
    per_kind = pose_train.train_posenet(images, {"stick": y, "drawn": y}, cfg, 32, seed=2).net.state_dict()
    assert all(torch.equal(shared[k], per_kind[k]) for k in shared)
    canon = pose_train.train_posenet(images, {"stick": y, "drawn": canonical_left_right(y)}, cfg, 32, seed=2)
    assert not all(torch.equal(shared[k], v) for k, v in canon.net.state_dict().items())
    with pytest.raises(ValueError, match="targets for kinds"):
        pose_train.train_posenet(images, {"stick": y}, cfg, 32, seed=2)
    with pytest.raises(ValueError, match="same"):
        pose_train.train_posenet(images, {"stick": y, "drawn": y[:-1]}, cfg, 32, seed=2)


def test_pose_level_retrieval_counts_a_reference_in_the_same_pose():
    """Exact top-1 asks for the query's own projection; the pose-level figure accepts any reference whose joints
    all lie within pck 0.05 of the query's pose (a copy from another camera), and says how far the reference is."""
    from models.pose.retrieval import RetrievalIndex, retrieval_pose, retrieval_top1

    size = 100
    pose_a = np.stack([np.linspace(10, 90, 11), np.linspace(20, 80, 11)], axis=1)
    pose_b = pose_a[::-1].copy()
    joints = np.stack([pose_a, pose_a + 2.0, pose_b])  # reference 1: pose a moved by 2 px (under 5 px)
    index = RetrievalIndex(np.eye(3, dtype=np.float32), ["a", "a-copy", "b"])
    queries = np.array([[0.1, 1.0, 0.0], [1.0, 0.0, 0.1]], dtype=np.float32)  # nearest: reference 1, then 0
    truth = np.stack([pose_a, pose_b])  # query 0 is pose a, query 1 is pose b
    assert retrieval_top1(index, queries, np.array([0, 2])) == 0.0
    got = retrieval_pose(index, queries, joints, truth, size)
    assert got["retrieval_pose_top1"] == 0.5  # query 0's reference is pose a; query 1 got pose a for pose b
    expected = (np.hypot(2.0, 2.0) + np.linalg.norm(pose_a - pose_b, axis=-1).mean()) / 2
    assert abs(got["retrieval_pose_error_px"] - expected) < 1e-5
