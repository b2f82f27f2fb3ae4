"""Pull: the finished annotations of both projects into labeling/exports/{pose,tags}.json (committed), never losing one.

The committed exports are the record (labeling/record.py). A pull writes the server's annotations only when doing so
drops nothing and silently changes nothing that the record holds; otherwise it is refused (exit 2) with what
differs, and no file is touched:

- the server has other projects than the ones last recorded (labeling/projects.json: a reset server, or
  LABEL_STUDIO_URL pointing at another server), or none;
- it has fewer annotated tasks than the exports, or lacks an annotation that they hold;
- it holds an annotation of the record with other content and no later update time.

An annotator's edit (other content, a later update time) is taken and listed under `updated`. `--allow-removal`
(`allow_removal=True`) writes the server's state anyway and records its projects: removing annotations on purpose.
A fresh or reset server is filled from the record by `python -m labeling.sync restore` (labeling/restore.py).

Only what the `label` stage and a restore read is kept, in a stable order (labeling/formats.normalise_export); a
file is rewritten only when its content changed, so unchanged annotations leave the same bytes and DVC re-runs
nothing. What the server sent that could not be read is listed under `problems`.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.atomic import write_text
from core.errors import BadInput
from labeling import record
from labeling.client import PROJECTS, Server, find_project
from labeling.formats import normalise_export
from labeling.record import EXPORTS, ProjectRecord


def authors(ls) -> dict[int, str]:
    """user id -> e-mail, for the users this token can see (an annotation's author is kept by e-mail)."""
    return {u.id: u.email for u in ls.users.list() if u.email}


def export_tasks(ls, project: int, id_offset: int = 0, users: dict[int, str] | None = None) -> tuple[list, list]:
    """(annotated tasks, problems) of `project` as the exports keep them (labeling/formats.normalise_export)."""
    raw = b"".join(ls.projects.exports.download_sync(project, export_type="JSON", download_all_tasks=False))
    try:
        tasks = json.loads(raw or b"[]")
    except (ValueError, RecursionError) as err:
        return [], [{"ref_id": None, "annotation": None, "problem": f"the server's export is not JSON ({err})"}]
    return normalise_export(tasks, users if users is not None else authors(ls), id_offset)


def project_record(project) -> ProjectRecord:
    return ProjectRecord(id=int(project.id), created_at=project.created_at.isoformat())


def pull(srv: Server, exports: Path = EXPORTS, projects: Path | None = None, allow_removal: bool = False) -> dict:
    """Per project kind: annotated tasks, whether the export file changed, updated/added/removed annotations and
    the server's unreadable rows. Raises BadInput (exit 2, nothing written) when the server would lose work."""
    projects = projects or exports.parent / "projects.json"
    ls = srv.client()
    recorded = record.read_projects(projects)
    users = authors(ls)
    plans, refusals, out = {}, [], {}
    new_record = dict(recorded)
    for kind in PROJECTS:
        old = record.read_exports(kind, exports)
        rec = recorded.get(kind)
        project = find_project(ls, kind)
        here = project_record(project) if project is not None else None
        if rec is not None and (here is None or (here.id, here.created_at) != (rec.id, rec.created_at)):
            found = here.describe() if here is not None else f"no project {PROJECTS[kind]!r}"
            refusals.append(f"{kind}: the exports come from {rec.describe()}, the server has {found}")
        same = rec is not None and here is not None and (here.id, here.created_at) == (rec.id, rec.created_at)
        offset = rec.id_offset if same else 0  # another project (even under a reused id) starts from its own ids
        tasks, problems = export_tasks(ls, project.id, offset, users) if project is not None else ([], [])
        cmp = record.compare(old, tasks)
        if cmp.server_tasks < cmp.recorded_tasks:
            refusals.append(
                f"{kind}: the server has {cmp.server_tasks} annotated tasks, the exports {cmp.recorded_tasks}"
            )
        if cmp.missing:
            refusals.append(
                f"{kind}: {len(cmp.missing)} annotations of the exports are not on the server "
                f"({record.describe_keys(cmp.missing)})"
            )
        if cmp.conflicts:
            refusals.append(
                f"{kind}: {len(cmp.conflicts)} annotations differ from the exports without a later "
                f"update ({record.describe_keys(cmp.conflicts)})"
            )
        if here is not None:
            new_record[kind] = ProjectRecord(here.id, here.created_at, offset)
        else:
            new_record.pop(kind, None)
        if project is None and not old:
            continue  # nothing here and nothing recorded: no file to write
        plans[kind] = record.merge(old, tasks)
        out[kind] = {
            "tasks": len(tasks),
            "updated": [f"{r}#{a}" for r, a in cmp.updated],
            "added": len(cmp.added),
            "removed": len(cmp.missing),
            "problems": problems[:20],
        }
    if refusals and not allow_removal:
        raise BadInput(
            "pull refused, nothing written: " + "; ".join(refusals) + ". The committed exports are the record: "
            "`python -m labeling.sync restore` fills a fresh or reset server from them; `pull --allow-removal` "
            "writes the server's state anyway"
        )
    for kind, tasks in plans.items():
        text = record.export_text(tasks)
        path = exports / f"{kind}.json"
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            write_text(path, text)
        out[kind]["changed"] = changed
    record.write_projects(new_record, projects)
    return out
