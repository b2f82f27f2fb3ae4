"""The attribute groups every part of the pipeline agrees on: generator, importers, tagger, Label Studio configs.

Each group is single-choice; yes/no groups list "no" first so that index 1 means present.
"""

from __future__ import annotations

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "hair_color": ("black", "brown", "blonde", "red", "blue", "pink", "silver", "green"),
    "hair_length": ("short", "medium", "long"),
    "eye_color": ("blue", "green", "red", "brown", "purple"),
    "glasses": ("no", "yes"),
    "smile": ("no", "yes"),
    "blush": ("no", "yes"),
}
GROUPS: tuple[str, ...] = tuple(ATTRIBUTES)
UNKNOWN = ""  # an attribute nobody labelled: kept empty in tag files, ignored by losses


def index_of(group: str, value: str) -> int:
    """Class index of `value` in `group`, or -1 when unlabelled."""
    if value == UNKNOWN:
        return -1
    try:
        return ATTRIBUTES[group].index(value)
    except (KeyError, ValueError):
        raise ValueError(f"attribute {group}={value!r}: expected one of {ATTRIBUTES.get(group)}") from None
