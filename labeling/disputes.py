"""Disputed tasks: annotators who disagree send a task back to the queue and keep it out of training until resolved.

- A **tag** task is disputed while some group lacks a strict majority among its annotations (one says `smile=yes`,
  another `no`); a third annotation that sides with one of them resolves it.
- A **pose** task is disputed while, for some joint, fewer than a strict majority of its annotations lie within
  `label.joint_tolerance` × the image's larger side of the per-joint median (the PCK rule the models are scored by):
  two annotators who put a hand 10 px apart on a 64 px image disagree; a third who agrees with one resolves it.
  Visibility counts as far as it changes what is learnt: a joint is also disputed while neither "in frame" nor "out
  of frame" has a strict majority (one annotator placed the hand, another ticked it out of frame); when a majority
  placed it, the median is over the placed points and an annotation that said out of frame counts as not near it.
  Visible against occluded is never a dispute (both keep their point and train alike; labeling/labels.py's
  consensus takes occluded when half or more of those who placed the joint said so).
- A task with one annotation is never disputed. `labeling.sync push` asks for one more annotation of each disputed
  task (Label Studio's per-task `overlap`), up to `label.max_annotations`; the `label` stage leaves disputed tasks out
  of tags.csv and joints.json (the source's own values stay) and lists them in its report.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from labeling.labels import placed_median


def tags_disputed(anns: list[tuple[int, dict[str, str]]]) -> list[str]:
    """The groups of one tag task without a strict majority value (empty: not disputed)."""
    if len(anns) < 2:
        return []
    out = []
    for g in sorted({g for _, values in anns for g in values}):
        votes = Counter(values[g] for _, values in anns if g in values)
        n = sum(votes.values())
        if n >= 2 and max(votes.values()) * 2 <= n:
            out.append(g)
    return out


def joints_disputed(anns: list, tolerance: float) -> list[int]:
    """The joints (indices) of one pose task whose consensus is not backed by a strict majority: of the
    annotations, too few within tolerance of the median, or a tie between placing the joint and out of frame.
    `anns`: labeling/labels.PoseAnnotation (joints [11, 2], NaN where out of frame)."""
    if len(anns) < 2:
        return []
    pts = np.stack([a[1] for a in anns])  # [A, 11, 2]
    limit = tolerance * max(max(a[2]) for a in anns)
    placed = np.isfinite(pts).all(axis=-1)  # [A, 11]
    with np.errstate(invalid="ignore"):  # NaN compares False: an out-of-frame annotation is not near
        near = np.linalg.norm(pts - placed_median(pts), axis=-1) <= limit  # [A, 11]
    n = len(anns)
    in_frame = placed.sum(axis=0) * 2 > n
    out_frame = (n - placed.sum(axis=0)) * 2 > n
    disputed = (in_frame & (near.sum(axis=0) * 2 <= n)) | (~in_frame & ~out_frame)
    return [int(j) for j in np.flatnonzero(disputed)]


def disputed_refs(parsed, tolerance: float) -> dict[str, dict[str, list]]:
    """{"tags": {ref: [groups]}, "pose": {ref: [joint indices]}} over a Parsed export (labeling/labels.py); a tags
    task whose only annotations are unsure ones counts as disputed (`["unsure"]`): another annotation is asked for."""
    tags = {ref: g for ref, anns in parsed.tags.items() if (g := tags_disputed(anns))}
    tags.update({ref: ["unsure"] for ref in parsed.unsure if ref not in parsed.tags})
    pose = {ref: j for ref, anns in parsed.joints.items() if (j := joints_disputed(anns, tolerance))}
    return {"tags": tags, "pose": pose}
