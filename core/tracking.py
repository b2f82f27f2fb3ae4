"""The one MLflow helper every training stage uses: open a run with lineage, log metrics and figures, register.

By default the store is local: SQLite at `<repo>/mlruns/mlflow.db` (an absolute URI, so the working folder does not
matter) and artifacts under `<repo>/mlruns/artifacts/`; `$ANIME_MLFLOW_STORE` moves that folder (a scheduled run's
clone logs into its checkout's store), `MLFLOW_TRACKING_URI` points elsewhere (a server).

Every run carries the lineage tags `git_commit`, `git_dirty` (the code or params differ from the commit; the
pipeline's own records such as dvc.lock and metrics/ do not count), `profile`, `stage`, `params_digest` and one
`dvc_md5/<path>` per input (DVC's hash of what the run read, computed from the data, not copied from dvc.lock),
plus the params of the sections it read. Registered versions carry the same tags. Models are registered as bundles
(safetensors + JSON + arrays): nothing is pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.errors import Transient
from core.params import Params

REPO = Path(__file__).resolve().parent.parent
# ANIME_MLFLOW_STORE: another checkout's store (a scheduled run's workspace clone shares the checkout's: flows/)
STORE = Path(os.environ.get("ANIME_MLFLOW_STORE") or REPO / "mlruns")


def default_uri() -> str:
    return f"sqlite:///{STORE / 'mlflow.db'}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_uri()


def artifact_root() -> str:
    return (STORE / "artifacts").as_uri()


def check_server(uri: str, timeout: float = 5.0) -> None:
    """An http(s) tracking URI must answer /health; if not, the run is worth retrying later (exit 75)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as err:
        raise Transient(f"MLflow tracking server {uri} is unreachable ({err}); retry when it is up") from None


def connect():
    """(mlflow, MlflowClient) on the configured store; an http(s) server that is down is a Transient (exit 75)."""
    import mlflow

    if tracking_uri().startswith(("http://", "https://")):
        check_server(tracking_uri())
    mlflow.set_tracking_uri(tracking_uri())
    if tracking_uri().startswith("sqlite:///"):
        Path(tracking_uri().removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return mlflow, mlflow.MlflowClient()


def preflight() -> None:
    """Fail fast, before any expensive work, when the tracking server is down (exit 75)."""
    connect()


def experiment_id(name: str) -> str:
    mlflow, client = connect()
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    # (mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI, so compare URIs rather than test the variable.)
    location = f"{artifact_root()}/{name}" if tracking_uri() == default_uri() else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created meanwhile by another process
        return client.get_experiment_by_name(name).experiment_id


def pipeline_records(cwd: Path = REPO) -> set[str]:
    """The git-tracked files the pipeline itself writes: dvc.lock, source.lock.json and every stage's metrics, plots
    and outs of dvc.yaml. A change to them is a run's record, not a change to the code or the params."""
    records = {"dvc.lock", "source.lock.json", "pose_source.lock.json"}
    try:
        stages = (yaml.safe_load((cwd / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError):
        return records
    for stage in stages.values():
        for field in ("outs", "metrics", "plots"):
            for entry in stage.get(field) or []:
                records.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return records


def git_state(cwd: Path = REPO) -> tuple[str, bool]:
    """(commit, dirty): dirty when a tracked file other than the pipeline's own records (`pipeline_records`) and the
    Markdown documentation differs from the commit, i.e. the code, the params or committed inputs; ("unknown", True)
    outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "-z", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    records = pipeline_records(cwd)
    entries, paths = iter(changed.split("\0")), []
    for entry in entries:
        if len(entry) > 3:
            paths.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:  # a rename or copy: its source path is the next entry, bare
                paths.append(next(entries, ""))

    def recorded(path: str) -> bool:  # a run's own record, or documentation
        return path.endswith(".md") or any(path == r or path.startswith(r.rstrip("/") + "/") for r in records)

    return commit, any(not recorded(p) for p in paths)


def _md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dvc_md5(path: str | os.PathLike[str]) -> str:
    """The md5 DVC gives this file or folder (folders: md5 of the sorted entry list, ending in `.dir`), computed from
    what is on disk now: the hash of what a run reads, equal to dvc.lock's only when the data is what DVC recorded."""
    p = Path(path)
    if p.is_dir():
        entries = [
            {"md5": _md5_file(f), "relpath": f.relative_to(p).as_posix()} for f in sorted(p.rglob("*")) if f.is_file()
        ]
        blob = json.dumps(entries, sort_keys=True).encode()
        return hashlib.md5(blob).hexdigest() + ".dir"
    return _md5_file(p) if p.exists() else "missing"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def lineage_tags(params: Params, stage: str, inputs: list[str]) -> dict[str, str]:
    commit, dirty = git_state()
    digest = hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16]
    tags = {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "profile": params.profile,
        "stage": stage,
        "params_digest": digest,
    }
    for p in inputs:
        key = re.sub(r"[^A-Za-z0-9_. /-]", "_", Path(p).as_posix()).replace("..", "__").strip("/")
        tags[f"dvc_md5/{key}"] = dvc_md5(p)
    return tags


@contextlib.contextmanager
def start_run(
    experiment: str, params: Params, stage: str, sections: list[str], inputs: list[str], run_name: str | None = None
) -> Iterator[Any]:
    """Open an MLflow run in `experiment` with lineage tags and the params of `sections`; yields the run."""
    mlflow, _ = connect()
    dumped = params.model_dump(mode="json")
    logged = _flatten({s: dumped[s] for s in sections})
    logged.update({"profile": params.profile, "seed": params.seed})
    with mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name) as run:
        mlflow.set_tags(lineage_tags(params, stage, inputs))
        mlflow.log_params({k: str(v)[:6000] for k, v in logged.items()})
        yield run


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log numeric metrics; nested dicts become `a/b` names (MLflow allows letters, digits, `_ - . /`, spaces)."""
    import mlflow

    flat = {
        k.replace(".", "/").replace("=", "/"): float(v)  # tag names (hair_color=red) as hair_color/red
        for k, v in _flatten(metrics).items()
        if isinstance(v, (int, float))
    }
    mlflow.log_metrics(flat, step=step)


def log_image(img: np.ndarray, name: str) -> None:
    """Log an RGB uint8 image [H, W, 3] (a sample grid, a plot rendered to pixels) as a PNG artifact."""
    import mlflow

    mlflow.log_image(img, artifact_file=name)


def log_figure(fig: Any, name: str) -> None:
    """Log a matplotlib figure as an artifact."""
    import mlflow

    mlflow.log_figure(fig, name)


def register_bundle(bundle_dir: str | os.PathLike[str], name: str, tags: Mapping[str, str] | None = None) -> str:
    """Log `bundle_dir` (safetensors + JSON + arrays) as artifacts `model/` of the active run and register it.

    Returns the new version number; the version gets the run's lineage tags (plus `tags`). Aliases are moved by
    models/promote.py alone.
    """
    mlflow, client = connect()
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("register_bundle needs an active run (use tracking.start_run)")
    mlflow.log_artifacts(str(bundle_dir), artifact_path="model")
    source = f"{run.info.artifact_uri}/model"
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException as err:
        if "RESOURCE_ALREADY_EXISTS" not in str(err.error_code):
            raise
    run_tags = client.get_run(run.info.run_id).data.tags
    version_tags = {k: v for k, v in run_tags.items() if not k.startswith("mlflow.")}
    version_tags.update(tags or {})
    mv = client.create_model_version(name, source=source, run_id=run.info.run_id, tags=version_tags)
    return str(mv.version)


def alias_version(name: str, alias: str) -> str | None:
    """The version of registered model `name` that `alias` points to; None when the model or the alias is absent."""
    mlflow, client = connect()
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def download_version(name: str, version: str, dst: str | os.PathLike[str]) -> str:
    """Download registered version `version` of `name` (its bundle) into `dst`; returns the local folder."""
    mlflow, _ = connect()
    return mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst))
