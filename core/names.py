"""The names users see, in one place: attribute groups, the 11 joints and 10 sticks, joint visibility, the pose families.

Everything agrees on these (the face generator, importers, tagger, pose renderer, posenet, Label Studio configs,
params validation); `core/` imports nothing above it, so these live here and not with their first user.

Attribute groups are single-choice; yes/no groups list "no" first so that index 1 means present. Joints are in this
order everywhere (labels, models, files); `left_*` is the character's own left.

`AttributeSchema` is the groups a generator is conditioned on: the six fixed ones first, then any extra group the
annotators labelled (`label.extra_groups`) that has a tagger head. Generator bundles record it (`groups` in their
config.json); a bundle without it is the fixed six (`FIXED`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True, eq=False)
class AttributeSchema:
    """Attribute groups in order (the fixed ATTRIBUTES first, then extra ones) with their values."""

    groups: Mapping[str, tuple[str, ...]]

    @classmethod
    def with_extra(cls, extra: Mapping[str, Sequence[str]] | None = None) -> AttributeSchema:
        """The fixed groups, then `extra` (group -> values) in its order."""
        clash = sorted(set(extra or {}) & set(ATTRIBUTES))
        if clash:
            raise ValueError(f"extra attribute groups {clash} are fixed groups already")
        for g, values in (extra or {}).items():
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"extra attribute group {g}: expected two or more distinct values, got {list(values)}")
        return cls({**ATTRIBUTES, **{g: tuple(v) for g, v in (extra or {}).items()}})

    @classmethod
    def recorded(cls, groups: Mapping[str, Sequence[str]] | None) -> AttributeSchema:
        """The schema a bundle's config records (`groups`; None: a bundle from before schemas, the fixed six). Its
        fixed groups must be this code's, in this code's order, before any extra one."""
        if groups is None:
            return FIXED
        names = list(groups)
        fixed = {g: list(groups[g]) for g in names[: len(GROUPS)]}
        if fixed != {g: list(v) for g, v in ATTRIBUTES.items()} or list(fixed) != list(GROUPS):
            raise ValueError(f"attribute groups {dict(groups)} differ from this code's")
        return cls.with_extra({g: groups[g] for g in names[len(GROUPS) :]})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.groups)

    @property
    def extra(self) -> tuple[str, ...]:
        """The groups beyond the fixed six."""
        return self.names[len(GROUPS) :]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Each group's value count, which is also its null (not conditioned) index."""
        return tuple(len(v) for v in self.groups.values())

    def __len__(self) -> int:
        return len(self.groups)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AttributeSchema) and self.as_config() == other.as_config()

    def __hash__(self) -> int:
        return hash(tuple(self.groups.items()))

    def index_of(self, group: str, value: str) -> int:
        """Class index of `value` in `group`, or -1 when unlabelled."""
        if value == UNKNOWN:
            return -1
        if group not in self.groups:
            raise ValueError(f"attribute group {group!r}: expected one of {', '.join(self.names)}")
        if value not in self.groups[group]:
            raise ValueError(f"attribute {group}={value!r}: expected one of {', '.join(self.groups[group])}")
        return self.groups[group].index(value)

    def as_config(self) -> dict[str, list[str]]:
        """What a bundle's config.json records (`groups`), in order."""
        return {g: list(v) for g, v in self.groups.items()}


FIXED = AttributeSchema(ATTRIBUTES)  # the six groups every tagger reads

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
# what an annotator says of each joint (Label Studio's pose config, joints.json, posenet's targets): an occluded joint
# keeps its estimated point, one out of frame has none
VISIBILITY: tuple[str, ...] = ("visible", "occluded", "out_of_frame")
POSE_FAMILIES: tuple[str, ...] = ("standing", "walking", "running", "sitting", "arms_raised", "waving", "kicking")
# the images of each pose: input, target, reference, and the one-colour figure a person draws
POSE_KINDS: tuple[str, ...] = ("stick", "sketch", "projection", "drawn")
