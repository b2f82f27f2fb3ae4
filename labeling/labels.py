"""From Label Studio exports (labeling/exports/*.json, as labeling.sync writes them) to label records, with checks.

Keypoints: Label Studio stores percent of the image; a joint at pixel x (centres at integers) is at
100 * (x + 0.5) / width percent, so x = percent / 100 * width - 0.5. A pose annotation becomes 22 numbers in the
order of dataset/skeleton.JOINTS and a visibility per joint (core/names.VISIBILITY):

- a point with no `visibility` choice is visible; its choice (a per-region result under the point's region `id`)
  may say occluded: the point is the annotator's estimate, kept;
- a joint ticked under `out_of_frame` has no coordinates (NaN); a tick wins over a point left with no choice (a
  pre-filled guess), and contradicts one chosen visible or occluded (a problem);
- exports from before the choice existed have neither: every joint visible, as they always parsed.

An export is untrusted input (a hand-edited file, a hostile or broken server): every field is checked for its type
and range before it is used, so no value crashes the parse (`1e309`, a 400-digit integer, `null` where an object or
a list belongs, a missing or mixed-type id, a point far outside the image, an unknown label, a task given twice).
Each problem is collected, never raised: the task or annotation it concerns is left out, the report names the task
(its `ref_id`), the annotation and what was wrong, and the rest is kept.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from core.names import VISIBILITY
from labeling.configs import OUT_OF_FRAME_CONTROL, POINT_VISIBILITY, VISIBILITY_CONTROL
from synth.pose.skeleton import JOINTS

MAX_IMAGE_SIDE = 1 << 16  # pixels: an `original_width` beyond this is not an image this project labels
VISIBLE, OCCLUDED, OUT_OF_FRAME = VISIBILITY


@dataclass
class Parsed:
    joints: dict[str, list[PoseAnnotation]] = field(default_factory=dict)  # ref -> [(ann, [11,2], (w,h), visibility)]
    tags: dict[str, list[tuple[int | str, dict[str, str]]]] = field(
        default_factory=dict
    )  # ref -> [(ann, {group: value})]
    problems: list[dict] = field(default_factory=list)
    seen: set[tuple[str, str, int | str]] = field(default_factory=set)  # (project, ref, ann) already read
    unsure: set[str] = field(default_factory=set)  # tags refs with an annotation whose annotator ticked `unsure`
    authors: dict[tuple[str, str, int | str], str] = field(default_factory=dict)  # (project, ref, ann) -> e-mail


def _problem(out: Parsed, kind: str, ref, ann, what: str) -> None:
    out.problems.append({"project": kind, "ref_id": ref, "annotation": ann, "problem": what})


def export_id(value) -> int | str | None:
    """An id as an export may carry it: an int or a non-empty string (not a bool, a float, null or a container)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 1 << 63 else None
    if isinstance(value, str) and 0 < len(value) <= 256:
        return value
    return None


def id_order(ann_id: int | str) -> tuple[int, int | str]:
    """A sort key over ids of mixed types (ints first): ties go to the earliest annotation."""
    return (0, ann_id) if isinstance(ann_id, int) else (1, ann_id)


def finite_number(value) -> float | None:
    """A finite float from a JSON number (not a bool, not a string); None for anything else, inf and 400 digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        x = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return x if math.isfinite(x) else None


def annotations(tasks, kind: str, out: Parsed):
    """(ref, annotation id, its result list) for every well-formed annotation; problems for the rest."""
    if not isinstance(tasks, list):
        _problem(out, kind, None, None, f"the export is a {type(tasks).__name__}, not a list of tasks")
        return
    for n, t in enumerate(tasks):
        if not isinstance(t, dict):
            _problem(out, kind, None, None, f"task #{n} is a {type(t).__name__}, not an object")
            continue
        ref = export_id(t.get("ref_id"))
        if ref is None:
            _problem(out, kind, None, None, f"task #{n} has no usable ref_id ({t.get('ref_id')!r:.40})")
            continue
        ref = str(ref)
        anns = t.get("annotations")
        if not isinstance(anns, list):
            _problem(out, kind, ref, None, f"annotations is {type(anns).__name__}, not a list")
            continue
        for a in anns:
            if not isinstance(a, dict):
                _problem(out, kind, ref, None, f"an annotation is a {type(a).__name__}, not an object")
                continue
            ann = export_id(a.get("id"))
            if ann is None:
                _problem(out, kind, ref, None, f"an annotation has no usable id ({a.get('id')!r:.40})")
                continue
            if (kind, ref, ann) in out.seen:
                _problem(out, kind, ref, ann, "the same annotation given twice (a duplicated task): read once")
                continue
            out.seen.add((kind, ref, ann))
            if isinstance(a.get("completed_by"), str) and a["completed_by"]:
                out.authors[(kind, ref, ann)] = a["completed_by"]  # labeling/annotators.py: agreement per annotator
            result = a.get("result")
            if not isinstance(result, list):
                _problem(out, kind, ref, ann, f"result is {type(result).__name__}, not a list")
                continue
            regions = [r for r in result if isinstance(r, dict)]
            if len(regions) != len(result):
                _problem(out, kind, ref, ann, "a region that is not an object")
                continue
            yield ref, ann, regions


class PoseAnnotation(NamedTuple):
    """One annotator's pose of one task."""

    ann: int | str  # the annotation's id
    joints: np.ndarray  # [11, 2] pixels in the order of JOINTS; NaN for a joint out of frame
    size: tuple[int, int]  # the annotated image's (width, height)
    visibility: tuple[str, ...] = (VISIBLE,) * len(JOINTS)  # per joint, a value of core/names.VISIBILITY


@dataclass
class _PoseRegions:
    """One annotation's regions as read: its points, the visibility chosen on them, the joints ticked out of frame."""

    points: dict[str, tuple[float, float]] = field(default_factory=dict)  # joint -> pixels
    joint_of: dict[int | str, str | None] = field(default_factory=dict)  # point's region id -> joint (None: shared)
    choices: list[dict] = field(default_factory=list)  # the visibility regions, read once every point is known
    flags: dict[str, str] = field(default_factory=dict)  # joint -> visibility chosen on its point
    outside: set[str] = field(default_factory=set)  # joints ticked under out_of_frame
    size: tuple[int, int] | None = None
    problems: list[str] = field(default_factory=list)


def _read_point(r: dict, got: _PoseRegions) -> None:
    v = r.get("value")
    v = v if isinstance(v, dict) else {}
    labels = v.get("keypointlabels")
    w, h = finite_number(r.get("original_width")), finite_number(r.get("original_height"))
    if w is None or h is None or not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE):
        got.problems.append("a keypoint without a usable image size")
        return
    got.size = (int(w), int(h))
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
        got.problems.append(f"unknown joint label {labels!r:.60}")
        return
    name = labels[0]
    if name not in JOINTS:
        got.problems.append(f"unknown joint label {[name]!r:.60}")
        return
    xp, yp = finite_number(v.get("x")), finite_number(v.get("y"))
    if xp is None or yp is None:
        got.problems.append(f"{name}: no usable coordinates")
    elif not (0 <= xp <= 100 and 0 <= yp <= 100):
        got.problems.append(f"{name} outside the image ({xp:.4g}%, {yp:.4g}%)")
    elif name in got.points:
        got.problems.append(f"{name} placed twice")
    else:
        got.points[name] = (xp / 100 * w - 0.5, yp / 100 * h - 0.5)
        rid = export_id(r.get("id"))
        if rid is not None:
            got.joint_of[rid] = None if rid in got.joint_of else name


def _read_out_of_frame(r: dict, got: _PoseRegions) -> None:
    v = r.get("value")
    choices = v.get("choices") if isinstance(v, dict) else None
    if got.outside:
        got.problems.append("out of frame given twice")
    elif not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c in JOINTS for c in choices):
        got.problems.append(f"out of frame: unknown joints {choices!r:.60}")
    elif len(set(choices)) != len(choices):
        got.problems.append(f"out of frame: a joint ticked twice {choices!r:.60}")
    else:
        got.outside = set(choices)


def _read_visibility(r: dict, got: _PoseRegions) -> None:
    """A per-region visibility choice: it names its point by the point's region id (Label Studio's `id`)."""
    v = r.get("value")
    choices = v.get("choices") if isinstance(v, dict) else None
    rid = export_id(r.get("id"))
    name = got.joint_of.get(rid) if rid is not None else None
    if not isinstance(choices, list) or len(choices) != 1 or choices[0] not in POINT_VISIBILITY:
        got.problems.append(f"unknown visibility {choices!r:.60}")
    elif name is None:
        got.problems.append(f"a visibility ({choices[0]}) for no single joint's point (region id {rid!r:.40})")
    elif name in got.flags:
        got.problems.append(f"{name}: visibility given twice")
    else:
        got.flags[name] = choices[0]


def _pose_regions(regions: list[dict]) -> _PoseRegions:
    got = _PoseRegions()
    for r in regions:
        kind, control = r.get("type"), r.get("from_name")
        if kind == "keypointlabels":
            _read_point(r, got)
        elif kind == "choices" and control == OUT_OF_FRAME_CONTROL:
            _read_out_of_frame(r, got)
        elif kind == "choices" and control == VISIBILITY_CONTROL:
            got.choices.append(r)
    for r in got.choices:  # after the points: the export's order of regions is not the annotator's
        _read_visibility(r, got)
    return got


def _visibility(got: _PoseRegions) -> list[str | None]:
    """Per joint its visibility, None where it is missing; a problem where the annotation contradicts itself. A tick
    under out_of_frame wins over a point with no choice (a pre-filled guess left in place), not over a chosen one."""
    out: list[str | None] = []
    for j in JOINTS:
        flag = got.flags.get(j)
        if j in got.outside and flag is not None:
            got.problems.append(f"{j}: ticked out of frame but its point says {flag}")
        if j in got.outside:
            out.append(OUT_OF_FRAME)
        else:
            out.append((flag or VISIBLE) if j in got.points else None)
    return out


def parse_pose(tasks, out: Parsed) -> None:
    """Each annotation's joints and their visibility into `out.joints`; an annotation with a problem is left out."""
    for ref, ann, regions in annotations(tasks, "pose", out):
        got = _pose_regions(regions)
        vis = _visibility(got)
        for what in got.problems:
            _problem(out, "pose", ref, ann, what)
        missing = [j for j, v in zip(JOINTS, vis) if v is None]
        if missing and not got.problems:
            _problem(out, "pose", ref, ann, f"missing joints {missing}")
        if missing or got.problems:
            continue
        if got.size is None:  # every joint out of frame: no point, no image size, nothing to learn
            _problem(out, "pose", ref, ann, "every joint out of frame: left out")
            continue
        nan = (math.nan, math.nan)
        pts = np.array([got.points[j] if v != OUT_OF_FRAME else nan for j, v in zip(JOINTS, vis)], np.float64)
        out.joints.setdefault(ref, []).append(PoseAnnotation(ann, pts, got.size, tuple(vis)))


def parse_tags(tasks, groups: dict[str, tuple[str, ...]], out: Parsed) -> None:
    """Each annotation's value per group into `out.tags`; one with the `unsure` box ticked is left out (a problem row
    says so) and its ref noted in `out.unsure`, so that the push sends the task to another annotator."""
    from labeling.configs import UNSURE

    for ref, ann, regions in annotations(tasks, "tags", out):
        values: dict[str, str] = {}
        bad = unsure = False
        for r in regions:
            if r.get("type") != "choices":
                continue
            g = r.get("from_name")
            v = r.get("value")
            choices = v.get("choices") if isinstance(v, dict) else None
            if g == UNSURE and g not in groups:
                unsure = unsure or (isinstance(choices, list) and UNSURE in choices)
            elif not isinstance(g, str) or g not in groups:
                _problem(out, "tags", ref, ann, f"unknown group {g!r:.60}")
                bad = True
            elif not isinstance(choices, list) or len(choices) != 1 or choices[0] not in groups[g]:
                _problem(out, "tags", ref, ann, f"{g}: unknown choice {choices!r:.60}")
                bad = True
            elif g in values:
                _problem(out, "tags", ref, ann, f"{g} given twice")
                bad = True
            else:
                values[g] = choices[0]
        if unsure:
            _problem(out, "tags", ref, ann, "the annotator was unsure: left out, the task goes to another annotator")
            out.unsure.add(ref)
        elif not bad and values:
            out.tags.setdefault(ref, []).append((ann, values))


def consensus_tags(anns: list[tuple[int | str, dict[str, str]]]) -> dict[str, str]:
    """Per group the most frequent value among the annotators; a tie goes to the earliest annotation."""
    anns = sorted(anns, key=lambda a: id_order(a[0]))
    out = {}
    for g in sorted({g for _, v in anns for g in v}):
        votes = [v[g] for _, v in anns if g in v]
        counts = Counter(votes)
        best = max(counts.values())
        out[g] = next(v for v in votes if counts[v] == best)
    return out


def placed_median(pts: np.ndarray) -> np.ndarray:
    """pts [A, 11, 2] (NaN where out of frame) -> per joint the median of the annotations that placed it [11, 2]
    (NaN where none did); without an out-of-frame joint, exactly the plain median."""
    placed = np.isfinite(pts).all(axis=-1)  # [A, 11]
    if placed.all():
        return np.median(pts, axis=0)
    median = np.full(pts.shape[1:], np.nan)
    for j in np.flatnonzero(placed.any(axis=0)):
        median[j] = np.median(pts[placed[:, j], j], axis=0)
    return median


def consensus_joints(anns: list[PoseAnnotation]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(joints [11, 2], visibility per joint) agreed by the annotators of one task. Per joint: out of frame (NaN)
    unless a strict majority placed it; then the median of the placed points (the mean of two), occluded when at
    least half of those who placed it said occluded, else visible."""
    pts = np.stack([a.joints for a in anns])  # [A, 11, 2], NaN where out of frame
    placed = np.isfinite(pts).all(axis=-1)  # [A, 11]
    joints = placed_median(pts)
    vis = []
    for j in range(len(JOINTS)):
        said = [a.visibility[j] for a, p in zip(anns, placed[:, j]) if p]
        if len(said) * 2 <= len(anns):
            joints[j] = np.nan
            vis.append(OUT_OF_FRAME)
        else:
            vis.append(OCCLUDED if said.count(OCCLUDED) * 2 >= len(said) else VISIBLE)
    return joints, tuple(vis)


def agreement(parsed: Parsed, groups: dict[str, tuple[str, ...]]) -> dict:
    """Several annotators on one task: per-joint disagreement (mean pairwise distance, pixels) and per-group Cohen's
    kappa over every pair of annotations of the same task."""
    from sklearn.metrics import cohen_kappa_score

    dist: dict[str, list[float]] = defaultdict(list)
    multi_pose = 0
    for anns in parsed.joints.values():
        if len(anns) < 2:
            continue
        multi_pose += 1
        for i in range(len(anns)):
            for k in range(i + 1, len(anns)):
                d = np.linalg.norm(anns[i].joints - anns[k].joints, axis=1)  # NaN where either is out of frame
                for j, name in enumerate(JOINTS):
                    if np.isfinite(d[j]):
                        dist[name].append(float(d[j]))
    pairs: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    multi_tags = 0
    for anns in parsed.tags.values():
        if len(anns) < 2:
            continue
        multi_tags += 1
        for i in range(len(anns)):
            for k in range(i + 1, len(anns)):
                for g in groups:
                    if g in anns[i][1] and g in anns[k][1]:
                        pairs[g][0].append(anns[i][1][g])
                        pairs[g][1].append(anns[k][1][g])
    kappa = {}
    for g, (a, b) in pairs.items():
        if len(a) >= 2:
            value = cohen_kappa_score(a, b, labels=list(groups[g]))
            kappa[g] = None if np.isnan(value) else round(float(value), 4)
    return {
        "pose_tasks_with_several_annotators": multi_pose,
        "joint_disagreement_px": {j: round(float(np.mean(dist[j])), 3) for j in JOINTS if dist[j]},
        "tag_tasks_with_several_annotators": multi_tags,
        "kappa": kappa,
        "kappa_pairs": {g: len(a) for g, (a, _) in pairs.items()},
    }
