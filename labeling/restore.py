"""Restore: fill a fresh or reset Label Studio server from the committed exports, so a new annotator machine (or a
server whose data folder was lost) starts from what the repository holds.

    python -m labeling.sync restore

Per project kind (pose, tags), from labeling/exports/<kind>.json:

- the project (its labeling config), its local-files storage, every exported task with its data (image, ref_id,
  kind, requeue...) and its annotations: result, author and lead time. Authors are kept by e-mail: an author the
  server does not know gets an account with that e-mail (no password: an admin sets one or invites them), so
  their annotations come back under their name. Label Studio stamps an imported annotation's creation and update
  times itself; the exports keep the original ones, and a pull keeps them for every restored annotation that is
  unchanged.
- each annotation comes back with its exported id as Label Studio's `import_id`, so a pull finds it under the same
  id; the new project is recorded in labeling/projects.json with an id offset beyond every restored id, so that new
  annotations on this server never take a restored one's id (labeling/formats.annotation_key).
- the task images under the document root, where they are missing and the pipeline's outputs have them
  (data/ingest, data/render, data/pose_import); the rest are counted (run the pipeline, then restore again).

A server that already has a project of that kind with tasks the record does not know is refused (exit 2): restore
never merges into someone's work. Run again on a restored server, it finds every annotation in place, changes
nothing there, and writes only images that are still missing. After the import, the server's export is compared
with the record; any annotation that did not come back fails the restore (exit 2), and the project is recorded only
once it holds the whole record.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from core.errors import BadInput
from core.params import Params
from dataset.imageio import write_png
from labeling import configs, record
from labeling.client import PROJECTS, Server, ensure_project, ensure_storage, find_project
from labeling.pull import authors, export_tasks, project_record
from labeling.record import EXPORTS, ProjectRecord

CHUNK = 500  # tasks per import request


def _ensure_users(ls, emails: set[str]) -> list[str]:
    """Accounts for the authors the server lacks (organisation members, no password); returns the ones made."""
    known = {u.email for u in ls.users.list()}
    made = []
    for email in sorted(emails - known):
        ls.users.create(email=email, username=email)
        made.append(email)
    return made


def image_path(document_root: Path, kind: str, ref: str, url) -> Path | None:
    """Where a task's image lives under the document root, when its URL is one of this project's local files
    (`/data/local-files/?d=labeling/<kind>/<ref>.png`); None for anything else (never a path outside)."""
    if not isinstance(url, str):
        return None
    rel = parse_qs(urlparse(url).query).get("d", [""])[0]
    want = f"labeling/{kind}/{ref}.png"
    if rel != want or "/" in ref or "\\" in ref or ref in (".", ".."):
        return None
    return document_root / want


def _pipeline_images(refs: set[str], ingest: Path, render: Path, pose_import: Path) -> dict[str, np.ndarray]:
    """The images of `refs` that the pipeline's outputs hold, RGB uint8 as a push writes them."""
    from dataset.shards import ImageShards, read_manifest

    found: dict[str, np.ndarray] = {}
    for folder in (pose_import, ingest):
        if refs - found.keys() and (folder / "manifest.csv").exists():
            sizes = sorted(int(p.stem.split("_")[1]) for p in folder.glob("images_*.npy"))
            rows = [i for i, r in enumerate(read_manifest(folder)) if r["id"] in refs and r["id"] not in found]
            if rows and sizes:
                shards = ImageShards(folder, sizes[-1])
                for i in rows:
                    found[shards.ids[i]] = np.asarray(shards.images[i])
    if refs - found.keys() and (render / "info.json").exists():
        from synth.pose.poseset import PoseSet

        ps = PoseSet(render)
        rows = [int(m["index"]) for m in ps.meta if m["id"] in refs and m["id"] not in found]
        ids = {int(m["index"]): m["id"] for m in ps.meta}
        for i in rows:
            found[ids[i]] = np.repeat(np.asarray(ps.array("sketch")[i])[..., None], 3, axis=2)
    return found


def _write_images(tasks: list[dict], kind: str, document_root: Path, data: tuple[Path, Path, Path]) -> dict:
    want = {}
    for t in tasks:
        path = image_path(document_root, kind, t["ref_id"], t.get("image"))
        if path is not None and not path.exists():
            want[t["ref_id"]] = path
    found = _pipeline_images(set(want), *data) if want else {}
    for ref, img in found.items():
        write_png(want[ref], img)
    return {"written": len(found), "missing": len(want) - len(found)}


def _task(t: dict) -> dict:
    return {
        "data": {**(t.get("data") or {}), "image": t.get("image"), "ref_id": t["ref_id"]},
        "annotations": [
            {
                "id": a["id"],
                "completed_by": {"email": a["completed_by"]} if a.get("completed_by") else None,
                "result": a["result"],
                "lead_time": a.get("lead_time"),
            }
            for a in t["annotations"]
        ],
    }


def restore(
    srv: Server,
    params: Params,
    document_root: Path = Path("data"),
    exports: Path = EXPORTS,
    projects: Path | None = None,
    ingest: Path = Path("data/ingest"),
    render: Path = Path("data/render"),
    pose_import: Path = Path("data/pose_import"),
) -> dict:
    """Per project kind: what was restored (tasks, annotations, accounts made, images) or that it was in place."""
    projects = projects or exports.parent / "projects.json"
    ls = srv.client()
    recorded = record.read_projects(projects)
    committed = {kind: record.read_exports(kind, exports) for kind in PROJECTS}
    config = {"pose": configs.pose_config(), "tags": configs.tags_config(params.label.extra_groups)}
    users = authors(ls)
    out, new_record = {}, dict(recorded)
    # refuse before changing anything: a project of either kind that holds work the record does not know
    for kind in PROJECTS:
        project, rec = find_project(ls, kind), recorded.get(kind)
        if project is None or (
            rec is not None and (project.id, project_record(project).created_at) == (rec.id, rec.created_at)
        ):
            continue
        n = len(list(ls.tasks.list(project=project.id, fields="all")))
        if n:
            raise BadInput(
                f"restore refused: the server already has project {PROJECTS[kind]!r} (#{project.id}) with {n} tasks "
                "that the record does not know; restore fills a fresh or reset server only (point LABEL_STUDIO_URL "
                "at one, or pull from this server if it is the one the exports came from)"
            )
    for kind in PROJECTS:
        tasks, rec = committed[kind], recorded.get(kind)
        project = find_project(ls, kind)
        here = project_record(project) if project is not None else None
        folder = document_root / "labeling" / kind
        folder.mkdir(parents=True, exist_ok=True)
        in_place = rec is not None and here is not None and (here.id, here.created_at) == (rec.id, rec.created_at)
        entry = {"project": None, "tasks": 0, "annotations": 0, "accounts_made": []}
        if in_place:
            entry["project"] = here.id
            entry["in_place"] = True
        elif tasks or project is not None or rec is not None:
            pid = ensure_project(ls, kind, config[kind])
            ensure_storage(ls, pid, folder)
            emails = {a["completed_by"] for t in tasks for a in t["annotations"] if a.get("completed_by")}
            entry["accounts_made"] = _ensure_users(ls, emails)
            for i in range(0, len(tasks), CHUNK):
                ls.projects.import_tasks(
                    id=pid, request=[_task(t) for t in tasks[i : i + CHUNK]], commit_to_project=True
                )
            here = project_record(find_project(ls, kind))
            keys = [a["id"] for t in tasks for a in t["annotations"]]
            offset = max([*keys, rec.id_offset if rec else 0, 0])
            new_record[kind] = ProjectRecord(here.id, here.created_at, offset)
            entry.update(project=here.id, tasks=len(tasks), annotations=len(keys))
        if kind in new_record:
            back, _ = export_tasks(
                ls, new_record[kind].id, new_record[kind].id_offset, authors(ls) if entry["accounts_made"] else users
            )
            cmp = record.compare(tasks, back)
            if cmp.loses:
                lost = record.describe_keys(cmp.missing + cmp.conflicts)
                raise BadInput(f"restore of {kind}: {lost} of the exports are not on the server as recorded")
            record.write_projects(new_record, projects)  # kind by kind: a later failure keeps what is done
        entry["images"] = _write_images(tasks, kind, document_root, (ingest, render, pose_import))
        out[kind] = entry
    return out
