"""Metrics on the tagger's readings of generated images: `tag_tv` (lower is better), the total-variation distance
between the real and generated attribute histograms, and `cond_accuracy` (higher is better), the share of conditioned
attributes the tagger reads back as requested.

Readings map an attribute group (core/names.py GROUPS) to class indices [N]; in requests, -1 means "not conditioned".
`cond_accuracy_by_group` also takes a generator's extra groups, given its schema (core/names.AttributeSchema).
"""

from __future__ import annotations

import numpy as np

from core.names import FIXED, GROUPS, AttributeSchema
from models.metrics.registry import register


def _known_groups(name: str, readings: dict[str, np.ndarray], schema: AttributeSchema = FIXED) -> None:
    # a misspelt group would otherwise be silently left out of the mean
    unknown = sorted(set(readings) - set(schema.names))
    if unknown:
        raise ValueError(f"{name}: unknown attribute groups {unknown}; expected some of {schema.names}")


def _classes(
    name: str, group: str, values: np.ndarray, allow_unset: bool, schema: AttributeSchema = FIXED
) -> np.ndarray:
    v = np.asarray(values)
    if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer):
        raise ValueError(f"{name}[{group!r}] must be a 1-D array of int class indices; got {v.dtype} {v.shape}")
    lo, n = (-1 if allow_unset else 0), len(schema.groups[group])
    if v.size and (v.min() < lo or v.max() >= n):
        raise ValueError(f"{name}[{group!r}] holds class indices outside [{lo}, {n - 1}] ({schema.groups[group]})")
    return v


def _histogram(name: str, group: str, values: np.ndarray) -> np.ndarray:
    v = _classes(name, group, values, allow_unset=False)
    if v.size == 0:
        raise ValueError(f"{name}[{group!r}] is empty: no readings to make a histogram of")
    return np.bincount(v, minlength=len(FIXED.groups[group])) / v.size


def tag_tv_by_group(real: dict[str, np.ndarray], fake: dict[str, np.ndarray]) -> dict[str, float]:
    """Total-variation distance (half the L1 distance of the class shares) per group present in both readings."""
    _known_groups("real", real)
    _known_groups("fake", fake)
    groups = [g for g in GROUPS if g in real and g in fake]  # GROUPS order, so tables line up between runs
    if not groups:
        raise ValueError(
            f"tag_tv: real and fake readings share no attribute group (real {sorted(real)}, fake {sorted(fake)})"
        )
    return {
        g: float(0.5 * np.abs(_histogram("real", g, real[g]) - _histogram("fake", g, fake[g])).sum()) for g in groups
    }


@register("tag_tv", lower_is_better=True)
def tag_tv(real: dict[str, np.ndarray], fake: dict[str, np.ndarray]) -> float:
    """Mean over the shared groups of the total-variation distance between real and fake class histograms."""
    return float(np.mean(list(tag_tv_by_group(real, fake).values())))


def _hits(
    requested: dict[str, np.ndarray], read: dict[str, np.ndarray], schema: AttributeSchema = FIXED
) -> dict[str, tuple[int, int]]:
    """Per requested group: (correct, conditioned) counts, skipping samples requested as -1."""
    _known_groups("requested", requested, schema)
    _known_groups("read", read, schema)
    out = {}
    for g in (g for g in schema.names if g in requested):
        want = _classes("requested", g, requested[g], allow_unset=True, schema=schema)
        if g not in read:
            raise ValueError(f"cond_accuracy: group {g!r} was requested but the readings lack it (have {sorted(read)})")
        got = _classes("read", g, read[g], allow_unset=False, schema=schema)
        if len(got) != len(want):
            raise ValueError(f"cond_accuracy: {len(want)} requested but {len(got)} read values for group {g!r}")
        on = want >= 0
        out[g] = (int((got[on] == want[on]).sum()), int(on.sum()))
    return out


def cond_accuracy_by_group(
    requested: dict[str, np.ndarray], read: dict[str, np.ndarray], schema: AttributeSchema = FIXED
) -> dict[str, float]:
    """Per requested group of `schema`, the share of conditioned samples read back as requested; groups never
    conditioned (all -1) are left out rather than reported as 0 or NaN."""
    return {g: hit / n for g, (hit, n) in _hits(requested, read, schema).items() if n}


@register("cond_accuracy", lower_is_better=False)
def cond_accuracy(requested: dict[str, np.ndarray], read: dict[str, np.ndarray]) -> float:
    """Share of conditioned (sample, group) pairs whose read class equals the requested one, pooled over groups."""
    counts = _hits(requested, read).values()
    n = sum(c for _, c in counts)
    if n == 0:
        raise ValueError("cond_accuracy: nothing was conditioned (every requested value is -1, or no groups given)")
    return sum(h for h, _ in counts) / n
