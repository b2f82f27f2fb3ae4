"""Sync with Label Studio, outside the DAG: push images as tasks (with model pre-annotations), pull annotations.

    python -m labeling.sync push     # (make label-sync runs push then pull)
    python -m labeling.sync pull     # labeling/exports/{pose,tags}.json, stable: unchanged annotations, same bytes

Server: `LABEL_STUDIO_URL` (default http://127.0.0.1:8080); token: `LABEL_STUDIO_API_KEY` or `.labelstudio.env`.
Exit codes: 0 done; 75 the server is down or not answering (within 10 s); 2 a bad token or bad input.

Push is idempotent: the projects are found by title (created with labeling/pose.xml and tags.xml otherwise, their
configs kept current), a local-files storage covers each project's image folder under `data/labeling/`, and an
image already imported (same `ref_id`) is never imported again. New tasks are imported most uncertain first (the
order Label Studio shows them), so annotators label what teaches the models most:

- pose: the pose sets' sketches (`label.pose_tasks` per push, from the train split), uncertainty = the spread of
  the champion posenet's heatmaps; pre-annotated with its 11 joints, `model_version` `anime-posenet/<version>`.
- tags: the ingested images (`label.tag_tasks` per push; unlabelled ones first), uncertainty = 1 - the champion
  tagger's mean top probability (tags_auto.csv); pre-annotated with its values, `model_version`
  `anime-tagger/<version>`.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInput, Transient, run_main
from labeling import configs

EXPORTS = Path("labeling/exports")
IMAGES = Path("data/labeling")
PROJECTS = {"pose": "anime-pose: 11 joints", "tags": "anime-tags: attributes"}
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 5.0


@dataclass
class Server:
    url: str
    token: str

    def request(self, path: str, timeout: float = TIMEOUT) -> int:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    def check(self) -> None:
        """Transient (75) when the server does not answer; BadInput (2) when it refuses the token."""
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=TIMEOUT) as r:
                if r.status != 200:
                    raise Transient(f"Label Studio at {self.url} is not healthy (HTTP {r.status}); retry later")
        except (urllib.error.URLError, OSError, ValueError) as err:
            msg = f"Label Studio at {self.url} does not answer ({err}); start it with `make labelstudio`"
            raise Transient(msg) from None
        status = self.request("/api/current-user/whoami")
        if status in (401, 403):
            raise BadInput(
                f"Label Studio at {self.url} refused the API token (HTTP {status}): check LABEL_STUDIO_API_KEY"
            )
        if status != 200:
            raise Transient(f"Label Studio at {self.url}: HTTP {status} on whoami; retry later")

    def client(self):
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token, timeout=60)


def connect(url: str | None = None, token: str | None = None) -> Server:
    from labeling import server as ls_server

    url = (url or os.environ.get("LABEL_STUDIO_URL") or DEFAULT_URL).rstrip("/")
    if token is None:
        try:
            token = ls_server.api_token()
        except KeyError as err:
            raise BadInput(f"no Label Studio token: {err}") from None
    srv = Server(url, token)
    srv.check()
    return srv


def ensure_project(ls, kind: str, label_config: str) -> int:
    title = PROJECTS[kind]
    for p in ls.projects.list():
        if p.title == title:
            if (p.label_config or "").strip() != label_config.strip():
                ls.projects.update(id=p.id, label_config=label_config)
            return p.id
    return ls.projects.create(title=title, label_config=label_config).id


def ensure_storage(ls, project: int, folder: Path) -> None:
    folder = folder.resolve()
    for st in ls.import_storage.local.list(project=project):
        if Path(st.path or "").resolve() == folder:
            return
    ls.import_storage.local.create(project=project, path=str(folder), title=f"{folder.name} images", use_blob_urls=True)


def existing_refs(ls, project: int) -> set[str]:
    return {str(t.data.get("ref_id")) for t in ls.tasks.list(project=project, fields="all") if t.data}


def image_url(document_root: Path, path: Path) -> str:
    rel = path.resolve().relative_to(document_root.resolve()).as_posix()
    return f"/data/local-files/?d={rel}"


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3:
        img = img[..., ::-1]
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(png.tobytes())


# -- pose ------------------------------------------------------------------------------------------------------


def keypoint_results(joints: np.ndarray, size: int) -> list[dict]:
    """11 joints in pixels (centres at integers) -> Label Studio keypoint regions (percent of the image)."""
    from dataset.skeleton import JOINTS

    out = []
    for name, (x, y) in zip(JOINTS, joints):
        out.append(
            {
                "from_name": configs.POSE_CONTROL,
                "to_name": configs.POSE_IMAGE,
                "type": "keypointlabels",
                "original_width": size,
                "original_height": size,
                "value": {
                    "x": float((x + 0.5) / size * 100),
                    "y": float((y + 0.5) / size * 100),
                    "width": 0.75,
                    "keypointlabels": [name],
                },
            }
        )
    return out


def _registered(name: str):
    """(local bundle folder, version) of the model's `champion`, or None when there is none."""
    import tempfile

    import mlflow

    from core import tracking

    try:
        _, client = tracking._client()
        mv = client.get_model_version_by_alias(name, "champion")
    except Exception:  # no store, no model, no alias: push without predictions
        return None
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{mv.version}", dst_path=tempfile.mkdtemp(prefix="bundle-")
    )
    return Path(folder), str(mv.version)


def pose_candidates(render_dir: Path, n: int, skip: set[str]):
    """(ids, sketches uint8 [k, S, S], joints [k, 11, 2] | None, uncertainty [k] | None, model_version | None)."""
    import torch

    from dataset.poseset import PoseSet
    from models.pose_train import to_input
    from models.posenet import PoseNet

    ps = PoseSet(render_dir)
    rows = [i for i in ps.rows("train") if ps.meta[i]["id"] not in skip][: max(4 * n, n)]
    ids = [ps.meta[i]["id"] for i in rows]
    sketches = np.asarray(ps.array("sketch")[rows]) if rows else np.zeros((0, ps.size, ps.size), np.uint8)
    reg = _registered("anime-posenet")
    if reg is None or not rows:
        return ids[:n], sketches[:n], None, None, None
    net = PoseNet.load(reg[0])
    x = np.repeat(sketches[..., None], 3, axis=3)
    with torch.no_grad():
        joints, logp, _ = net(to_input(x))
        p = logp.exp()
        hm = int(np.sqrt(p.shape[-1]))
        g = torch.arange(hm, dtype=p.dtype)
        px = p.reshape(*p.shape[:2], hm, hm)
        mx, my = (px.sum(2) * g).sum(-1), (px.sum(3) * g).sum(-1)
        var = (px.sum(2) * (g - mx[..., None]) ** 2).sum(-1) + (px.sum(3) * (g - my[..., None]) ** 2).sum(-1)
        spread = var.sqrt().mean(dim=1).numpy()
    order = np.argsort(-spread, kind="stable")[:n]
    return [ids[i] for i in order], sketches[order], joints.numpy()[order], spread[order], f"anime-posenet/{reg[1]}"


# -- tags ------------------------------------------------------------------------------------------------------


def tag_candidates(ingest_dir: Path, tags_auto: Path, n: int, skip: set[str]):
    """(ids, images uint8 [k, S, S, 3], predicted values per group | None, uncertainty | None, model_version)."""
    import csv

    from dataset.attributes import GROUPS
    from dataset.shards import ImageShards, read_manifest

    rows = read_manifest(ingest_dir)
    auto = {}
    if tags_auto.exists():
        with open(tags_auto, newline="", encoding="utf-8") as f:
            auto = {r["id"]: r for r in csv.DictReader(f)}
    reg_version = None
    if auto:
        reg = _registered("anime-tagger")
        reg_version = reg[1] if reg else None
    cand = []
    for i, r in enumerate(rows):
        if r["id"] in skip:
            continue
        a = auto.get(r["id"])
        unc = None
        if a:
            tops = [max(float(v) for k, v in a.items() if k.startswith(f"p:{g}=")) for g in GROUPS]
            unc = 1.0 - float(np.mean(tops))
        unlabelled = all(not r.get(g) for g in GROUPS)
        cand.append((0 if unlabelled else 1, -(unc or 0.0), i, unc))
    cand.sort()
    cand = cand[:n]
    sizes = sorted(int(p.stem.split("_")[1]) for p in ingest_dir.glob("images_*.npy"))
    shards = ImageShards(ingest_dir, sizes[-1])  # memory-mapped: only the chosen rows are read
    ids = [rows[c[2]]["id"] for c in cand]
    images = (
        np.asarray(shards.images[[c[2] for c in cand]]) if cand else np.zeros((0, sizes[-1], sizes[-1], 3), np.uint8)
    )
    preds = [{g: auto[i][g] for g in GROUPS} if i in auto else None for i in ids]
    has_pred = auto and reg_version is not None
    model_version = f"anime-tagger/{reg_version}" if has_pred else None
    return ids, images, preds if has_pred else None, [c[3] for c in cand], model_version


def choice_results(values: dict[str, str]) -> list[dict]:
    return [
        {"from_name": g, "to_name": configs.TAG_IMAGE, "type": "choices", "value": {"choices": [v]}}
        for g, v in values.items()
        if v
    ]


def push(
    srv: Server,
    params,
    document_root: Path = Path("data"),
    render_dir=Path("data/render"),
    ingest_dir=Path("data/ingest"),
    tags_auto=Path("data/tagger/tags_auto.csv"),
) -> dict:
    """Import new tasks in both projects; returns counts."""
    ls = srv.client()
    out = {}
    # pose
    pid = ensure_project(ls, "pose", configs.pose_config())
    folder = document_root / "labeling" / "pose"
    folder.mkdir(parents=True, exist_ok=True)
    ensure_storage(ls, pid, folder)
    have = existing_refs(ls, pid)
    if render_dir.exists() and params.label.pose_tasks:
        ids, imgs, joints, unc, version = pose_candidates(render_dir, params.label.pose_tasks, have)
        tasks = []
        for k, ref in enumerate(ids):
            path = folder / f"{ref}.png"
            _write_png(path, imgs[k])
            task = {"data": {"image": image_url(document_root, path), "ref_id": ref, "kind": "sketch"}}
            if unc is not None:
                task["data"]["uncertainty"] = round(float(unc[k]), 4)
            if joints is not None:
                task["predictions"] = [
                    {
                        "model_version": version,
                        "score": float(1.0 / (1.0 + unc[k])),  # confidence in (0, 1]: 1 / (1 + heatmap spread)
                        "result": keypoint_results(joints[k], imgs.shape[1]),
                    }
                ]
            tasks.append(task)
        if tasks:
            ls.projects.import_tasks(id=pid, request=tasks, commit_to_project=True)
        out["pose"] = {"project": pid, "imported": len(tasks), "existing": len(have), "model_version": version}
    # tags
    tid = ensure_project(ls, "tags", configs.tags_config(params.label.extra_groups))
    folder = document_root / "labeling" / "tags"
    folder.mkdir(parents=True, exist_ok=True)
    ensure_storage(ls, tid, folder)
    have = existing_refs(ls, tid)
    if ingest_dir.exists() and params.label.tag_tasks:
        ids, imgs, preds, unc, version = tag_candidates(ingest_dir, tags_auto, params.label.tag_tasks, have)
        tasks = []
        for k, ref in enumerate(ids):
            path = folder / f"{ref}.png"
            _write_png(path, imgs[k])
            task = {"data": {"image": image_url(document_root, path), "ref_id": ref}}
            if unc[k] is not None:
                task["data"]["uncertainty"] = round(float(unc[k]), 4)
            if preds is not None and preds[k]:
                task["predictions"] = [{"model_version": version, "result": choice_results(preds[k])}]
            tasks.append(task)
        if tasks:
            ls.projects.import_tasks(id=tid, request=tasks, commit_to_project=True)
        out["tags"] = {"project": tid, "imported": len(tasks), "existing": len(have), "model_version": version}
    return out


def _clean_result(r: dict) -> dict:
    keep = ("from_name", "to_name", "type", "value", "original_width", "original_height")
    return {k: r[k] for k in keep if k in r}


def normalise_export(tasks: list[dict]) -> list[dict]:
    """Only what the label stage reads, in a stable order: tasks by ref_id, annotations by id, regions by label."""
    out = []
    for t in tasks:
        anns = []
        for a in t.get("annotations", []):
            if a.get("was_cancelled"):
                continue
            result = sorted(
                (_clean_result(r) for r in a.get("result", [])), key=lambda r: json.dumps(r, sort_keys=True)
            )
            anns.append({"id": a["id"], "completed_by": a.get("completed_by"), "result": result})
        if anns:
            out.append(
                {
                    "ref_id": str(t["data"].get("ref_id")),
                    "image": t["data"].get("image"),
                    "annotations": sorted(anns, key=lambda a: a["id"]),
                }
            )
    return sorted(out, key=lambda t: t["ref_id"])


def pull(srv: Server, exports: Path = EXPORTS) -> dict:
    from core.atomic import write_text

    ls = srv.client()
    out = {}
    for kind, title in PROJECTS.items():
        project = next((p for p in ls.projects.list() if p.title == title), None)
        if project is None:
            continue
        raw = b"".join(ls.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=False))
        tasks = normalise_export(json.loads(raw or b"[]"))
        text = json.dumps(tasks, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        path = exports / f"{kind}.json"
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            write_text(path, text)
        out[kind] = {"tasks": len(tasks), "changed": changed}
    return out


def main() -> None:
    from core.params import load_params

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["push", "pull"])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    params = load_params(args.params)
    srv = connect(args.url)
    result = push(srv, params) if args.command == "push" else pull(srv)
    print(json.dumps({args.command: result}, sort_keys=True))


if __name__ == "__main__":
    run_main(main, "label-sync")
