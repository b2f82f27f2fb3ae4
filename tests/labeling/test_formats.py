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
                {"id": 5, "completed_by": 2, "result": choice_results({"smile": "yes"})},
                {"id": 4, "completed_by": 1, "result": choice_results({"smile": "no"}), "lead_time": 12.5},
                {"id": 6, "was_cancelled": True, "result": []},  # skipped by the annotator
            ],
        },
    ]
    out = normalise_export(tasks)
    assert [t["ref_id"] for t in out] == ["a", "b"] and [a["id"] for a in out[0]["annotations"]] == [4, 5]
    assert out[0] == {
        "ref_id": "a",
        "image": "/a.png",
        "annotations": [
            {"id": 4, "completed_by": 1, "result": choice_results({"smile": "no"})},
            {"id": 5, "completed_by": 2, "result": choice_results({"smile": "yes"})},
        ],
    }
    assert _canonical(out[1]["annotations"][0]["result"]) == _canonical(regions)  # the extra fields are gone
    shuffled = [dict(t, annotations=t["annotations"][::-1]) for t in tasks[::-1]]
    assert json.dumps(normalise_export(shuffled)) == json.dumps(out)  # the same bytes whatever the server's order
