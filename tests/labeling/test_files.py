"""labeling/files.py, the content of the label stage's files, on a Parsed export built by hand (the stage end to
end on real exports: tests/labeling/test_label.py)."""

from __future__ import annotations

import json

import numpy as np

from core.names import JOINTS
from labeling.files import figures, joint_items, joints_json, report_json, tag_rows, tags_csv
from labeling.labels import Parsed, PoseAnnotation, agreement

GROUPS = {"smile": ("yes", "no"), "glasses": ("yes", "no")}


def _parsed() -> Parsed:
    p = Parsed()
    p.tags["b"] = [(1, {"smile": "yes"}), (2, {"smile": "yes", "glasses": "no"})]
    p.tags["a"] = [(1, {"smile": "no"}), (2, {"smile": "yes"})]  # disputed below
    p.joints["p1"] = [PoseAnnotation(1, np.full((len(JOINTS), 2), 1.00049), (64, 48))]
    p.joints["p2"] = [PoseAnnotation(1, np.zeros((len(JOINTS), 2)), (64, 64))]  # disputed below
    p.problems.append({"project": "tags", "ref_id": "x", "annotation": 3, "problem": "an unknown choice"})
    return p


DISPUTED = {"tags": {"a": ["smile"]}, "pose": {"p2": [0]}}


def test_tags_without_ingest_are_the_undisputed_consensus(tmp_path):
    rows = tag_rows(_parsed(), DISPUTED, tmp_path / "no-ingest")
    assert rows == {"b": {"smile": "yes", "glasses": "no", "source": "label-studio"}}
    assert tags_csv(rows, GROUPS) == "id,source,smile,glasses\nb,label-studio,yes,no\n"
    rows["0"] = {"source": "generated", "smile": "no"}
    assert tags_csv(rows, GROUPS).splitlines()[1] == "0,generated,no,"  # sorted by id, empty where unknown


def test_joints_without_render_are_the_undisputed_consensus(tmp_path):
    items = joint_items(_parsed(), DISPUTED, tmp_path / "no-render")
    assert list(items) == ["p1"] and items["p1"]["size"] == [64, 48] and items["p1"]["source"] == "label-studio"
    text = joints_json(items)
    doc = json.loads(text)
    assert text.endswith("\n") and ", " not in text and doc["joints"] == list(JOINTS)
    assert doc["items"][0]["id"] == "p1" and doc["items"][0]["joints"] == [1.0] * (2 * len(JOINTS))
    assert "visibility" not in doc["items"][0]  # all visible: the file as it always was


def test_an_occluded_or_out_of_frame_joint_is_written_with_its_visibility(tmp_path):
    parsed = _parsed()
    vis = ["visible"] * len(JOINTS)
    vis[2], vis[4] = "occluded", "out_of_frame"
    pts = np.full((len(JOINTS), 2), 7.0)
    pts[4] = np.nan
    parsed.joints["p3"] = [PoseAnnotation(1, pts, (64, 64), tuple(vis))]
    items = joint_items(parsed, DISPUTED, tmp_path / "no-render")
    doc = json.loads(joints_json(items))
    item = next(i for i in doc["items"] if i["id"] == "p3")
    assert item["visibility"] == vis and item["joints"][8:10] == [None, None] and item["joints"][4:6] == [7.0, 7.0]
    m = figures({}, items, parsed, DISPUTED, agreement(parsed, GROUPS))
    assert m["annotated_joints_by_visibility"] == {"visible": 20, "occluded": 1, "out_of_frame": 1}


def test_report_and_figures():
    parsed = _parsed()
    agree = agreement(parsed, GROUPS)
    report = json.loads(report_json(parsed, agree, DISPUTED))
    assert report["disputed"] == {"tags": {"a": ["smile"]}, "pose": {"p2": [JOINTS[0]]}}
    assert report["problems"] == parsed.problems and report["agreement"] == agree
    rows = {"b": {"source": "label-studio"}, "c": {"source": "generated"}}
    m = figures(rows, {"p1": {}}, parsed, DISPUTED, agree)
    assert m["tag_rows"] == 2 and m["tag_rows_annotated"] == 1 and m["joint_items"] == 1
    assert m["joint_items_annotated"] == 1 and m["tag_tasks_disputed"] == 1 and m["pose_tasks_disputed"] == 1
    assert m["problems"] == 1 and m["joint_disagreement_px_mean"] is None and m["kappa_by_group"] == agree["kappa"]
    assert m["annotated_joints_by_visibility"] == {"visible": 0, "occluded": 0, "out_of_frame": 0}  # p1: no source
