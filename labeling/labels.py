"""From Label Studio exports (labeling/exports/*.json, as labeling.sync writes them) to label records, with checks.

Keypoints: Label Studio stores percent of the image; a joint at pixel x (centres at integers) is at
100 * (x + 0.5) / width percent, so x = percent / 100 * width - 0.5. A pose annotation becomes 22 numbers in the
order of dataset/skeleton.JOINTS.

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

import numpy as np

from synth.pose.skeleton import JOINTS

MAX_IMAGE_SIDE = 1 << 16  # pixels: an `original_width` beyond this is not an image this project labels


@dataclass
class Parsed:
    joints: dict[str, list[tuple[int | str, np.ndarray, tuple[int, int]]]] = field(
        default_factory=dict
    )  # ref -> [(ann, [11,2], (w,h))]
    tags: dict[str, list[tuple[int | str, dict[str, str]]]] = field(
        default_factory=dict
    )  # ref -> [(ann, {group: value})]
    problems: list[dict] = field(default_factory=list)
    seen: set[tuple[str, str, int | str]] = field(default_factory=set)  # (project, ref, ann) already read
    unsure: set[str] = field(default_factory=set)  # tags refs with an annotation whose annotator ticked `unsure`


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
            result = a.get("result")
            if not isinstance(result, list):
                _problem(out, kind, ref, ann, f"result is {type(result).__name__}, not a list")
                continue
            regions = [r for r in result if isinstance(r, dict)]
            if len(regions) != len(result):
                _problem(out, kind, ref, ann, "a region that is not an object")
                continue
            yield ref, ann, regions


def parse_pose(tasks, out: Parsed) -> None:
    for ref, ann, regions in annotations(tasks, "pose", out):
        pts: dict[str, tuple[float, float]] = {}
        bad = False
        size = None
        for r in regions:
            if r.get("type") != "keypointlabels":
                continue
            v = r.get("value")
            v = v if isinstance(v, dict) else {}
            labels = v.get("keypointlabels")
            w, h = finite_number(r.get("original_width")), finite_number(r.get("original_height"))
            if w is None or h is None or not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE):
                _problem(out, "pose", ref, ann, "a keypoint without a usable image size")
                bad = True
                continue
            size = (int(w), int(h))
            if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
                _problem(out, "pose", ref, ann, f"unknown joint label {labels!r:.60}")
                bad = True
                continue
            name = labels[0]
            if name not in JOINTS:
                _problem(out, "pose", ref, ann, f"unknown joint label {[name]!r:.60}")
                bad = True
                continue
            xp, yp = finite_number(v.get("x")), finite_number(v.get("y"))
            if xp is None or yp is None:
                _problem(out, "pose", ref, ann, f"{name}: no usable coordinates")
                bad = True
                continue
            if not (0 <= xp <= 100 and 0 <= yp <= 100):
                _problem(out, "pose", ref, ann, f"{name} outside the image ({xp:.4g}%, {yp:.4g}%)")
                bad = True
                continue
            if name in pts:
                _problem(out, "pose", ref, ann, f"{name} placed twice")
                bad = True
                continue
            pts[name] = (xp / 100 * w - 0.5, yp / 100 * h - 0.5)
        missing = [j for j in JOINTS if j not in pts]
        if missing and not bad:
            _problem(out, "pose", ref, ann, f"missing joints {missing}")
        if missing or bad or size is None:
            continue
        out.joints.setdefault(ref, []).append((ann, np.array([pts[j] for j in JOINTS], np.float64), size))


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


def consensus_joints(anns: list[tuple[int, np.ndarray, tuple[int, int]]]) -> np.ndarray:
    """The per-joint median over annotators (the mean of two)."""
    return np.median(np.stack([a[1] for a in anns]), axis=0)


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
                d = np.linalg.norm(anns[i][1] - anns[k][1], axis=1)
                for j, name in enumerate(JOINTS):
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
