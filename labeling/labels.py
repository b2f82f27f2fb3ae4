"""From Label Studio exports (labeling/exports/*.json, as labeling.sync writes them) to label records, with checks.

Keypoints: Label Studio stores percent of the image; a joint at pixel x (centres at integers) is at
100 * (x + 0.5) / width percent, so x = percent / 100 * width - 0.5. A pose annotation becomes 22 numbers in the
order of dataset/skeleton.JOINTS. Problems (a missing or duplicated joint, a point outside the image, an unknown
label, an unknown choice, a group given twice) are collected, never raised: the annotation is left out and the
report names the task, the annotation and what was wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from synth.pose.skeleton import JOINTS


@dataclass
class Parsed:
    joints: dict[str, list[tuple[int, np.ndarray, tuple[int, int]]]] = field(
        default_factory=dict
    )  # ref -> [(ann, [11,2], (w,h))]
    tags: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)  # ref -> [(ann, {group: value})]
    problems: list[dict] = field(default_factory=list)


def _problem(out: Parsed, kind: str, ref: str, ann, what: str) -> None:
    out.problems.append({"project": kind, "ref_id": ref, "annotation": ann, "problem": what})


def parse_pose(tasks: list[dict], out: Parsed) -> None:
    for t in tasks:
        ref = str(t.get("ref_id"))
        for a in t.get("annotations", []):
            ann = a.get("id")
            pts: dict[str, tuple[float, float]] = {}
            bad = False
            size = None
            for r in a.get("result", []):
                if r.get("type") != "keypointlabels":
                    continue
                v = r.get("value", {})
                labels = v.get("keypointlabels") or []
                w, h = r.get("original_width"), r.get("original_height")
                if not (isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0):
                    _problem(out, "pose", ref, ann, "a keypoint without the image size")
                    bad = True
                    continue
                size = (int(w), int(h))
                if len(labels) != 1 or labels[0] not in JOINTS:
                    _problem(out, "pose", ref, ann, f"unknown joint label {labels}")
                    bad = True
                    continue
                name = labels[0]
                try:
                    xp, yp = float(v["x"]), float(v["y"])
                except (KeyError, TypeError, ValueError):
                    _problem(out, "pose", ref, ann, f"{name}: no coordinates")
                    bad = True
                    continue
                if not (0 <= xp <= 100 and 0 <= yp <= 100):
                    _problem(out, "pose", ref, ann, f"{name} outside the image ({xp:.1f}%, {yp:.1f}%)")
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


def parse_tags(tasks: list[dict], groups: dict[str, tuple[str, ...]], out: Parsed) -> None:
    for t in tasks:
        ref = str(t.get("ref_id"))
        for a in t.get("annotations", []):
            ann = a.get("id")
            values: dict[str, str] = {}
            bad = False
            for r in a.get("result", []):
                if r.get("type") != "choices":
                    continue
                g = r.get("from_name")
                choices = (r.get("value") or {}).get("choices") or []
                if g not in groups:
                    _problem(out, "tags", ref, ann, f"unknown group {g!r}")
                    bad = True
                elif len(choices) != 1 or choices[0] not in groups[g]:
                    _problem(out, "tags", ref, ann, f"{g}: unknown choice {choices}")
                    bad = True
                elif g in values:
                    _problem(out, "tags", ref, ann, f"{g} given twice")
                    bad = True
                else:
                    values[g] = choices[0]
            if not bad and values:
                out.tags.setdefault(ref, []).append((ann, values))


def consensus_tags(anns: list[tuple[int, dict[str, str]]]) -> dict[str, str]:
    """Per group the most frequent value among the annotators; a tie goes to the earliest annotation."""
    anns = sorted(anns, key=lambda a: a[0])
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
