"""The committed exports as the record: what a server lacks, changed or added, and a merge that keeps the record's
entries (their times too) for unchanged annotations."""

from __future__ import annotations

import json

import pytest

from core.errors import BadInput
from labeling import record
from labeling.formats import choice_results


def _ann(i: int, smile: str, updated: str = "2026-11-01T10:00:00+00:00", by: str = "ann@example.com") -> dict:
    return {
        "id": i,
        "completed_by": by,
        "created_at": "2026-11-01T09:00:00+00:00",
        "updated_at": updated,
        "lead_time": 3.0,
        "result": choice_results({"smile": smile}),
    }


def _task(ref: str, *anns: dict) -> dict:
    return {"ref_id": ref, "image": f"/data/local-files/?d=labeling/tags/{ref}.png", "annotations": list(anns)}


def test_what_a_server_lacks_changes_or_adds():
    old = [_task("a", _ann(1, "yes")), _task("b", _ann(2, "no")), _task("c", _ann(3, "no"))]
    new = [
        _task("a", _ann(1, "yes")),
        _task("b", _ann(2, "yes", updated="2026-11-02T10:00:00+00:00")),  # edited later: an update
        _task("c", _ann(3, "yes")),  # other content, no later time: another server's annotation 3
        _task("d", _ann(4, "yes")),
    ]
    cmp = record.compare(old, new)
    assert cmp.updated == [("b", 2)] and cmp.conflicts == [("c", 3)] and cmp.added == [("d", 4)]
    assert cmp.missing == [] and cmp.loses
    cmp = record.compare(old, new[:1])
    assert cmp.missing == [("b", 2), ("c", 3)] and cmp.server_tasks < cmp.recorded_tasks and cmp.loses
    assert not record.compare(old, old + [_task("d", _ann(4, "no"))]).loses
    # a server that re-stamped the times (a restore) but holds the same content loses nothing
    stamped = [
        _task(t["ref_id"], *({**a, "created_at": "2026-12-01T00:00:00+00:00"} for a in t["annotations"])) for t in old
    ]
    assert not record.compare(old, stamped).loses


def test_merge_keeps_the_records_entries_for_unchanged_work():
    old = [_task("a", _ann(1, "yes")), _task("b", _ann(2, "no"))]
    restamp = {"created_at": "2026-12-01T00:00:00+00:00", "updated_at": "2026-12-01T00:00:00+00:00", "lead_time": 9.0}
    new = [
        _task("a", {**_ann(1, "yes"), **restamp}),
        _task("b", {**_ann(2, "yes"), **restamp, "updated_at": "2026-12-02T00:00:00+00:00"}),
        _task("c", _ann(7, "no")),
    ]
    merged = record.merge(old, new)
    assert merged[0] == old[0]  # the original times and lead time, byte for byte
    b = merged[1]["annotations"][0]
    assert b["created_at"] == "2026-11-01T09:00:00+00:00" and b["updated_at"] == "2026-12-02T00:00:00+00:00"
    assert b["result"] == choice_results({"smile": "yes"}) and merged[2] == new[2]
    assert record.export_text(record.merge(old, old)) == record.export_text(old)


def test_project_record_round_trip_and_bad_files(tmp_path):
    path = tmp_path / "projects.json"
    assert record.read_projects(path) == {}
    recs = {"tags": record.ProjectRecord(4, "2026-11-26T04:19:30+00:00", 40), "pose": record.ProjectRecord(3, "x")}
    assert record.write_projects(recs, path) and not record.write_projects(recs, path)  # unchanged: not rewritten
    assert record.read_projects(path) == recs and list(json.loads(path.read_text())) == ["pose", "tags"]
    path.write_text('{"pose": {"id": 1}}')
    with pytest.raises(BadInput, match="not a readable project record"):
        record.read_projects(path)
    (tmp_path / "tags.json").write_text("[{")
    with pytest.raises(BadInput, match="not a readable export"):
        record.read_exports("tags", tmp_path)
