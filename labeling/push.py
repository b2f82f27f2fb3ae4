"""Push: import new tasks into the two Label Studio projects, each with the champion model's pre-annotation.

The pose project receives the images of the pose project's own source first (`label.pose_source`, imported by
stage pose_import: real pictures, any split), then the render sketches (train split), `label.pose_tasks` in all.

Idempotent: the projects are found by title (created with labeling/pose.xml and tags.xml otherwise, their configs
kept current), a local-files storage covers each project's image folder under `<document root>/labeling/`, and an
image already imported (same `ref_id`) is never imported again. Each new image is written there as a PNG (the one
image writer, dataset/imageio.py) and imported as a task in the order labeling/candidates.py ranks them, most
uncertain first: the order Label Studio shows them.

Disputed tasks (labeling/disputes.py) go back to the queue: for each, a new task with the same image and `ref_id`
(and `requeue` = the annotations it has, `disputed` = the groups or joints in question) once every earlier task of
that image is annotated and while it has fewer than `label.max_annotations` annotations. The label stage reads all
annotations of a `ref_id` together, so the new one can resolve the dispute; a re-run adds nothing while one waits.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import BadInput
from core.names import JOINTS
from core.params import Params
from dataset.imageio import write_png
from labeling import configs, record
from labeling.candidates import Candidates, import_candidates, pose_candidates, tag_candidates
from labeling.client import PROJECTS, Server, ensure_project, ensure_storage, existing_refs, find_project, image_url
from labeling.disputes import disputed_refs
from labeling.formats import choice_results, keypoint_results
from labeling.labels import Parsed, parse_pose, parse_tags
from labeling.pull import export_tasks, project_record


def _project(ls, kind: str, label_config: str, document_root: Path, projects: Path) -> tuple[int, Path, set[str]]:
    """(project id, its image folder, the ref_ids it already has), project and storage made if absent.

    A server without the project that labeling/projects.json records (a reset or another server) is refused before
    anything is made there: new work on a new project would never be pulled beside the record. The first project of
    a kind is recorded."""
    recorded = record.read_projects(projects)
    rec, found = recorded.get(kind), find_project(ls, kind)
    here = project_record(found) if found is not None else None
    if rec is not None and (here is None or (here.id, here.created_at) != (rec.id, rec.created_at)):
        what = here.describe() if here is not None else f"no project {PROJECTS[kind]!r}"
        raise BadInput(
            f"push refused: the exports come from {rec.describe()} ({kind}), this server has {what}; "
            "`python -m labeling.sync restore` fills a fresh or reset server from the exports first"
        )
    project = ensure_project(ls, kind, label_config)
    if rec is None:
        recorded[kind] = project_record(find_project(ls, kind))
        record.write_projects(recorded, projects)
    folder = document_root / "labeling" / kind
    folder.mkdir(parents=True, exist_ok=True)
    ensure_storage(ls, project, folder)
    return project, folder, existing_refs(ls, project)


def _pose_prediction(cand: Candidates, k: int) -> dict:
    return {
        "model_version": cand.model_version,
        "score": float(1.0 / (1.0 + cand.uncertainty[k])),  # confidence in (0, 1]: 1 / (1 + heatmap spread)
        "result": keypoint_results(cand.predictions[k], cand.images.shape[1]),
    }


def _tag_prediction(cand: Candidates, k: int) -> dict:
    unc = cand.uncertainty[k]
    score = 1.0 - float(unc) if unc is not None else None  # the champion's mean top probability: its confidence
    return {"model_version": cand.model_version, "score": score, "result": choice_results(cand.predictions[k])}


def _import(ls, project: int, folder: Path, document_root: Path, cand: Candidates, data: dict, prediction) -> int:
    """Write the candidates' images and import them as tasks (with `data` and a prediction where there is one)."""
    tasks = []
    for k, ref in enumerate(cand.ids):
        path = folder / f"{ref}.png"
        write_png(path, cand.images[k])
        task = {"data": {"image": image_url(document_root, path), "ref_id": ref, **data}}
        if cand.uncertainty[k] is not None:
            task["data"]["uncertainty"] = round(float(cand.uncertainty[k]), 4)
        if cand.predictions is not None and cand.predictions[k] is not None:
            task["predictions"] = [prediction(cand, k)]
        tasks.append(task)
    if tasks:
        ls.projects.import_tasks(id=project, request=tasks, commit_to_project=True)
    return len(tasks)


def requeue(ls, project: int, kind: str, params: Params) -> list[str]:
    """Ask for one more annotation of each disputed task of `project`; returns the `ref_id`s sent back."""
    parsed = Parsed()
    tasks, _ = export_tasks(ls, project)
    if kind == "pose":
        parse_pose(tasks, parsed)
    else:
        parse_tags(tasks, configs.tag_groups(params.label.extra_groups), parsed)
    disputed = disputed_refs(parsed, params.label.joint_tolerance)[kind]
    if not disputed:
        return []
    by_ref: dict[str, list] = {}
    for t in ls.tasks.list(project=project, fields="all"):
        if t.data and str(t.data.get("ref_id")) in disputed:
            by_ref.setdefault(str(t.data["ref_id"]), []).append(t)
    new, sent = [], []
    for ref, tasks in sorted(by_ref.items()):
        done = sum(int(t.total_annotations or 0) for t in tasks)
        waiting = any(not (t.total_annotations or 0) for t in tasks)
        if waiting or done >= params.label.max_annotations:
            continue
        what = disputed[ref] if kind == "tags" else [JOINTS[j] for j in disputed[ref]]
        data = {k: v for k, v in tasks[0].data.items() if k not in ("requeue", "disputed", "uncertainty")}
        new.append({"data": {**data, "requeue": done, "disputed": ", ".join(what)}})
        sent.append(ref)
    if new:
        ls.projects.import_tasks(id=project, request=new, commit_to_project=True)
    return sent


def push(
    srv: Server,
    params: Params,
    document_root: Path = Path("data"),
    render_dir: Path = Path("data/render"),
    ingest_dir: Path = Path("data/ingest"),
    tags_auto: Path = Path("data/tagger/tags_auto.csv"),
    tag_splits: tuple[str, ...] = ("train", "val", "test"),
    pose_import_dir: Path = Path("data/pose_import"),
    projects: Path = record.PROJECTS,
) -> dict:
    """Import up to `label.pose_tasks` and `label.tag_tasks` new tasks (tags: of images in `tag_splits`), in the
    order `label.order` says; per project, the counts and model version."""
    ls = srv.client()
    out = {}
    project, folder, have = _project(ls, "pose", configs.pose_config(), document_root, projects)
    n, left, version = 0, params.label.pose_tasks, None
    if left:  # the pose project's own source first (real pictures), then the render sketches
        cand = import_candidates(pose_import_dir, left, have, params.label.order, params.seed)
        n += _import(ls, project, folder, document_root, cand, {"kind": "import"}, _pose_prediction)
        left -= len(cand.ids)
        version = cand.model_version
    if render_dir.exists() and left:
        cand = pose_candidates(render_dir, left, have, params.label.order, params.seed)
        n += _import(ls, project, folder, document_root, cand, {"kind": "sketch"}, _pose_prediction)
        version = version or cand.model_version
    if params.label.pose_tasks and (render_dir.exists() or n):
        out["pose"] = {"project": project, "imported": n, "existing": len(have), "model_version": version}
    out.setdefault("pose", {"project": project})["requeued"] = requeue(ls, project, "pose", params)
    project, folder, have = _project(
        ls, "tags", configs.tags_config(params.label.extra_groups), document_root, projects
    )
    if ingest_dir.exists() and params.label.tag_tasks:
        cand = tag_candidates(
            ingest_dir, tags_auto, params.label.tag_tasks, have, params.label.order, params.seed, tag_splits
        )
        n = _import(ls, project, folder, document_root, cand, {}, _tag_prediction)
        out["tags"] = {"project": project, "imported": n, "existing": len(have), "model_version": cand.model_version}
    out.setdefault("tags", {"project": project})["requeued"] = requeue(ls, project, "tags", params)
    return out
