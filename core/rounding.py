"""The one rounding rule of the figures the stages write: floats to 4 decimals, dicts walked (keys and order kept)."""

from __future__ import annotations


def rounded(d):
    """Figures to 4 decimals, nested: a float is rounded, a dict's values are rounded in turn, anything else is kept
    as it is (ints, bools, strings, None, lists)."""
    if isinstance(d, dict):
        return {k: rounded(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d
