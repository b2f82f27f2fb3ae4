"""Label Studio's result formats, written by the push (pre-annotations) and read back from its exports.

A keypoint is stored in percent of the image: a joint at pixel x (centres at integers) is at 100 * (x + 0.5) / width
percent; labeling/labels.py parses it back, with the visibility chosen on a point (a result of the same region
`id`). An export is cut down (`normalise_export`) to what the `label` stage
reads, in a stable order, so that unchanged annotations give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from core.names import JOINTS
from labeling import configs
from labeling.labels import OUT_OF_FRAME, VISIBLE, export_id, finite_number, id_order


def keypoint_results(joints: np.ndarray, size: int, visibility: Sequence[str] | None = None) -> list[dict]:
    """11 joints [11, 2] in pixels (centres at integers) -> Label Studio keypoint regions (percent of the image).

    With `visibility` (per joint, a value of core/names.VISIBILITY) the result is what an annotator's choices
    make: each point gets a region id, an occluded one a per-region `visibility` choice under that id, and the
    joints out of frame no point but one task-level `out_of_frame` tick; without it, the points alone."""
    joints = np.asarray(joints)
    assert joints.shape == (len(JOINTS), 2), joints.shape
    vis = list(visibility) if visibility is not None else [VISIBLE] * len(JOINTS)
    out, outside = [], []
    for name, (x, y), v in zip(JOINTS, joints, vis):
        if v == OUT_OF_FRAME:
            outside.append(name)
            continue
        point = {"x": float((x + 0.5) / size * 100), "y": float((y + 0.5) / size * 100), "width": 0.75}
        region = {"from_name": configs.POSE_CONTROL, "to_name": configs.POSE_IMAGE, "type": "keypointlabels"}
        region |= {"original_width": size, "original_height": size, "value": {**point, "keypointlabels": [name]}}
        if visibility is not None:
            region["id"] = f"{name}-point"
        out.append(region)
        if v != VISIBLE:  # as Label Studio writes a per-region choice: the point's id and place
            out.append({**region, "from_name": configs.VISIBILITY_CONTROL, "type": "choices"})
            out[-1]["value"] = {**point, "choices": [v]}
    if outside:
        out.append(_task_choice(configs.OUT_OF_FRAME_CONTROL, configs.POSE_IMAGE, outside))
    return out


def _task_choice(control: str, image: str, values: list[str]) -> dict:
    return {"from_name": control, "to_name": image, "type": "choices", "value": {"choices": values}}


def choice_results(values: dict[str, str]) -> list[dict]:
    """{group: value} -> one single-choice region per group that has a value."""
    return [_task_choice(g, configs.TAG_IMAGE, [v]) for g, v in values.items() if v]


def _clean_result(r: dict, keep_id: bool) -> dict:
    keep = ("from_name", "to_name", "type", "value", "original_width", "original_height") + (("id",) if keep_id else ())
    return {k: r[k] for k in keep if k in r}


def _linked(result: list[dict]) -> bool:
    """Whether the annotation has a per-region choice (a joint's visibility), which names its point by the region
    `id`: only then are the ids kept, so that annotations without one keep the bytes they always had."""
    return any(r.get("from_name") == configs.VISIBILITY_CONTROL for r in result)


def _author(value, authors: dict[int, str]) -> str | None:
    """An annotator by e-mail (what survives a move to another server): from the id, or an expanded user object."""
    if isinstance(value, dict):
        value = value.get("email", value.get("id"))
    if isinstance(value, int) and not isinstance(value, bool):
        return authors.get(value)
    return value if isinstance(value, str) and "@" in value and len(value) <= 254 else None


def _time(value) -> str | None:
    return value if isinstance(value, str) and len(value) <= 40 else None


def _lead_time(value) -> float | None:
    x = finite_number(value)
    return None if x is None else round(x, 3)


def annotation_key(a: dict, id_offset: int = 0) -> int | None:
    """The id an annotation keeps in the exports, whichever server holds it: Label Studio's `import_id` for one that
    `labeling.sync restore` brought back (its id in the exports), else the server's id plus the project's recorded
    offset (so that a restored server's new ids never meet the restored ones)."""

    imported = export_id(a.get("import_id"))
    if isinstance(imported, int):
        return imported
    own = export_id(a.get("id"))
    return own + id_offset if isinstance(own, int) else None


def normalise_export(tasks, authors: dict[int, str] | None = None, id_offset: int = 0) -> tuple[list[dict], list[dict]]:
    """(tasks, problems): only what the label stage and a restore read, in a stable order (tasks by ref_id then
    their first annotation, annotations by id, regions by content), and every task or annotation that could not be
    read, as problem rows. The server is not trusted: a task without an id, an annotation whose result is not a
    list of objects or holds a number JSON cannot carry (`1e309`) is left out and reported.

    A task keeps its `data` (but the image and ref_id, on top) so that a restore can recreate it; an annotation
    keeps its author's e-mail (`authors`: user id -> e-mail), its times and lead time. Cancelled (skipped)
    annotations and tasks without an annotation are left out.
    """
    authors = authors or {}
    problems: list[dict] = []

    def problem(ref, ann, what: str) -> None:
        problems.append({"ref_id": ref, "annotation": ann, "problem": what})

    if not isinstance(tasks, list):
        problem(None, None, f"the export is a {type(tasks).__name__}, not a list of tasks")
        return [], problems
    out = []
    for n, t in enumerate(tasks):
        data = t.get("data") if isinstance(t, dict) else None
        ref = export_id(data.get("ref_id")) if isinstance(data, dict) else None
        if ref is None:
            problem(None, None, f"task #{n} has no data with a usable ref_id")
            continue
        ref = str(ref)
        anns_in = t.get("annotations")
        if not isinstance(anns_in, list):
            problem(ref, None, f"annotations is {type(anns_in).__name__}, not a list")
            continue
        anns = []
        for a in anns_in:
            if not isinstance(a, dict):
                problem(ref, None, "an annotation that is not an object")
                continue
            if a.get("was_cancelled") is True:
                continue
            key = annotation_key(a, id_offset)
            result = a.get("result")
            if key is None:
                problem(ref, None, f"an annotation without an integer id ({a.get('id')!r:.40})")
                continue
            if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
                problem(ref, key, "result is not a list of regions")
                continue
            try:
                linked = _linked(result)
                result = sorted(
                    (_clean_result(r, linked) for r in result),
                    key=lambda r: json.dumps(r, sort_keys=True, allow_nan=False),
                )
            except (TypeError, ValueError, RecursionError) as err:
                problem(ref, key, f"a region JSON cannot carry ({err})")
                continue
            anns.append(
                {
                    "id": key,
                    "completed_by": _author(a.get("completed_by"), authors),
                    "created_at": _time(a.get("created_at")),
                    "updated_at": _time(a.get("updated_at")),
                    "lead_time": _lead_time(a.get("lead_time")),
                    "result": result,
                }
            )
        if anns:
            rest = {k: v for k, v in data.items() if k not in ("ref_id", "image")}
            try:
                json.dumps(rest, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                problem(ref, None, "task data JSON cannot carry: kept without it")
                rest = {}
            image = data.get("image")
            entry = {"ref_id": ref, "image": image if isinstance(image, str) else None}
            if rest:
                entry["data"] = rest
            entry["annotations"] = sorted(anns, key=lambda a: id_order(a["id"]))
            out.append(entry)
    return sorted(out, key=lambda t: (t["ref_id"], id_order(t["annotations"][0]["id"]))), problems
