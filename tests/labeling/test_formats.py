"""Label Studio's export, cut down to what the `label` stage reads, in an order that does not depend on the server's."""

from __future__ import annotations

import json

import numpy as np

from labeling.formats import choice_results, keypoint_results, normalise_export


def _canonical(regions: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in regions)


def test_export_normalisation_is_stable_and_minimal():
    regions = keypoint_results(np.arange(22.0).reshape(11, 2), 64)
    noisy = [dict(r, id="xyz", origin="prediction", score=0.5) for r in regions]
    tasks = [
        {"id": 9, "data": {"ref_id": "b", "image": "/b.png"}, "annotations": [{"id": 3, "result": noisy[::-1]}]},
        {"id": 8, "data": {"ref_id": "c", "image": "/c.png"}, "annotations": []},  # nothing done: left out
        {
            "id": 7,
            "data": {"ref_id": "a", "image": "/a.png", "uncertainty": 0.3},
            "annotations": [
                {"id": 5, "completed_by": 2, "result": choice_results({"smile": "yes"}), "unique_id": "u5"},
                {
                    "id": 4,
                    "completed_by": 1,
                    "result": choice_results({"smile": "no"}),
                    "lead_time": 12.5,
                    "created_at": "2026-11-01T10:00:00.000001Z",
                    "updated_at": "2026-11-01T10:00:12.000001Z",
                },
                {"id": 6, "was_cancelled": True, "result": []},  # skipped by the annotator
            ],
        },
    ]
    authors = {1: "ann@example.com", 2: "bo@example.com"}
    out, problems = normalise_export(tasks, authors)
    assert not problems
    assert [t["ref_id"] for t in out] == ["a", "b"] and [a["id"] for a in out[0]["annotations"]] == [4, 5]
    assert out[0] == {  # the author by e-mail and the times: what a restore on another server brings back
        "ref_id": "a",
        "image": "/a.png",
        "data": {"uncertainty": 0.3},
        "annotations": [
            {
                "id": 4,
                "completed_by": "ann@example.com",
                "created_at": "2026-11-01T10:00:00.000001Z",
                "updated_at": "2026-11-01T10:00:12.000001Z",
                "lead_time": 12.5,
                "result": choice_results({"smile": "no"}),
            },
            {
                "id": 5,
                "completed_by": "bo@example.com",
                "created_at": None,
                "updated_at": None,
                "lead_time": None,
                "result": choice_results({"smile": "yes"}),
            },
        ],
    }
    assert _canonical(out[1]["annotations"][0]["result"]) == _canonical(regions)  # the extra fields are gone
    shuffled = [dict(t, annotations=t["annotations"][::-1]) for t in tasks[::-1]]
    assert json.dumps(normalise_export(shuffled, authors)[0]) == json.dumps(out)  # the same bytes in any order


def test_a_visibility_choice_keeps_the_region_ids_that_link_it_to_its_point():
    from labeling.labels import Parsed, parse_pose

    vis = ["visible"] * 11
    vis[3], vis[9] = "occluded", "out_of_frame"
    regions = keypoint_results(np.arange(22.0).reshape(11, 2), 64, vis)
    noisy = [dict(r, origin="manual", image_rotation=0) for r in regions]
    tasks = [{"id": 1, "data": {"ref_id": "a", "image": "/a.png"}, "annotations": [{"id": 2, "result": noisy}]}]
    out, problems = normalise_export(tasks)
    assert not problems and _canonical(out[0]["annotations"][0]["result"]) == _canonical(regions)
    parsed = Parsed()
    parse_pose(out, parsed)
    assert not parsed.problems and parsed.joints["a"][0].visibility == tuple(vis)


def test_a_restored_annotation_keeps_its_id_and_new_ones_never_meet_it():
    """Label Studio keeps an imported annotation's exported id as `import_id`; the server's own ids get the
    project's recorded offset, so a new annotation numbered 3 on the restored server is 3 + 40, not the restored 3."""
    tasks = [
        {
            "data": {"ref_id": "a", "image": "/a.png"},
            "annotations": [
                {"id": 1, "import_id": 3, "result": choice_results({"smile": "no"})},
                {"id": 3, "import_id": None, "result": choice_results({"smile": "yes"})},
            ],
        }
    ]
    out, problems = normalise_export(tasks, id_offset=40)
    assert not problems and [a["id"] for a in out[0]["annotations"]] == [3, 43]


def test_a_hostile_server_export_is_reported_not_crashed_on():
    """Every value a broken or hostile server could send: the task or annotation is left out with a problem row
    naming its task, and the rest is kept."""
    good = {"id": 1, "result": choice_results({"smile": "yes"})}
    tasks = [
        None,
        {"data": None, "annotations": [good]},
        {"data": {"ref_id": ["x"]}, "annotations": [good]},
        {"data": {"ref_id": "n1"}, "annotations": None},
        {"data": {"ref_id": "n2"}, "annotations": [None, {"id": "seven", "result": []}, {"id": 2, "result": None}]},
        {"data": {"ref_id": "inf"}, "annotations": [{"id": 3, "result": [{"value": {"x": float("inf")}}]}]},
        {"data": {"ref_id": "big"}, "annotations": [{"id": 10**400, "result": []}]},
        {"data": {"ref_id": "deep"}, "annotations": [{"id": 4, "result": [{"value": _nested(5000)}]}]},
        {"data": {"ref_id": 7, "image": 5, "kind": float("nan")}, "annotations": [dict(good, completed_by=[1])]},
        {"data": {"ref_id": "ok"}, "annotations": [good]},
    ]
    out, problems = normalise_export(tasks, {1: "ann@example.com"})
    assert [t["ref_id"] for t in out] == ["7", "ok"]
    assert out[0]["image"] is None and "data" not in out[0] and out[0]["annotations"][0]["completed_by"] is None
    assert [p["ref_id"] for p in problems] == [None, None, None, "n1", "n2", "n2", "n2", "inf", "big", "deep", "7"]
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # what is written is strict JSON
    assert normalise_export({"not": "a list"}, {})[0] == []


def _nested(depth: int):
    inner: list = []
    for _ in range(depth):
        inner = [inner]
    return inner
