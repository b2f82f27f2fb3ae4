"""Agreement per annotator (labeling/annotators.py) on constructed exports whose answers are known, and the `label`
stage writing it into report.json and the metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.names import ATTRIBUTES
from labeling.annotators import by_annotator
from labeling.formats import choice_results, keypoint_results
from labeling.labels import Parsed, PoseAnnotation, parse_pose, parse_tags
from synth.pose.skeleton import JOINTS

TRUTH = np.random.default_rng(3).uniform(5, 40, (11, 2))


def _task(ref: str, *annotations: tuple[int, str | None, list]) -> dict:
    return {
        "ref_id": ref,
        "image": f"/data/local-files/?d=labeling/x/{ref}.png",
        "annotations": [{"id": i, "completed_by": who, "result": r} for i, who, r in annotations],
    }


def _exports() -> tuple[list, list]:
    """Tags: Ann and Bo give the same answers, Cy differs on half the smiles; an unsigned annotation sides with the
    majority. Poses: Bo is (3, 4) px off Ann, Cy twice as far; Cy's single pose is shared with nobody."""
    smiles = {"ann": "yynn", "bo": "yynn", "cy": "ynny"}  # yes/no per task t0..t3
    base = {"ann": 10, "bo": 20, "cy": 30}  # ids: Ann's earliest, then Bo's: a tie among the others goes to Bo
    tags = []
    for t in range(4):
        anns = []
        for who, answers in smiles.items():
            values = {"smile": "yes" if answers[t] == "y" else "no"}
            if who != "cy" and t < 2:
                values["glasses"] = ("yes", "no")[t]
            anns.append((base[who] + t, f"{who}@example.com", choice_results(values)))
        if t == 0:
            anns.append((40, None, choice_results({"smile": "no"})))  # no author: one of the others for everyone
        tags.append(_task(f"t{t}", *anns))
    off = np.array([3.0, 4.0])
    pose = [
        _task(
            "p0",
            (1, "ann@example.com", keypoint_results(TRUTH, 64)),
            (2, "bo@example.com", keypoint_results(TRUTH + off, 64)),
        ),
        _task("p1", (3, "cy@example.com", keypoint_results(TRUTH, 64))),
        _task(
            "p2",
            (4, "ann@example.com", keypoint_results(TRUTH, 64)),
            (5, "bo@example.com", keypoint_results(TRUTH + off, 64)),
            (6, "cy@example.com", keypoint_results(TRUTH + 2 * off, 64)),
        ),
    ]
    return pose, tags


def _parsed() -> Parsed:
    pose, tags = _exports()
    parsed = Parsed()
    parse_pose(pose, parsed)
    parse_tags(tags, ATTRIBUTES, parsed)
    assert not parsed.problems
    return parsed


def test_each_annotator_against_the_consensus_of_the_others():
    team = by_annotator(_parsed(), ATTRIBUTES)
    assert list(team) == ["ann@example.com", "bo@example.com", "cy@example.com"]  # the unsigned one is nobody's
    ann, bo, cy = team.values()
    assert (ann["tag_annotations"], ann["pose_annotations"], cy["pose_annotations"]) == (4, 2, 2)
    assert ann["tag_tasks_shared"] == 4 and cy["pose_tasks_shared"] == 1  # p1 is Cy's alone
    # Ann: the others' consensus is Bo's answer every time (ties go to the earliest annotation, Bo's)
    assert ann["agreement_by_group"] == {"smile": 1.0, "glasses": 1.0} and ann["tag_agreement"] == 1.0
    assert ann["kappa_by_group"]["smile"] == 1.0 and ann["pairs_by_group"] == {"smile": 4, "glasses": 2}
    # Cy: half the smiles, no better than chance given how often each says yes
    assert cy["agreement_by_group"] == {"smile": 0.5} and cy["tag_agreement"] == 0.5
    assert cy["kappa_by_group"] == {"smile": 0.0}
    # poses: Ann is 5 px from Bo on p0 and 7.5 px from the median of Bo and Cy on p2; Bo is the median on p2
    assert ann["joint_distance_px_mean"] == pytest.approx(6.25, abs=1e-3)
    assert bo["joint_distance_px_mean"] == pytest.approx(2.5, abs=1e-3)
    assert cy["joint_distance_px_mean"] == pytest.approx(7.5, abs=1e-3)
    assert set(ann["joint_distance_px"]) == set(JOINTS)


def test_a_joint_out_of_frame_counts_for_nobody_and_a_lone_annotator_has_no_agreement():
    parsed = Parsed()
    gone = TRUTH.copy()
    gone[0] = np.nan  # Bo put the head out of frame
    parsed.joints["p"] = [PoseAnnotation(1, TRUTH, (64, 64)), PoseAnnotation(2, gone + [0.0, 2.0], (64, 64))]
    parsed.authors.update({("pose", "p", 1): "ann@example.com", ("pose", "p", 2): "bo@example.com"})
    parsed.tags["t"] = [(3, {"smile": "yes"})]
    parsed.authors[("tags", "t", 3)] = "cy@example.com"
    team = by_annotator(parsed, ATTRIBUTES)
    assert "head" not in team["ann@example.com"]["joint_distance_px"]
    assert team["ann@example.com"]["joint_distance_px_mean"] == pytest.approx(2.0)
    cy = team["cy@example.com"]
    assert cy["tag_annotations"] == 1 and cy["tag_tasks_shared"] == 0 and cy["tag_agreement"] is None
    assert cy["kappa_by_group"] == {} and cy["joint_distance_px_mean"] is None


def test_the_label_stage_reports_and_measures_each_annotator(smoke_params, tmp_path):
    from stages import label

    pose, tags = _exports()
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "pose.json").write_text(json.dumps(pose))
    (exports / "tags.json").write_text(json.dumps(tags))
    out = tmp_path / "label"
    m = label.run(smoke_params, exports, tmp_path / "no-ingest", tmp_path / "no-render", out)
    report = json.loads((out / "report.json").read_text())
    team = report["agreement"]["by_annotator"]
    assert team == by_annotator(_parsed(), ATTRIBUTES)
    assert m["annotators"]["cy@example.com"] == {
        "pose_annotations": 2,
        "tag_annotations": 4,
        "tag_agreement": 0.5,
        "kappa_by_group": {"smile": 0.0},
        "joint_distance_px_mean": pytest.approx(7.5, abs=1e-3),
    }
    assert m["annotators"]["ann@example.com"]["tag_agreement"] == 1.0
