"""The pose world: the skeleton and its left/right rule, the OpenCV renderer, the render stage's sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth.pose import figure as posegen
from synth.pose import skeleton
from synth.pose.poseset import PoseSet, render_one


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


def test_projection_is_thresholded_into_tones_then_blurred(smoke_params, monkeypatch):
    """Without the blur and the downsampling the projection holds at most four levels (background and three cel
    tones from cv2.threshold); with the blur, soft edges add many more. Continuous shading would fail the first."""
    p = smoke_params.render
    blurred = render_one(2, "val", 0, p)[0]["projection"]
    monkeypatch.setattr(posegen.cv2, "GaussianBlur", lambda img, ksize, sigma: img)
    monkeypatch.setattr(posegen, "_downsample", lambda img, size: img)
    sharp = render_one(2, "val", 0, p)[0]["projection"]
    assert sharp.shape == (p.size * p.supersample,) * 2
    assert 3 <= len(np.unique(sharp)) <= 4
    assert len(np.unique(blurred)) > 8


def test_render_stage_writes_the_sets(smoke_params, tmp_path):
    from stages import render

    m = render.run(smoke_params, tmp_path / "render", workers=2)
    ps = PoseSet(tmp_path / "render")
    n = sum(m["poses_by_split"].values())
    assert m["poses"] == n and sum(m["poses_by_family"].values()) == n
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
