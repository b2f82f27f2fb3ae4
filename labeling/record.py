"""The committed record of the annotators' work: labeling/exports/{pose,tags}.json and the projects they came from.

Annotations are the one thing nobody can regenerate, so the exports in git are the record and a server is only where
new work happens. `labeling/projects.json` records, per kind, the Label Studio project the exports were last pulled
from (its id and creation time, which a reset server or another server cannot repeat) and the offset its annotation
ids carry in the exports (labeling/formats.annotation_key; 0 on the first server, set by a restore).

`compare` holds a server's export against the record, annotation by annotation (keyed by task ref_id and annotation
id): what the server lacks (`missing`), what it changed after the record was written (`updated`: an annotator's
edit, with a later update time), what it changed without one (`conflicts`: another server's annotation under the
same id), and what is new (`added`). `merge` writes the server's state while keeping the record's entry, times
included, for every annotation whose content did not change, so that a pull of unchanged work gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.atomic import write_text
from core.errors import BadInput

EXPORTS = Path("labeling/exports")
PROJECTS = Path("labeling/projects.json")

Key = tuple[str, int]  # (task ref_id, annotation id)


@dataclass(frozen=True)
class ProjectRecord:
    id: int
    created_at: str
    id_offset: int = 0

    def describe(self) -> str:
        return f"project #{self.id} created {self.created_at}"


def read_exports(kind: str, exports: Path = EXPORTS) -> list[dict]:
    """The committed export of `kind` ([] when there is none yet); an unreadable one stops everything (exit 2)."""
    path = exports / f"{kind}.json"
    if not path.exists():
        return []
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise BadInput(
            f"{path}: not a readable export ({err}); restore it from git (`git checkout -- {path}`)"
        ) from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise BadInput(f"{path}: expected a list of tasks as labeling.sync pull writes it; restore it from git")
    return tasks


def export_text(tasks: list[dict]) -> str:
    return json.dumps(tasks, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_projects(path: Path = PROJECTS) -> dict[str, ProjectRecord]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {kind: ProjectRecord(**rec) for kind, rec in doc.items()}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise BadInput(f"{path}: not a readable project record ({err}); restore it from git") from None


def write_projects(projects: dict[str, ProjectRecord], path: Path = PROJECTS) -> bool:
    """Write the record when it changed; True if it did."""
    doc = {kind: vars(rec) for kind, rec in sorted(projects.items())}
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def annotations_by_key(tasks: list[dict]) -> dict[Key, dict]:
    out = {}
    for t in tasks:
        for a in t.get("annotations") or []:
            if isinstance(a, dict) and isinstance(a.get("id"), int):
                out[(str(t.get("ref_id")), a["id"])] = a
    return out


def _content(a: dict) -> str:
    return json.dumps({"result": a.get("result"), "completed_by": a.get("completed_by")}, sort_keys=True)


def _later(new: str | None, old: str | None) -> bool:
    try:
        return datetime.fromisoformat(str(new)) > datetime.fromisoformat(str(old))
    except ValueError:
        return False


@dataclass
class Comparison:
    recorded_tasks: int
    server_tasks: int
    missing: list[Key] = field(default_factory=list)
    updated: list[Key] = field(default_factory=list)
    conflicts: list[Key] = field(default_factory=list)
    added: list[Key] = field(default_factory=list)

    @property
    def loses(self) -> bool:
        """Writing the server's state would drop or silently change an annotation of the record."""
        return bool(self.missing or self.conflicts) or self.server_tasks < self.recorded_tasks


def compare(recorded: list[dict], server: list[dict]) -> Comparison:
    old, new = annotations_by_key(recorded), annotations_by_key(server)
    cmp = Comparison(len(recorded), len(server))
    for key, a in sorted(old.items()):
        b = new.get(key)
        if b is None:
            cmp.missing.append(key)
        elif _content(a) != _content(b):
            (cmp.updated if _later(b.get("updated_at"), a.get("updated_at")) else cmp.conflicts).append(key)
    cmp.added = sorted(set(new) - set(old))
    return cmp


def merge(recorded: list[dict], server: list[dict]) -> list[dict]:
    """The server's tasks, each annotation whose content the record holds unchanged taken from the record (its
    times too: a restored annotation keeps its original ones), an updated one keeping its original creation time."""
    old = annotations_by_key(recorded)
    out = []
    for t in server:
        anns = []
        for a in t["annotations"]:
            was = old.get((t["ref_id"], a["id"]))
            if was is not None and _content(was) == _content(a):
                a = was
            elif was is not None:
                a = {**a, "created_at": was.get("created_at")}
            anns.append(a)
        out.append({**t, "annotations": anns})
    return out


def describe_keys(keys: list[Key], limit: int = 8) -> str:
    shown = ", ".join(f"{ref}#{ann}" for ref, ann in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
