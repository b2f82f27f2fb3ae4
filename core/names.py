"""The names users see, in one place: attribute groups, the 11 joints and 10 sticks, the pose families.

Everything agrees on these (the face generator, importers, tagger, pose renderer, posenet, Label Studio configs,
params validation); `core/` imports nothing above it, so these live here and not with their first user.

Attribute groups are single-choice; yes/no groups list "no" first so that index 1 means present. Joints are in this
order everywhere (labels, models, files); `left_*` is the character's own left.
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


JOINTS: tuple[str, ...] = (
    "head",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_hand",
    "right_hand",
    "pelvis",
    "left_knee",
    "right_knee",
    "left_foot",
    "right_foot",
)
STICKS: tuple[tuple[str, str], ...] = (
    ("head", "neck"),
    ("neck", "left_shoulder"),
    ("neck", "right_shoulder"),
    ("left_shoulder", "left_hand"),
    ("right_shoulder", "right_hand"),
    ("neck", "pelvis"),
    ("pelvis", "left_knee"),
    ("pelvis", "right_knee"),
    ("left_knee", "left_foot"),
    ("right_knee", "right_foot"),
)
POSE_FAMILIES: tuple[str, ...] = ("standing", "walking", "running", "sitting", "arms_raised", "waving", "kicking")
# the images of each pose: input, target, reference, and the one-colour figure a person draws
POSE_KINDS: tuple[str, ...] = ("stick", "sketch", "projection", "drawn")
