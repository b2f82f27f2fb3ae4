"""Disputed tasks: annotators who disagree send a task back to the queue and keep it out of training until resolved.

- A **tag** task is disputed while some group lacks a strict majority among its annotations (one says `smile=yes`,
  another `no`); a third annotation that sides with one of them resolves it.
- A **pose** task is disputed while, for some joint, fewer than a strict majority of its annotations lie within
  `label.joint_tolerance` × the image's larger side of the per-joint median (the PCK rule the models are scored by):
  two annotators who put a hand 10 px apart on a 64 px image disagree; a third who agrees with one resolves it.
- A task with one annotation is never disputed. `labeling.sync push` asks for one more annotation of each disputed
  task (Label Studio's per-task `overlap`), up to `label.max_annotations`; the `label` stage leaves disputed tasks out
  of tags.csv and joints.json (the source's own values stay) and lists them in its report.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


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


def joints_disputed(anns: list[tuple[int, np.ndarray, tuple[int, int]]], tolerance: float) -> list[int]:
    """The joints (indices) of one pose task whose median is not backed by a strict majority within tolerance."""
    if len(anns) < 2:
        return []
    pts = np.stack([a[1] for a in anns])  # [A, 11, 2]
    limit = tolerance * max(max(a[2]) for a in anns)
    near = np.linalg.norm(pts - np.median(pts, axis=0), axis=-1) <= limit  # [A, 11]
    return [int(j) for j in np.flatnonzero(near.sum(axis=0) * 2 <= len(anns))]


def disputed_refs(parsed, tolerance: float) -> dict[str, dict[str, list]]:
    """{"tags": {ref: [groups]}, "pose": {ref: [joint indices]}} over a Parsed export (labeling/labels.py); a tags
    task whose only annotations are unsure ones counts as disputed (`["unsure"]`): another annotation is asked for."""
    tags = {ref: g for ref, anns in parsed.tags.items() if (g := tags_disputed(anns))}
    tags.update({ref: ["unsure"] for ref in parsed.unsure if ref not in parsed.tags})
    pose = {ref: j for ref, anns in parsed.joints.items() if (j := joints_disputed(anns, tolerance))}
    return {"tags": tags, "pose": pose}
