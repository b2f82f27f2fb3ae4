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
    assert len(ps.meta) == n and m["images"] == len(posegen.KINDS) * n
    assert ps.array("stick").shape == (n, ps.size, ps.size, 3) and ps.array("joints").shape == (n, 11, 2)
    assert [r["split"] for r in ps.meta] == sorted((r["split"] for r in ps.meta), key=["train", "val", "test"].index)
    x, y = ps.split("val", "sketch")
    assert x.shape == (smoke_params.render.count.val, ps.size, ps.size, 3) and y.shape[1:] == (11, 2)
    info = json.loads((tmp_path / "render" / "info.json").read_text())
    assert info["joints"] == list(skeleton.JOINTS) and "character's own left" in info["left_right"]
    # the drawn kind: RGB, every split, its truth by the one-colour rule
    assert ps.array("drawn").shape == (n, ps.size, ps.size, 3)
    xd, yd = ps.split("test", "drawn")
    _, ys = ps.split("test", "stick")
    assert np.array_equal(yd, skeleton.canonical_left_right(ys)) and not np.array_equal(yd, ys)
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


def _ink_colours(img: np.ndarray) -> np.ndarray:
    """The colours of an image's darkest pixels (its strokes' cores), as int RGB [K, 3]."""
    grey = img.astype(int).sum(axis=2)
    return img[grey <= np.percentile(grey, 1)].astype(int)


def test_drawn_figures_are_one_colour_without_dots_deterministic_and_inside(smoke_params):

    p = smoke_params.render
    a, _ = render_one(7, "val", 3, p)
    b, _ = render_one(7, "val", 3, p)
    assert np.array_equal(a["drawn"], b["drawn"]) and a["drawn"].shape == (p.size, p.size, 3)
    assert not np.array_equal(a["drawn"], render_one(7, "val", 4, p)[0]["drawn"])
    # the drawn kind has generators of its own: another style for it changes none of the other kinds
    wild = p.drawn.held_out.model_copy(update={"wobble": 3.0, "elbows": 1.0})
    other = p.model_copy(update={"drawn": p.drawn.model_copy(update={"held_out": wild})})
    c, _ = render_one(7, "val", 3, other)
    assert not np.array_equal(a["drawn"], c["drawn"])
    assert all(np.array_equal(a[k], c[k]) for k in ("stick", "projection", "sketch", "joints"))
    for i in range(40):
        out, _ = render_one(5, "test", i, p)
        img, j = out["drawn"], out["joints"]
        assert (j >= 0).all() and (j <= p.size - 1).all()
        # one ink colour: the strokes' cores agree in hue (a coloured stick figure has ten colours)
        ink = _ink_colours(img)
        assert np.ptp(ink - ink.mean(axis=1, keepdims=True), axis=0).max() < 60, ink
        # the strokes pass near every joint but the head (the circle's centre) ...
        bg = np.median(np.concatenate([img[0], img[-1]]), axis=0)
        dark = np.abs(img.astype(int) - bg).sum(axis=2) > 60
        ys, xs = np.nonzero(dark)
        for k, name in enumerate(skeleton.JOINTS):
            if name != "head":
                assert np.hypot(xs - j[k, 0], ys - j[k, 1]).min() < 3.5, (i, name)
    # no joint dots: with steady strokes (no wobble, no elbows), the ink around a hand or a foot (a stroke's end)
    # weighs clearly less than around the middle of the same limb (measured: 0.74 of it); dots as the stick kind
    # draws them (radius 0.5-0.9 of the stroke width) weigh 0.77-1.03 of it
    steady_style = p.drawn.held_out.model_copy(update={"wobble": 0.0, "ends": 0.0, "elbows": 0.0})
    steady = p.model_copy(update={"drawn": p.drawn.model_copy(update={"held_out": steady_style})})
    yy, xx = np.mgrid[: p.size, : p.size]
    ends, middles = [], []
    for i in range(30):
        out, _ = render_one(5, "test", i, steady)
        img = out["drawn"].astype(float).mean(axis=2)
        bg, ink = np.median(img), img.min()
        alpha = np.clip((bg - img) / max(bg - ink, 1e-6), 0, 1)
        j = out["joints"]
        for root, end in (("left_shoulder", "left_hand"), ("right_shoulder", "right_hand"),
                          ("left_knee", "left_foot"), ("right_knee", "right_foot")):  # fmt: skip
            a_, b_ = j[skeleton.J[root]], j[skeleton.J[end]]
            if np.linalg.norm(b_ - a_) < 8:
                continue
            for (x, y), into in ((b_, ends), ((a_ + b_) / 2, middles)):
                into.append(alpha[(xx - x) ** 2 + (yy - y) ** 2 <= 2.0**2].mean())
    assert len(ends) > 60 and np.mean(ends) < 0.85 * np.mean(middles), (np.mean(ends), np.mean(middles))


def test_one_colour_rule_labels_by_where_shoulders_and_knees_lie():
    j = np.zeros((2, 11, 2), np.float32)
    J = skeleton.J
    # figure 0 faces the viewer (its left on the image's right); figure 1 is seen from the back, legs crossed
    for k, (ls, rs, lk, rk) in enumerate(((40, 24, 36, 28), (24, 40, 27, 37))):
        j[k, J["left_shoulder"]], j[k, J["right_shoulder"]] = (ls, 20), (rs, 20)
        j[k, J["left_hand"]], j[k, J["right_hand"]] = (ls + 1, 34), (rs - 1, 30)
        j[k, J["left_knee"]], j[k, J["right_knee"]] = (lk, 46), (rk, 45)
        j[k, J["left_foot"]], j[k, J["right_foot"]] = (lk, 58), (rk, 57)
    c = skeleton.canonical_left_right(j)
    assert np.array_equal(c[0], j[0])  # already canonical: unchanged
    for a, b in (("left", "right"), ("right", "left")):  # from the back: both pairs swap, each limb whole
        for part in ("shoulder", "hand", "knee", "foot"):
            assert np.array_equal(c[1, J[f"{a}_{part}"]], j[1, J[f"{b}_{part}"]])
    assert c[1, J["left_shoulder"], 0] > c[1, J["right_shoulder"], 0]
    assert c[1, J["left_knee"], 0] > c[1, J["right_knee"], 0]
    for name in ("head", "neck", "pelvis"):
        assert np.array_equal(c[:, J[name]], j[:, J[name]])
    assert np.array_equal(skeleton.canonical_left_right(c), c)  # idempotent
    # arms and legs are decided apart: only the legs crossed
    legs = j[0].copy()
    legs[[J["left_knee"], J["right_knee"]]] = legs[[J["right_knee"], J["left_knee"]]]
    got = skeleton.canonical_left_right(legs)
    assert np.array_equal(got[J["left_hand"]], legs[J["left_hand"]])
    assert np.array_equal(got[J["left_knee"]], legs[J["right_knee"]])
    assert np.array_equal(got[J["left_foot"]], legs[J["right_foot"]])
