"""What a push offers the annotators, most uncertain first, with the champion models' guesses.

- pose: sketches of the pose sets' train split not imported yet; from a pool of 4n, the n on which the champion
  posenet's heatmaps spread most (the standard deviation of each joint's heatmap, in heatmap cells, averaged over
  the joints); its 11 joints are the pre-annotation.
- tags: ingested images not imported yet. First, for each source whose auto-tags still borrow another style's
  trust floors (data/tagger/floors.json, models/tagger/trust.py), as many of its validation images as its floors
  still need labels, drawn at random (a random sample is what a floor can be chosen on; the most uncertain would
  bias it); then unlabelled images, then by 1 - the champion tagger's mean top probability over the groups the
  image has no label for (all groups when it has every one; read from tags_auto.csv, which the tagger stage writes
  with its champion); its values are the pre-annotation.

`label.order: random` draws the same number of images uniformly instead (seeded by `seed` and the number of tasks
the project has, so every push draws anew and a re-run draws the same): the baseline that experiments/active_learning.py
measures uncertainty order against, and an unbiased sample when one is wanted.

The champion comes from the registry through core/tracking.py. No registered model, or no `champion` alias, is a
normal state (a fresh store): the candidates then carry no predictions. A tracking server that is down is not:
core.errors.Transient (exit 75) goes up to the caller, so that a push never quietly loses its pre-annotations.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import tracking
from core.errors import BadInput
from core.names import GROUPS, JOINTS

POSE_MODEL = "anime-posenet"
TAG_MODEL = "anime-tagger"


@dataclass
class Candidates:
    """The images one push imports into a project, in the order they go in (most uncertain first)."""

    ids: list[str]  # ref_id of each image
    images: np.ndarray  # uint8 RGB [k, S, S, 3]; the grey sketches repeated to 3 channels
    uncertainty: list[float | None]  # per image; None where no model judged it
    predictions: list | None  # per image the champion's guess (joints [11, 2] px, or {group: value}, or None)
    model_version: str | None  # "<registered model>/<version>" that made the predictions; None without predictions


def heatmap_spread(net, x: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, S, S, 3] -> (joints float32 [N, 11, 2] in pixels, spread float32 [N]).

    The spread is the standard deviation of each joint's heatmap (in heatmap cells), averaged over the joints: a
    confident posenet puts each joint's mass in a few cells.
    """
    import torch

    from models.pose.net import to_input

    net.eval()
    joints, spread = [np.zeros((0, len(JOINTS), 2), np.float32)], [np.zeros(0, np.float32)]
    with torch.no_grad():
        for i in range(0, len(x), batch):
            j, logp, _ = net(to_input(x[i : i + batch]))
            p = logp.exp()  # [B, 11, H*W]
            hm = int(np.sqrt(p.shape[-1]))
            g = torch.arange(hm, dtype=p.dtype)
            px = p.reshape(*p.shape[:2], hm, hm)
            mx, my = (px.sum(2) * g).sum(-1), (px.sum(3) * g).sum(-1)
            var = (px.sum(2) * (g - mx[..., None]) ** 2).sum(-1) + (px.sum(3) * (g - my[..., None]) ** 2).sum(-1)
            joints.append(j.numpy().astype(np.float32))
            spread.append(var.sqrt().mean(dim=1).numpy().astype(np.float32))
    return np.concatenate(joints), np.concatenate(spread)


def random_pick(count: int, n: int, seed: int, drawn: int) -> np.ndarray:
    """n of `count` positions, uniformly, in a random order: seeded by (seed, how many were drawn before)."""
    return np.random.default_rng([seed, drawn]).permutation(count)[:n]


def _ranked_by_posenet(ids: list[str], images: np.ndarray, n: int, order: str) -> Candidates:
    """The first n of a pool (random order), or the n on which the champion posenet's heatmaps spread most, with its
    joints as predictions; no champion: the first n without predictions."""
    from models.pose.net import PoseNet

    version = tracking.alias_version(POSE_MODEL, "champion") if ids else None
    if version is None:
        return Candidates(ids[:n], images[:n], [None] * len(ids[:n]), None, None)
    with tempfile.TemporaryDirectory(prefix="posenet-") as tmp:
        net = PoseNet.load(tracking.download_version(POSE_MODEL, version, tmp))
    joints, spread = heatmap_spread(net, images)
    chosen = np.argsort(-spread, kind="stable")[:n] if order != "random" else np.arange(len(ids))[:n]
    return Candidates(
        ids=[ids[i] for i in chosen],
        images=images[chosen],
        uncertainty=[float(spread[i]) for i in chosen],
        predictions=[joints[i] for i in chosen],
        model_version=f"{POSE_MODEL}/{version}",
    )


def pose_candidates(render_dir: Path, n: int, skip: set[str], order: str = "uncertainty", seed: int = 0) -> Candidates:
    """Up to n sketches of the train split whose id is not in `skip`; with the champion posenet's joints if any."""
    from synth.pose.poseset import PoseSet

    ps = PoseSet(render_dir)
    rows = [i for i in ps.rows("train") if ps.meta[i]["id"] not in skip]
    if order == "random":
        rows = [rows[k] for k in random_pick(len(rows), n, seed, len(skip))]
    else:
        rows = rows[: 4 * n]  # the pool the model ranks
    ids = [ps.meta[i]["id"] for i in rows]
    sketches = np.asarray(ps.array("sketch")[rows]) if rows else np.zeros((0, ps.size, ps.size), np.uint8)
    return _ranked_by_posenet(ids, np.repeat(sketches[..., None], 3, axis=3), n, order)


def import_candidates(
    import_dir: Path, n: int, skip: set[str], order: str = "uncertainty", seed: int = 0
) -> Candidates:
    """Up to n images of the pose project's own source (stage pose_import, every split: annotated validation and
    test images are scored) whose id is not in `skip`; ranked like the sketches."""
    from dataset.shards import ImageShards, read_manifest

    if not (import_dir / "manifest.csv").exists():
        return Candidates([], np.zeros((0, 1, 1, 3), np.uint8), [], None, None)
    rows = [i for i, r in enumerate(read_manifest(import_dir)) if r["id"] not in skip]
    if order == "random":
        rows = sorted(rows[k] for k in random_pick(len(rows), n, seed, len(skip)))
    else:
        rows = rows[: 4 * n]
    size = int(next(import_dir.glob("images_*.npy")).stem.split("_")[1])
    shards = ImageShards(import_dir, size)
    ids = [shards.ids[i] for i in rows]
    images = np.asarray(shards.images[rows]) if rows else np.zeros((0, size, size, 3), np.uint8)
    return _ranked_by_posenet(ids, images, n, order)


def _read_auto_tags(tags_auto: Path) -> dict[str, dict[str, str]]:
    """tags_auto.csv by image id; empty when the tagger has not run."""
    if not tags_auto.exists():
        return {}
    with open(tags_auto, newline="", encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def _calibration_needs(tags_auto: Path) -> dict[str, tuple[int, set[str]]]:
    """source -> (how many more labelled validation images its own trust floors need, the groups that need them),
    from floors.json beside tags_auto.csv; empty when the tagger has not written one."""
    path = tags_auto.parent / "floors.json"
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        needs = {}
        for source, floors in doc["by_source"].items():
            groups = {g for g, e in floors.items() if int(e["labels_needed"]) > 0}
            if groups:
                needs[source] = (max(int(floors[g]["labels_needed"]) for g in groups), groups)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise BadInput(f"{path}: not the tagger stage's floors ({err}); run `dvc repro tagger`") from None
    return needs


def _calibration_picks(rows: list[dict], tags_auto: Path, skip: set[str], seed: int) -> list[int]:
    """Manifest positions of the validation images that sources without their own floors get labelled first: per
    source, up to what it still needs, at random among its validation images not imported yet that lack a group
    that needs labels."""
    picks = []
    for source, (needed, groups) in _calibration_needs(tags_auto).items():
        pool = [
            i
            for i, r in enumerate(rows)
            if r["split"] == "val"
            and r.get("source") == source
            and r["id"] not in skip
            and any(not r.get(g) for g in groups)
        ]
        picks += [pool[j] for j in random_pick(len(pool), needed, seed, len(skip))]
    return picks


def _top_probability_gap(row: dict[str, str], groups: tuple[str, ...] = GROUPS) -> float:
    """1 - the mean over `groups` of the tagger's top probability (columns `p:<group>=<value>`)."""
    tops = [max(float(v) for k, v in row.items() if k.startswith(f"p:{g}=")) for g in groups]
    return 1.0 - float(np.mean(tops))


def tag_candidates(
    ingest_dir: Path,
    tags_auto: Path,
    n: int,
    skip: set[str],
    order: str = "uncertainty",
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val", "test"),
) -> Candidates:
    """Up to n ingested images of `splits` whose id is not in `skip`: the validation images sources need for their
    own trust floors first (at random), then unlabelled, then most uncertain first (uncertainty over the groups an
    image lacks); or uniformly at random (`order="random"`)."""
    from dataset.shards import ImageShards, read_manifest

    rows = read_manifest(ingest_dir)
    auto = _read_auto_tags(tags_auto)
    version = tracking.alias_version(TAG_MODEL, "champion") if auto else None
    first = [] if order == "random" or "val" not in splits else _calibration_picks(rows, tags_auto, skip, seed)
    first = {i: k for k, i in enumerate(first)}  # position -> its place among the calibration picks
    ranked = []
    for i, r in enumerate(rows):
        if r["id"] in skip or r["split"] not in splits:
            continue
        lacking = tuple(g for g in GROUPS if not r.get(g))
        unc = _top_probability_gap(auto[r["id"]], lacking or GROUPS) if r["id"] in auto else None
        if i in first:
            ranked.append((0, float(first[i]), i, unc))
        else:
            ranked.append((1 if len(lacking) == len(GROUPS) else 2, -(unc or 0.0), i, unc))
    if order == "random":
        ranked = [ranked[k] for k in random_pick(len(ranked), n, seed, len(skip))]
    else:
        ranked = sorted(ranked)[:n]
    sizes = sorted(int(p.stem.split("_")[1]) for p in ingest_dir.glob("images_*.npy"))
    shards = ImageShards(ingest_dir, sizes[-1])  # memory-mapped: only the chosen rows are read
    chosen = [c[2] for c in ranked]
    ids = [rows[i]["id"] for i in chosen]
    images = np.asarray(shards.images[chosen]) if chosen else np.zeros((0, sizes[-1], sizes[-1], 3), np.uint8)
    predictions = None
    if version is not None:
        predictions = [{g: auto[i][g] for g in GROUPS} if i in auto else None for i in ids]
    return Candidates(
        ids=ids,
        images=images,
        uncertainty=[c[3] for c in ranked],
        predictions=predictions,
        model_version=f"{TAG_MODEL}/{version}" if version is not None else None,
    )
