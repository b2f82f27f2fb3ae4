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

A generator conditioned on annotators' extra groups (its schema, core/names.AttributeSchema) is asked for them too;
the extractor reads the six groups only, so `cond_accuracy_by_group` reads each extra group with the judge's head
for it (models/tagger/extractor.load_judge), and the pooled `cond_accuracy` stays on the six, comparable between
runs with and without extra groups.

`ndb_ratio` and `msssim_diversity` are split-free (SPLIT_FREE): the first compares the generated images with the
training bins, the second compares them with each other, and both splits' scoring draws the same samples, so a
figure is reported once, not as a test figure with a validation twin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.names import FIXED, GROUPS, AttributeSchema
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


def slider_tags(schema: AttributeSchema = FIXED) -> list[tuple[str, str, int]]:
    """(tag, group, class index) of every attribute slider of a generator conditioned on `schema`, for every family:
    a yes/no group once (`glasses=yes`), a group of other values once per value (`hair_color=red`)."""
    out = []
    for g, values in schema.groups.items():
        values = list(values)
        if values == ["no", "yes"]:
            out.append((f"{g}=yes", g, 1))
        else:
            out += [(f"{g}={v}", g, k) for k, v in enumerate(values)]
    return out


def realign(labels: np.ndarray, source: AttributeSchema, target: AttributeSchema) -> np.ndarray:
    """Conditions [N, len(source)] as columns of `target` (class indices by value name; -1 where `source` lacks the
    group or its value): the labels of one run asked of a generator conditioned on another schema."""
    if source == target:
        return labels
    out = np.full((len(labels), len(target)), -1, np.int64)
    for k, g in enumerate(target.names):
        if g in source.groups:
            col = labels[:, source.names.index(g)]
            mapping = np.array([target.groups[g].index(v) if v in target.groups[g] else -1 for v in source.groups[g]])
            out[:, k] = np.where(col >= 0, mapping[np.clip(col, 0, None)], -1)
    return out


@dataclass
class Reference:
    """What every model of one split is compared with, computed once: N real images and their readings."""

    images: np.ndarray
    labels: np.ndarray  # [N, groups of `schema`], -1 unknown
    features: np.ndarray
    reads: dict[str, np.ndarray]  # the extractor's, the six groups
    train_features: np.ndarray  # the NDB bins' data
    schema: AttributeSchema = FIXED  # the groups of `labels`' columns
    ruler_features: np.ndarray | None = None  # the same images in the second ruler's space (the extractor's `ruler`)


SPLIT_FREE = ("ndb_ratio", "msssim_diversity")  # no real image of the split enters them: reported once


def reference(
    extractor: Tagger,
    split_images: np.ndarray,
    split_labels: np.ndarray,
    train_images: np.ndarray,
    n: int,
    seed: int,
    schema: AttributeSchema = FIXED,
) -> Reference:
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(split_images), min(n, len(split_images)), replace=False))
    feats, reads = extractor.read(split_images[pick])
    reads = {g: reads[g] for g in GROUPS}
    t_pick = np.sort(rng.choice(len(train_images), min(len(train_images), 5000), replace=False))
    train_feats, _ = extractor.read(train_images[t_pick])
    ruler = getattr(extractor, "ruler", None)
    second = ruler.features(split_images[pick]) if ruler is not None else None
    return Reference(split_images[pick], split_labels[pick], feats, reads, train_feats, schema, second)


def ruler_scores(extractor: Tagger, ref: Reference, fake: np.ndarray, seed: int) -> dict:
    """FD, KID, precision and recall of `fake` in the second ruler's space (`fd_ssl`, ...), where the extractor
    carries a ruler and the reference was read in it; {} otherwise."""
    from models.metrics.ssl import SSL

    ruler = getattr(extractor, "ruler", None)
    if ruler is None or ref.ruler_features is None:
        return {}
    f = ruler.features(fake)
    return {
        SSL["fd_tagger"]: metrics.get("fd_ssl").fn(ref.ruler_features, f),
        SSL["kid_tagger"]: metrics.get("kid_ssl").fn(ref.ruler_features, f, seed=seed),
        SSL["precision"]: metrics.get("precision_ssl").fn(ref.ruler_features, f),
        SSL["recall"]: metrics.get("recall_ssl").fn(ref.ruler_features, f),
    }


def unconditional_scores(extractor: Tagger, ref: Reference, fake: np.ndarray, seed: int) -> dict:
    """Every distribution-level figure of a generated set against the reference."""
    if fake.shape[1:] != ref.images.shape[1:] or fake.dtype != np.uint8:
        raise ValueError(f"generated images {fake.shape} {fake.dtype}; expected uint8 {ref.images.shape[1:]}")
    f, reads = extractor.read(fake)
    reads = {g: reads[g] for g in GROUPS}
    bins = min(100, len(ref.train_features) // 10)
    return {
        "fd_tagger": metrics.get("fd_tagger").fn(ref.features, f),
        "kid_tagger": metrics.get("kid_tagger").fn(ref.features, f, seed=seed),
        "precision": metrics.get("precision").fn(ref.features, f),
        "recall": metrics.get("recall").fn(ref.features, f),
        "ndb_ratio": metrics.get("ndb_ratio").fn(ref.train_features, f, bins=bins, seed=seed),
        "msssim_diversity": metrics.get("msssim_diversity").fn(fake, seed=seed),
        "tag_tv": metrics.get("tag_tv").fn(ref.reads, reads),
        **ruler_scores(extractor, ref, fake, seed),
    }


def held_out_kid(extractor: Tagger, refs: dict[str, Reference], sample: Sampler, n: int, seed: int) -> dict:
    """For a comparison on few held-out images (one tag's): KID of `n` images from `sample` against each split's
    reference features, every pair used, with a bootstrap 95% interval (models/metrics/kid.kid_interval);
    `kid_tagger`, `kid_tagger_low`, `kid_tagger_high`, `kid_real` (the split's images) and `kid_generated` (n), the
    validation split's with the `val_` prefix."""
    from models.metrics.kid import kid_interval

    fake = sample(n, None, seed)
    features, _ = extractor.read(fake)
    ruler = getattr(extractor, "ruler", None)
    second = ruler.features(fake) if ruler is not None else None
    out: dict = {}
    for split, ref in refs.items():
        prefix = "" if split == "test" else "val_"
        k = kid_interval(ref.features, features, seed=seed)
        out.update(
            {
                f"{prefix}kid_tagger": k["kid"],
                f"{prefix}kid_tagger_low": k["low"],
                f"{prefix}kid_tagger_high": k["high"],
                f"{prefix}kid_real": k["n_real"],
            }
        )
        if second is not None and ref.ruler_features is not None:
            s = kid_interval(ref.ruler_features, second, seed=seed)
            out.update(
                {f"{prefix}kid_ssl": s["kid"], f"{prefix}kid_ssl_low": s["low"], f"{prefix}kid_ssl_high": s["high"]}
            )
    out["kid_generated"] = n
    return out


def conditional_scores(
    extractor: Tagger,
    ref: Reference,
    sample: Sampler,
    seed: int,
    schema: AttributeSchema | None = None,
    judge: Tagger | None = None,
) -> dict:
    """cond_accuracy: samples asked for the reference's own label combinations (unknown groups not asked), with
    the tagger's accuracy on the real images beside (`tagger_accuracy_by_group`: the ceiling at this resolution).
    `schema`: the generator's groups (default: the reference's), whose columns `sample` takes; its extra groups are
    scored by `judge`'s heads (module docstring), and left out without a judge."""
    schema = schema or ref.schema
    asked = realign(ref.labels, ref.schema, schema)
    fake = sample(len(asked), asked, seed)
    _, reads = extractor.read(fake)
    requested = {g: asked[:, k] for k, g in enumerate(schema.names) if g in GROUPS}
    by_group = cond_accuracy_by_group(requested, {g: reads[g] for g in GROUPS})
    tagger = cond_accuracy_by_group(requested, ref.reads)
    if schema.extra and judge is not None:
        extra = {g: asked[:, schema.names.index(g)] for g in schema.extra}
        _, fake_reads = judge.read(fake)
        _, real_reads = judge.read(ref.images)
        if any(g not in fake_reads for g in extra):
            raise ValueError(f"the judge tagger reads no {', '.join(g for g in extra if g not in fake_reads)}")
        by_group.update(cond_accuracy_by_group(extra, {g: fake_reads[g] for g in extra}, schema))
        tagger.update(cond_accuracy_by_group(extra, {g: real_reads[g] for g in extra}, schema))
    return {
        "cond_accuracy": metrics.get("cond_accuracy").fn(requested, {g: reads[g] for g in GROUPS}),
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
