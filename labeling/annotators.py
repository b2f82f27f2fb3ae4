"""Agreement per annotator: how much each annotator labelled, and how well they agree with the others on shared tasks.

The `label` stage (stages/label.py) writes it into data/label/report.json (`agreement.by_annotator`) and
metrics/label.json (`annotators`). An annotator is the e-mail an annotation's `completed_by` names in the exports
(labeling/exports/*.json; `python -m labeling.team` gives each annotator an account). Per annotator:

- `pose_annotations`, `tag_annotations`: their annotations the stage kept (problem rows and `unsure` ones left out);
- tags, on each task that someone else labelled too: per group, their value against the consensus of the others
  (the majority; a tie goes to the earliest annotation, as labeling.labels.consensus_tags): `agreement_by_group` (the
  share of equal values), `kappa_by_group` (Cohen's kappa of their values against that consensus, scikit-learn,
  over the group's values; null when it is undefined, e.g. everyone chose one value throughout) and
  `tag_agreement` (the share over every group);
- poses, on each task that someone else annotated too: the distance of each of their joints to the others'
  per-joint median, in pixels: `joint_distance_px` per joint and `joint_distance_px_mean` (a joint nobody placed,
  e.g. out of frame, counts for nobody).

Annotations without an author (exports from before the pull kept authors) count among the others for everyone, and
for nobody on their own. A shared task is counted once per annotation of theirs on it.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from labeling.labels import Parsed, consensus_tags
from synth.pose.skeleton import JOINTS


@dataclass
class Annotator:
    """What the agreement of one annotator is computed from."""

    pose_annotations: int = 0
    tag_annotations: int = 0
    pose_tasks_shared: int = 0
    tag_tasks_shared: int = 0
    tag_pairs: dict[str, tuple[list[str], list[str]]] = field(default_factory=lambda: defaultdict(lambda: ([], [])))
    joint_distances: list[np.ndarray] = field(default_factory=list)  # per shared pose task: [11] px, NaN = unplaced


def _others_median(points: list[np.ndarray]) -> np.ndarray:
    """The per-joint median of the other annotators' points; NaN where none of them placed the joint."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN joint: NaN, which is what we mean
        return np.nanmedian(np.stack(points), axis=0)


def collect(parsed: Parsed) -> dict[str, Annotator]:
    """e-mail -> Annotator, from the parsed exports (`parsed.authors` names each annotation's author)."""
    team: dict[str, Annotator] = defaultdict(Annotator)
    for ref, anns in parsed.tags.items():
        by = [parsed.authors.get(("tags", ref, a[0])) for a in anns]
        for (_, values), who in zip(anns, by, strict=True):
            if who is None:
                continue
            me = team[who]
            me.tag_annotations += 1
            others = [a for a, w in zip(anns, by, strict=True) if w != who]
            if not others:
                continue
            me.tag_tasks_shared += 1
            cons = consensus_tags(others)
            for g, v in values.items():
                if g in cons:
                    me.tag_pairs[g][0].append(v)
                    me.tag_pairs[g][1].append(cons[g])
    for ref, anns in parsed.joints.items():
        by = [parsed.authors.get(("pose", ref, a[0])) for a in anns]
        for a, who in zip(anns, by, strict=True):
            if who is None:
                continue
            me = team[who]
            me.pose_annotations += 1
            others = [o[1] for o, w in zip(anns, by, strict=True) if w != who]
            if others:
                me.pose_tasks_shared += 1
                me.joint_distances.append(np.linalg.norm(np.asarray(a[1]) - _others_median(others), axis=1))
    return dict(sorted(team.items()))


def _kappa(theirs: list[str], consensus: list[str], values: tuple[str, ...]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(theirs) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one value throughout: kappa is 0/0
        k = cohen_kappa_score(theirs, consensus, labels=list(values))
    return None if np.isnan(k) else round(float(k), 4)


def summary(me: Annotator, groups: dict[str, tuple[str, ...]]) -> dict:
    """One annotator's entry of the report."""
    pairs = {g: me.tag_pairs[g] for g in groups if g in me.tag_pairs}
    equal = {g: sum(x == y for x, y in zip(a, b, strict=True)) for g, (a, b) in pairs.items()}
    total = sum(len(a) for a, _ in pairs.values())
    dist = np.stack(me.joint_distances) if me.joint_distances else np.empty((0, len(JOINTS)))
    per_joint = {}
    for j, name in enumerate(JOINTS):
        placed = dist[:, j][np.isfinite(dist[:, j])]
        if placed.size:
            per_joint[name] = round(float(placed.mean()), 3)
    finite = dist[np.isfinite(dist)]
    return {
        "pose_annotations": me.pose_annotations,
        "tag_annotations": me.tag_annotations,
        "pose_tasks_shared": me.pose_tasks_shared,
        "tag_tasks_shared": me.tag_tasks_shared,
        "tag_agreement": round(sum(equal.values()) / total, 4) if total else None,
        "agreement_by_group": {g: round(equal[g] / len(a), 4) for g, (a, _) in pairs.items()},
        "kappa_by_group": {g: _kappa(a, b, groups[g]) for g, (a, b) in pairs.items()},
        "pairs_by_group": {g: len(a) for g, (a, _) in pairs.items()},
        "joint_distance_px": per_joint,
        "joint_distance_px_mean": round(float(finite.mean()), 3) if finite.size else None,
    }


def by_annotator(parsed: Parsed, groups: dict[str, tuple[str, ...]]) -> dict[str, dict]:
    """e-mail -> the annotator's report entry."""
    team = collect(parsed)
    return {who: summary(me, groups) for who, me in team.items()}


FIGURES = ("pose_annotations", "tag_annotations", "tag_agreement", "kappa_by_group", "joint_distance_px_mean")


def annotator_figures(report: dict[str, dict]) -> dict[str, dict]:
    """metrics/label.json's `annotators`: per annotator, the counts and the headline agreement."""
    return {who: {k: entry[k] for k in FIGURES} for who, entry in report.items()}
