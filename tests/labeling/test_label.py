"""The `label` stage: Label Studio exports -> tags.csv and joints.json, with problems reported and agreement."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.errors import BadInput
from core.names import ATTRIBUTES
from labeling.formats import choice_results, keypoint_results
from labeling.labels import Parsed, agreement, parse_pose, parse_tags
from synth.pose.skeleton import JOINTS


def _task(ref, *annotations):
    return {
        "ref_id": ref,
        "image": f"/data/local-files/?d=labeling/x/{ref}.png",
        "annotations": [{"id": i, "completed_by": 1 + i % 2, "result": r} for i, r in annotations],
    }


def test_percent_coordinates_round_trip_to_pixels():
    joints = np.random.default_rng(0).uniform(0, 63, (11, 2))
    parsed = Parsed()
    parse_pose([_task("a", (1, keypoint_results(joints, 64)))], parsed)
    assert not parsed.problems
    ((_, got, size, vis),) = parsed.joints["a"]
    assert size == (64, 64) and np.allclose(got, joints, atol=1e-9) and vis == ("visible",) * 11


def test_problems_are_reported_not_raised():
    good = np.full((11, 2), 30.0)
    res = keypoint_results(good, 64)
    missing = res[:-1]
    twice = res + [res[0]]
    outside = [dict(r, value=dict(r["value"], x=130.0)) if i == 3 else r for i, r in enumerate(res)]
    unknown = [
        dict(r, value=dict(r["value"], keypointlabels=["left_elbow"])) if i == 0 else r for i, r in enumerate(res)
    ]
    parsed = Parsed()
    parse_pose([_task("a", (1, missing), (2, twice), (3, outside), (4, unknown), (5, res))], parsed)
    problems = {p["annotation"]: p["problem"] for p in parsed.problems}
    assert "missing joints ['right_foot']" in problems[1] and "head placed twice" in problems[2]
    assert "outside the image" in problems[3] and "unknown joint label" in problems[4]
    assert [a.ann for a in parsed.joints["a"]] == [5]  # only the good one is kept
    tags = Parsed()
    bad_choice = [{"from_name": "smile", "to_name": "image", "type": "choices", "value": {"choices": ["grin"]}}]
    bad_group = [{"from_name": "nose", "to_name": "image", "type": "choices", "value": {"choices": ["yes"]}}]
    parse_tags([_task("b", (6, bad_choice), (7, bad_group), (8, choice_results({"smile": "yes"})))], ATTRIBUTES, tags)
    assert len(tags.problems) == 2 and tags.tags["b"] == [(8, {"smile": "yes"})]
    unsure = [{"from_name": "unsure", "to_name": "image", "type": "choices", "value": {"choices": ["unsure"]}}]
    parse_tags([_task("c", (9, choice_results({"smile": "no"}) + unsure))], ATTRIBUTES, tags)
    assert "c" not in tags.tags and tags.unsure == {"c"} and "unsure" in tags.problems[-1]["problem"]
    from labeling.disputes import disputed_refs

    assert disputed_refs(tags, 0.05)["tags"] == {"c": ["unsure"]}  # nobody sure yet: asked again
    parse_tags([_task("c", (10, choice_results({"smile": "no"})))], ATTRIBUTES, tags)
    assert tags.tags["c"] == [(10, {"smile": "no"})] and "c" not in disputed_refs(tags, 0.05)["tags"]


VIS = ["visible"] * 11


def _vis(**flags: str) -> list[str]:
    """Visibility per joint: visible but for the joints named."""
    return [flags.get(j, "visible") for j in JOINTS]


def test_visibility_occluded_out_of_frame_and_the_default():
    joints = np.random.default_rng(2).uniform(0, 63, (11, 2))
    vis = _vis(left_hand="occluded", right_foot="out_of_frame")
    res = keypoint_results(joints, 64, vis)
    assert [r["value"]["keypointlabels"][0] for r in res if r["type"] == "keypointlabels"] == list(JOINTS[:-1])
    parsed = Parsed()
    older = keypoint_results(joints, 64)  # an export from before the choice: no ids, no choices
    said_visible = res + [
        {**r, "from_name": "visibility", "type": "choices", "value": {**r["value"], "choices": ["visible"]}}
        for r in res
        if r["type"] == "keypointlabels" and r["value"]["keypointlabels"] == ["head"]
    ]
    parse_pose([_task("a", (1, res), (2, older), (3, said_visible))], parsed)
    assert not parsed.problems
    (one, two, three) = parsed.joints["a"]
    assert one.visibility == tuple(vis) and three.visibility == tuple(vis)
    assert two.visibility == tuple(VIS) and np.allclose(two.joints, joints, atol=1e-9)
    assert np.isnan(one.joints[-1]).all() and np.allclose(one.joints[:-1], joints[:-1], atol=1e-9)  # kept: occluded


def test_a_pre_filled_point_left_for_a_joint_ticked_out_of_frame_is_dropped():
    res = keypoint_results(np.full((11, 2), 20.0), 64)  # every point, as the pre-annotation leaves them
    ticked = {"from_name": "out_of_frame", "to_name": "image", "type": "choices", "value": {"choices": ["neck"]}}
    parsed = Parsed()
    parse_pose([_task("a", (1, [*res, ticked]))], parsed)
    assert not parsed.problems and parsed.joints["a"][0].visibility == tuple(_vis(neck="out_of_frame"))
    assert np.isnan(parsed.joints["a"][0].joints[1]).all()


def test_hostile_visibility_becomes_problem_rows_and_the_rest_is_kept():
    joints = np.full((11, 2), 30.0)
    res = keypoint_results(joints, 64, _vis(head="occluded"))
    seen = next(r for r in res if r["from_name"] == "visibility")
    rest = [r for r in res if r is not seen]
    ticked = {"from_name": "out_of_frame", "to_name": "image", "type": "choices", "value": {"choices": ["neck"]}}
    no_neck = [r for r in rest if r["value"].get("keypointlabels") != ["neck"]]
    cases = {
        1: [*rest, {**seen, "value": {**seen["value"], "choices": ["out_of_frame"]}}],  # not a point's to say
        2: [*rest, {**seen, "value": {"choices": "occluded"}}],  # not a list
        3: [*rest, {**seen, "id": "gone"}],  # for a region that is not there
        4: [*rest, {k: v for k, v in seen.items() if k != "id"}],  # for no region at all
        5: [*res, {**seen, "value": {**seen["value"], "choices": ["visible"]}}],  # given twice
        6: [*no_neck, {**ticked, "value": {"choices": ["elbow"]}}],  # an unknown joint out of frame
        7: [*no_neck, ticked, ticked],  # ticked twice
        8: [*rest, ticked, {**seen, "id": "neck-point"}],  # ticked out of frame, its point chosen occluded
        9: [dict(r, id="same") if r["type"] == "keypointlabels" else r for r in res],  # one id, two points
        10: [*no_neck, {**ticked, "value": {"choices": ["neck", "neck"]}}],
        11: no_neck,  # missing, neither placed nor ticked
        12: [{**ticked, "value": {"choices": list(JOINTS)}}],  # every joint out: no image size, nothing to learn
        13: [*no_neck, seen, ticked],  # the good one
    }
    parsed = Parsed()
    parse_pose([_task("v", *cases.items())], parsed)
    problems = {p["annotation"]: p["problem"] for p in parsed.problems}
    assert all(p["ref_id"] == "v" and p["project"] == "pose" for p in parsed.problems)
    assert set(problems) == set(range(1, 13))
    assert "unknown visibility" in problems[1] and "unknown visibility" in problems[2]
    assert "for no single joint's point" in problems[3] and "for no single joint's point" in problems[4]
    assert "head: visibility given twice" in problems[5] and "unknown joints" in problems[6]
    assert "out of frame given twice" in problems[7]
    assert "neck: ticked out of frame but its point says occluded" in problems[8]
    assert "for no single joint's point" in problems[9] and "ticked twice" in problems[10]
    assert "missing joints ['neck']" in problems[11] and "every joint out of frame" in problems[12]
    (good,) = parsed.joints["v"]
    assert good.ann == 13 and good.visibility == tuple(_vis(head="occluded", neck="out_of_frame"))


def test_consensus_and_disputes_over_visibility():
    from labeling.disputes import joints_disputed
    from labeling.labels import PoseAnnotation, consensus_joints

    rng = np.random.default_rng(3)
    base = rng.uniform(10, 50, (11, 2))
    size = (64, 64)

    def ann(i, shift=0.0, **flags):
        vis = _vis(**flags)
        pts = np.where(np.array(vis)[:, None] == "out_of_frame", np.nan, base + shift)
        return PoseAnnotation(i, pts, size, tuple(vis))

    plain = [ann(1), ann(2, 1.0), ann(3, 0.4)]
    joints, vis = consensus_joints(plain)
    assert np.array_equal(joints, np.median(np.stack([a.joints for a in plain]), axis=0)) and vis == tuple(VIS)
    three = [
        ann(1, left_hand="out_of_frame", neck="occluded", pelvis="occluded"),
        ann(2, 1.0, left_hand="out_of_frame"),
        ann(3, 0.4, neck="occluded"),
    ]
    joints, vis = consensus_joints(three)
    assert vis == tuple(_vis(left_hand="out_of_frame", neck="occluded"))  # 2 of 3 out, 2 of 3 occluded, 1 of 3 not
    assert np.isnan(joints[4]).all() and np.allclose(joints[1], base[1] + 0.4)
    assert joints_disputed(three, 0.05) == []  # a majority out of frame, a majority near
    two = [ann(1, left_hand="out_of_frame"), ann(2, 1.0)]
    assert joints_disputed(two, 0.05) == [4]  # placed against out of frame: a tie
    assert joints_disputed([*two, ann(3, 0.5)], 0.05) == []  # the third places it near: 2 of 3
    far = ann(3, 0.5)
    far.joints[4] += 12.0
    assert joints_disputed([*two, far], 0.05) == [4]  # placed twice, but 12 px apart: no majority near the median
    tie = [ann(1, neck="occluded"), ann(2)]
    assert joints_disputed(tie, 0.05) == []  # visible against occluded: no dispute
    assert consensus_joints(tie)[1] == tuple(_vis(neck="occluded"))  # half said occluded


def test_agreement_between_annotators():
    rng = np.random.default_rng(1)
    parsed = Parsed()
    tasks = []
    for i in range(20):
        j = rng.uniform(5, 55, (11, 2))
        tasks.append(
            _task(f"p{i}", (2 * i, keypoint_results(j, 64)), (2 * i + 1, keypoint_results(j + [2.0, 0.0], 64)))
        )
    parse_pose(tasks, parsed)
    a = rng.choice(["no", "yes"], 30)
    b = np.where(rng.random(30) < 0.8, a, rng.choice(["no", "yes"], 30))
    tag_tasks = [
        _task(f"t{i}", (100 + 2 * i, choice_results({"smile": a[i]})), (101 + 2 * i, choice_results({"smile": b[i]})))
        for i in range(30)
    ]
    parse_tags(tag_tasks, ATTRIBUTES, parsed)
    rep = agreement(parsed, ATTRIBUTES)
    assert rep["pose_tasks_with_several_annotators"] == 20
    assert all(v == pytest.approx(2.0, abs=1e-6) for v in rep["joint_disagreement_px"].values())
    from sklearn.metrics import cohen_kappa_score

    assert rep["kappa"]["smile"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)


def test_label_stage_on_exports(smoke_params, smoke_ingest, tmp_path):
    from dataset.shards import read_manifest
    from stages import label, render
    from synth.pose.poseset import PoseSet

    render.run(smoke_params, tmp_path / "render", workers=1)
    ps = PoseSet(tmp_path / "render")
    ref = ps.meta[3]["id"]
    truth = np.asarray(ps.array("joints"))[3]
    rows = read_manifest(smoke_ingest)
    img = rows[0]["id"]
    exports = tmp_path / "exports"
    exports.mkdir()
    far = truth.copy()
    far[5] += 12.0  # the right hand 12 px away: beyond 0.05 x 64 px
    ref2 = ps.meta[4]["id"]
    pose_tasks = [
        _task(ref, (1, keypoint_results(truth + 1.0, 64)), (2, keypoint_results(truth + 3.0, 64))),
        _task(ref2, (11, keypoint_results(truth, 64)), (12, keypoint_results(far, 64))),
    ]
    img2 = rows[1]["id"]
    tag_tasks = [
        _task(img, (3, choice_results({"smile": "yes", "hair_color": "blue"})), (4, choice_results({"smile": "yes"}))),
        _task(img2, (5, choice_results({"smile": "yes"})), (6, choice_results({"smile": "no"}))),  # a tie
    ]
    (exports / "pose.json").write_text(json.dumps(pose_tasks))
    (exports / "tags.json").write_text(json.dumps(tag_tasks))
    out = tmp_path / "label"
    m = label.run(smoke_params, exports, smoke_ingest, tmp_path / "render", out)
    assert m["joint_items"] == len(ps.meta) and m["joint_items_annotated"] == 1 and m["problems"] == 0
    doc = json.loads((out / "joints.json").read_text())
    assert doc["joints"] == list(JOINTS) and [i["id"] for i in doc["items"]] == sorted(i["id"] for i in doc["items"])
    item = next(i for i in doc["items"] if i["id"] == ref)
    assert item["source"] == "label-studio" and np.allclose(
        np.array(item["joints"]).reshape(11, 2), truth + 2.0, atol=1e-3
    )
    with open(out / "tags.csv", newline="") as f:
        tags = {r["id"]: r for r in csv.DictReader(f)}
    assert tags[img]["source"] == "label-studio" and tags[img]["smile"] == "yes" and tags[img]["hair_color"] == "blue"
    assert tags[img]["hair_length"] == rows[0]["hair_length"]  # a group no annotator gave keeps the source's value
    assert all(r["source"] == "generated" for k, r in tags.items() if k != img)
    assert tags[img2]["smile"] == rows[1]["smile"]  # disputed: out of the labels until resolved
    assert m["tag_tasks_disputed"] == 1 and m["pose_tasks_disputed"] == 1
    assert next(i for i in doc["items"] if i["id"] == ref2)["source"] == "render"
    report = json.loads((out / "report.json").read_text())
    assert report["disputed"] == {"tags": {img2: ["smile"]}, "pose": {ref2: ["right_hand"]}}
    # the head: 2.83 px apart in the first task, 0 in the second
    assert report["agreement"]["joint_disagreement_px"]["head"] == pytest.approx(np.sqrt(2), abs=1e-3)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    label.run(smoke_params, exports, smoke_ingest, tmp_path / "render", out)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == before  # stable, untouched

    (exports / "tags.json").write_text("{not json")
    with pytest.raises(BadInput, match="not a readable export"):
        label.run(smoke_params, exports, smoke_ingest, tmp_path / "render", out)


def test_a_hostile_export_becomes_problem_rows_and_the_rest_is_kept(smoke_params, smoke_ingest, tmp_path):
    """`1e309`, a 400-digit integer, null where an object or a list belongs, missing and mixed-type ids, a point far
    outside the image, unknown labels, a duplicated task: the `label` stage reads the file written as a hostile
    server or a bad hand edit would leave it, reports each with its task id, and keeps the good annotations."""
    from stages import label

    good = np.full((11, 2), 30.0)
    res = keypoint_results(good, 64)
    big = "1" + "0" * 400
    pose = [
        _task("p-good", (1, res)),
        _task("p-good", (1, res)),  # the same task twice: read once
        {"ref_id": "p-inf", "annotations": [{"id": 2, "result": [dict(res[0], original_width="W")] + res[1:]}]},
        {"ref_id": None, "annotations": [{"id": 3, "result": res}]},
        {"ref_id": "p-null", "annotations": None},
        {"ref_id": "p-nullann", "annotations": [None, {"id": None, "result": res}, {"id": 4, "result": None}]},
        {"ref_id": "p-far", "annotations": [{"id": 5, "result": [dict(res[0], value=dict(res[0]["value"], x=1e12))]}]},
        {"ref_id": "p-value", "annotations": [{"id": 6, "result": [dict(res[0], value=None), *res[1:]]}]},
        {"ref_id": "p-label", "annotations": [{"id": 7, "result": [dict(res[0], value={"keypointlabels": 3})]}]},
        {"ref_id": 12, "annotations": [{"id": "8", "result": res}]},  # an int task id, a string annotation id: fine
        "not a task",
    ]
    text = json.dumps(pose)
    text = text.replace('"W"', "1e309").replace('"x": 1000000000000.0', f'"x": {big}')
    tags = [
        _task("t-good", (20, choice_results({"smile": "yes"}))),
        {"ref_id": "t-bad", "annotations": [{"id": 21, "result": [{"type": "choices", "from_name": ["smile"]}]}]},
        {
            "ref_id": "t-val",
            "annotations": [{"id": 22, "result": [{"type": "choices", "from_name": "smile", "value": [1]}]}],
        },
        {"ref_id": "t-unk", "annotations": [{"id": 23, "result": choice_results({"smile": "grin"})}]},
        {"ref_id": ["t"], "annotations": []},
    ]
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "pose.json").write_text(text)
    (exports / "tags.json").write_text(json.dumps(tags))
    out = tmp_path / "label"
    m = label.run(smoke_params, exports, smoke_ingest, tmp_path / "none", out)
    report = json.loads((out / "report.json").read_text())
    rows = {(p["project"], p["ref_id"]) for p in report["problems"]}
    assert {
        ("pose", "p-good"),
        ("pose", "p-inf"),
        ("pose", None),
        ("pose", "p-null"),
        ("pose", "p-nullann"),
        ("pose", "p-far"),
        ("pose", "p-value"),
        ("pose", "p-label"),
        ("tags", "t-bad"),
        ("tags", "t-val"),
        ("tags", "t-unk"),
        ("tags", None),
    } == rows
    assert m["problems"] == len(report["problems"]) and m["joint_items_annotated"] == 2  # p-good and 12
    assert m["tag_rows_annotated"] == 1
    doc = json.loads((out / "joints.json").read_text())
    assert {i["id"] for i in doc["items"]} == {"p-good", "12"}
    (exports / "tags.json").write_text(json.dumps({"tasks": None}))  # not a list at all: one row, nothing kept
    m = label.run(smoke_params, exports, smoke_ingest, tmp_path / "none", out)
    assert m["tag_rows_annotated"] == 0 and any(
        p["ref_id"] is None for p in json.loads((out / "report.json").read_text())["problems"]
    )
