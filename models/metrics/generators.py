"""Scores of a generator on one split, in the pinned extractor's eyes (models/tagger/extractor.py).

Every generator family (DCGAN with its PCA-Gaussian baseline and the real-vs-real floor, StyleGAN, super-resolution;
the evaluate stage too) is scored the same way: N = min(samples, split size) generated images against a fixed random
N of the split's real images, both read by the extractor at its input size (the tagger resizes both the same way,
`TaggerNet.features`). The extractor never gives a generator gradients: it is only called here, under no_grad, on
uint8 images.

    fd_tagger, kid_tagger       Fréchet / kernel distance of the feature sets (lower is better)
    precision, recall           k = 3 manifold estimates (Kynkäänniemi et al. 2019)
    ndb_ratio                   share of 100 k-means bins (fitted on training features) whose generated share
                                differs from the training share, z-test at 0.05 (lower is better)
    msssim_diversity            1 - mean MS-SSIM of random pairs of generated images (higher: more diverse)
    tag_tv                      mean total-variation distance of the tag histograms read on generated and real
                                images (lower is better)
    cond_accuracy               conditional samples asked for the split's label combinations: the share of
                                (image, group) pairs on which the tagger reads the requested value
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.names import ATTRIBUTES, GROUPS
from models import metrics
from models.metrics.tags import cond_accuracy_by_group
from models.tagger.extractor import Tagger

# sample(n, cond or None, seed) -> uint8 [n, S, S, 3]; cond [n, groups] with -1 where a group is not asked for
Sampler = Callable[[int, np.ndarray | None, int], np.ndarray]
# what a reader is shown of a generator's uint8 images [n, S, S, 3]: the page's upscale, for one
Show = Callable[[np.ndarray], np.ndarray]


def slider_moves(start: np.ndarray, moved: np.ndarray, col: int, k: int, sign: float) -> tuple[int, int]:
    """(successes, counted) of one slider's moves, every family's `control_success` rule: the judge's readings
    [N, groups] before and after moving towards (`sign` > 0) or away from class `k` of group column `col`. A move
    counts where the start is on the other side of the tag and succeeds when the tag's reading crosses while no
    other group's reading changes."""
    others = [i for i in range(start.shape[1]) if i != col]
    on0, on1 = start[:, col] == k, moved[:, col] == k
    eligible = ~on0 if sign > 0 else on0
    crossed = on1 if sign > 0 else ~on1
    kept = (moved[:, others] == start[:, others]).all(axis=1)
    return int((eligible & crossed & kept).sum()), int(eligible.sum())


def slider_tags() -> list[tuple[str, str, int]]:
    """(tag, group, class index) of every attribute slider, for every family: a yes/no group once (`glasses=yes`),
    a group of other values once per value (`hair_color=red`)."""
    out = []
    for g in GROUPS:
        values = list(ATTRIBUTES[g])
        if values == ["no", "yes"]:
            out.append((f"{g}=yes", g, 1))
        else:
            out += [(f"{g}={v}", g, k) for k, v in enumerate(values)]
    return out


@dataclass
class Reference:
    """What every model of one split is compared with, computed once: N real images and their readings."""

    images: np.ndarray
    labels: np.ndarray  # [N, groups], -1 unknown
    features: np.ndarray
    reads: dict[str, np.ndarray]
    train_features: np.ndarray  # the NDB bins' data


def reference(
    extractor: Tagger, split_images: np.ndarray, split_labels: np.ndarray, train_images: np.ndarray, n: int, seed: int
) -> Reference:
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(split_images), min(n, len(split_images)), replace=False))
    feats, reads = extractor.read(split_images[pick])
    t_pick = np.sort(rng.choice(len(train_images), min(len(train_images), 5000), replace=False))
    train_feats, _ = extractor.read(train_images[t_pick])
    return Reference(split_images[pick], split_labels[pick], feats, reads, train_feats)


def unconditional_scores(extractor: Tagger, ref: Reference, fake: np.ndarray, seed: int) -> dict:
    """Every distribution-level figure of a generated set against the reference."""
    if fake.shape[1:] != ref.images.shape[1:] or fake.dtype != np.uint8:
        raise ValueError(f"generated images {fake.shape} {fake.dtype}; expected uint8 {ref.images.shape[1:]}")
    f, reads = extractor.read(fake)
    bins = min(100, len(ref.train_features) // 10)
    return {
        "fd_tagger": metrics.get("fd_tagger").fn(ref.features, f),
        "kid_tagger": metrics.get("kid_tagger").fn(ref.features, f, seed=seed),
        "precision": metrics.get("precision").fn(ref.features, f),
        "recall": metrics.get("recall").fn(ref.features, f),
        "ndb_ratio": metrics.get("ndb_ratio").fn(ref.train_features, f, bins=bins, seed=seed),
        "msssim_diversity": metrics.get("msssim_diversity").fn(fake, seed=seed),
        "tag_tv": metrics.get("tag_tv").fn(ref.reads, reads),
    }


def conditional_scores(extractor: Tagger, ref: Reference, sample: Sampler, seed: int) -> dict:
    """cond_accuracy: samples asked for the reference's own label combinations (unknown groups not asked), with
    the tagger's accuracy on the real images beside (`tagger_accuracy_by_group`: the ceiling at this resolution)."""
    fake = sample(len(ref.labels), ref.labels, seed)
    _, reads = extractor.read(fake)
    requested = {g: ref.labels[:, k] for k, g in enumerate(GROUPS)}
    by_group = cond_accuracy_by_group(requested, reads)
    tagger = cond_accuracy_by_group(requested, ref.reads)
    return {
        "cond_accuracy": metrics.get("cond_accuracy").fn(requested, reads),
        "cond_accuracy_by_group": by_group,
        "tagger_accuracy_by_group": tagger,
        # the per-group bar: cond_accuracy >= 0.9 x the tagger's own accuracy on real images
        "cond_vs_tagger_by_group": {g: by_group[g] / max(tagger[g], 1e-9) for g in by_group},
    }


def floor_scores(extractor: Tagger, ref: Reference, train_images: np.ndarray, seed: int) -> dict:
    """The real-vs-real floor: N training images in place of generated ones."""
    rng = np.random.default_rng(seed + 17)
    pick = np.sort(rng.choice(len(train_images), min(len(ref.images), len(train_images)), replace=False))
    return unconditional_scores(extractor, ref, train_images[pick], seed)
