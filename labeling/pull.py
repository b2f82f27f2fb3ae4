"""Pull: export the finished annotations of both projects to labeling/exports/{pose,tags}.json (committed).

Only what the `label` stage reads, in a stable order (labeling/formats.normalise_export); a file is rewritten only
when its content changed, so unchanged annotations leave the same bytes and DVC re-runs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.atomic import write_text
from labeling.client import PROJECTS, Server, find_project
from labeling.formats import normalise_export

EXPORTS = Path("labeling/exports")


def export_tasks(ls, project: int) -> list[dict]:
    """The project's annotated tasks as the label stage reads them (labeling/formats.normalise_export)."""
    raw = b"".join(ls.projects.exports.download_sync(project, export_type="JSON", download_all_tasks=False))
    return normalise_export(json.loads(raw or b"[]"))


def pull(srv: Server, exports: Path = EXPORTS) -> dict:
    """Per project that exists: the number of annotated tasks and whether its export file changed."""
    ls = srv.client()
    out = {}
    for kind in PROJECTS:
        project = find_project(ls, kind)
        if project is None:
            continue
        tasks = export_tasks(ls, project.id)
        text = json.dumps(tasks, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        path = exports / f"{kind}.json"
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            write_text(path, text)
        out[kind] = {"tasks": len(tasks), "changed": changed}
    return out
