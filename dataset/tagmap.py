"""Source tags (Danbooru `blonde_hair`, MLDS `blue hair`, ...) -> the attribute groups of core/names.py.

Tags are normalised (lower case, spaces and dashes to underscores) before lookup, so `blue hair` and `blue_hair`
are one tag. `ingest.tag_map` in params adds to or overrides the defaults. Tags that map to nothing are kept in the
manifest's `extra_tags` and counted in the ingest summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.names import GROUPS, UNKNOWN

DEFAULT_TAG_MAP: dict[str, str] = {
    **{f"{c}_hair": f"hair_color={c}" for c in ("black", "brown", "blonde", "red", "blue", "pink", "silver", "green")},
    "blond_hair": "hair_color=blonde",
    "white_hair": "hair_color=silver",
    "grey_hair": "hair_color=silver",
    "gray_hair": "hair_color=silver",
    "short_hair": "hair_length=short",
    "medium_hair": "hair_length=medium",
    "long_hair": "hair_length=long",
    "very_long_hair": "hair_length=long",
    "absurdly_long_hair": "hair_length=long",
    **{f"{c}_eyes": f"eye_color={c}" for c in ("blue", "green", "red", "brown", "purple")},
    "violet_eyes": "eye_color=purple",
    "glasses": "glasses=yes",
    "semi-rimless_eyewear": "glasses=yes",
    "rimless_eyewear": "glasses=yes",
    "smile": "smile=yes",
    "blush": "blush=yes",
}


def normalise(tag: str) -> str:
    return "_".join(tag.strip().lower().replace("-", "_").split())


@dataclass
class MappedTags:
    tags: dict[str, str] = field(default_factory=lambda: {g: UNKNOWN for g in GROUPS})
    extra: list[str] = field(default_factory=list)  # unmapped, normalised
    conflicts: list[str] = field(default_factory=list)  # groups given two different values (left unknown)


class TagMapper:
    def __init__(self, overrides: Mapping[str, str] | None = None):
        table = {normalise(k): v for k, v in DEFAULT_TAG_MAP.items()}
        table.update({normalise(k): v for k, v in (overrides or {}).items()})
        self.table = {k: tuple(v.split("=", 1)) for k, v in table.items()}

    def map(self, raw: Iterable[str]) -> MappedTags:
        out = MappedTags()
        seen: dict[str, set[str]] = {}
        for tag in raw:
            t = normalise(tag)
            if not t:
                continue
            hit = self.table.get(t)
            if hit is None:
                out.extra.append(t)
            else:
                seen.setdefault(hit[0], set()).add(hit[1])
        for group, values in seen.items():
            if len(values) == 1:  # `long_hair` + `very_long_hair` both say long
                out.tags[group] = next(iter(values))
            else:
                out.conflicts.append(group)
        out.extra = sorted(set(out.extra))
        return out
