"""The one MLflow helper every training stage uses: open a run with lineage, log metrics and figures, register.

By default the store is local: SQLite at `<repo>/mlruns/mlflow.db` (an absolute URI, so the working folder does not
matter) and artifacts under `<repo>/mlruns/artifacts/`; `$ANIME_MLFLOW_STORE` moves that folder (a scheduled run's
clone logs into its checkout's store), `MLFLOW_TRACKING_URI` points elsewhere (a server).

Every run carries the lineage tags `git_commit`, `git_dirty` (the code or params differ from the commit; the
pipeline's own records such as dvc.lock and metrics/ do not count), `profile`, `stage`, `params_digest` and one
`dvc_md5/<path>` per input (DVC's hash of what the run read, computed from the data, not copied from dvc.lock),
plus the params of the sections it read, and `prefect_flow_run` when a Prefect flow run started the stage
(`$ANIME_FLOW_RUN`: the run's artifact links to these runs). Registered versions carry the same tags. Models are registered as bundles
(safetensors + JSON + arrays): nothing is pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

from core.errors import Transient
from core.hashing import file_digest
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
        for body in _expanded(stage):
            for field in ("outs", "metrics", "plots"):
                for entry in body.get(field) or []:
                    records.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return records


def _expanded(stage: dict) -> list[dict]:
    """A dvc.yaml stage as DVC runs it: a `foreach`/`do` stage gives one body per item, with `${key}`, `${item}` and
    `${item.<field>}` put in as DVC does; a plain stage is itself."""
    if "foreach" not in stage:
        return [stage]
    items = stage["foreach"]
    pairs = list(items.items()) if isinstance(items, dict) else [(str(i), i) for i in items or []]

    def put(node, values: dict[str, str]):
        if isinstance(node, dict):
            return {put(k, values): put(v, values) for k, v in node.items()}
        if isinstance(node, list):
            return [put(v, values) for v in node]
        if isinstance(node, str):
            for name, value in values.items():
                node = node.replace("${" + name + "}", value)
        return node

    bodies = []
    for key, item in pairs:
        values = {"key": str(key)}
        if isinstance(item, dict):
            values.update({f"item.{field}": str(v) for field, v in item.items()})
        else:
            values["item"] = str(item)
        bodies.append(put(stage.get("do") or {}, values))
    return bodies


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


def dvc_md5(path: str | os.PathLike[str]) -> str:
    """The md5 DVC gives this file or folder (folders: md5 of the sorted entry list, ending in `.dir`), computed from
    what is on disk now: the hash of what a run reads, equal to dvc.lock's only when the data is what DVC recorded."""
    p = Path(path)
    if p.is_dir():
        entries = [
            {"md5": file_digest(f, "md5"), "relpath": f.relative_to(p).as_posix()}
            for f in sorted(p.rglob("*"))
            if f.is_file()
        ]
        blob = json.dumps(entries, sort_keys=True).encode()
        return hashlib.md5(blob).hexdigest() + ".dir"
    return file_digest(p, "md5") if p.exists() else "missing"


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
    if os.environ.get("ANIME_FLOW_RUN"):  # the Prefect flow run that ran this stage (flows/pipeline.py)
        tags["prefect_flow_run"] = os.environ["ANIME_FLOW_RUN"]
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


def log_step_image(img: np.ndarray, key: str, step: int) -> None:
    """Log an RGB uint8 image as the run's image `key` at training step `step`: MLflow keeps every step (under
    `images/`, with a compressed copy), and its UI shows them over training with a step slider, in one run and
    across the runs compared."""
    import mlflow

    mlflow.log_image(img, key=key, step=int(step), synchronous=True)


def image_steps(client: Any, run_id: str, key: str) -> list[int]:
    """The steps at which a run logged image `key` (log_step_image), in order."""
    steps = []
    for a in client.list_artifacts(run_id, "images"):
        name = a.path.rsplit("/", 1)[-1]
        if name.startswith(f"{key.replace('/', '~')}+step+") and name.endswith(".png"):
            steps.append(int(name.split("+step+")[1].split("+")[0]))
    return sorted(steps)


def log_figure(fig: Any, name: str) -> None:
    """Log a matplotlib figure as an artifact."""
    import mlflow

    mlflow.log_figure(fig, name)


# logs a bundle as an MLflow model of the active run for a registered name: the model's id, or None to register the
# bundle alone (serve/pyfunc.log_model: a pyfunc model that loads the bundle as the service does)
LogModel = Callable[[Path, str], "str | None"]


def register_bundle(
    bundle_dir: str | os.PathLike[str],
    name: str,
    tags: Mapping[str, str] | None = None,
    log_model: LogModel | None = None,
) -> str:
    """Register `bundle_dir` (safetensors + JSON + arrays) as a new version of `name` from the active run.

    With `log_model`, the version is the MLflow model it logs (`mlflow.pyfunc.load_model("models:/<name>/<version>")`),
    the bundle inside it; without, or when it declines, the bundle alone as artifacts `model/` of the run.
    `download_version` gives the bundle either way. Returns the new version number; the version gets the run's
    lineage tags (plus `tags`). Aliases are moved by models/promote.py alone.
    """
    mlflow, client = connect()
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("register_bundle needs an active run (use tracking.start_run)")
    model_id = log_model(Path(bundle_dir), name) if log_model is not None else None
    if model_id is None:
        mlflow.log_artifacts(str(bundle_dir), artifact_path="model")
    source = f"models:/{model_id}" if model_id else f"{run.info.artifact_uri}/model"
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException as err:
        if "RESOURCE_ALREADY_EXISTS" not in str(err.error_code):
            raise
    run_tags = client.get_run(run.info.run_id).data.tags
    version_tags = {k: v for k, v in run_tags.items() if not k.startswith("mlflow.")}
    version_tags.update(tags or {})
    mv = client.create_model_version(name, source, run.info.run_id, tags=version_tags, model_id=model_id)
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
    """Download registered version `version` of `name` into `dst`; returns the local folder of its bundle (inside
    the MLflow model where the version is one, its artifact `bundle`). Of an MLflow model only its MLmodel file and
    the bundle come down, not the copy of the project's code every logged model carries (about 130 files)."""
    mlflow, client = connect()
    from mlflow.models import Model

    root = client.get_model_version_download_uri(name, version).rstrip("/")
    if "MLmodel" not in {Path(f.path).name for f in mlflow.artifacts.list_artifacts(artifact_uri=root)}:
        return mlflow.artifacts.download_artifacts(artifact_uri=root, dst_path=str(dst))  # a bundle alone
    meta = Path(dst) / ".mlmodel"
    mlmodel = mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/MLmodel", dst_path=str(meta))
    artifacts = Model.load(mlmodel).flavors.get("python_function", {}).get("artifacts", {})
    shutil.rmtree(meta, ignore_errors=True)
    if "bundle" not in artifacts:
        raise ValueError(f"{name} version {version}: its MLflow model has no artifact 'bundle' ({sorted(artifacts)})")
    path = PurePosixPath(artifacts["bundle"]["path"])
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{name} version {version}: its bundle's path {path} is outside the model")
    return mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{path}", dst_path=str(dst))


def code_identity(cwd: Path = REPO) -> str:
    """The code a run used: the commit, plus a digest of the local changes to code and params (tracked files other
    than the pipeline's records and the documentation, and untracked Python files) when there are any."""
    commit, dirty = git_state(cwd)
    if commit == "unknown":
        return commit
    skip = [f":(exclude){r}" for r in sorted(pipeline_records(cwd))] + [":(exclude)*.md"]
    try:
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z", "--", "*.py"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        names = sorted(n for n in untracked.split("\0") if n)
        if not dirty and not names:
            return commit
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--binary", "--", ".", *skip], cwd=cwd, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    h = hashlib.sha256(diff)
    for name in names:
        h.update(name.encode() + b"\0" + file_digest(cwd / name, "md5").encode())
    return f"{commit}+{h.hexdigest()[:16]}"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


UNIT_TAG = "unit_key"  # on a registered version: the unit of work it is the result of (Units)
DONE_TAG = "stage_done"  # "true" once the stage run that registered it finished


PLOTS = "plots"  # a stage output's DVC plots folder (models/engine/plots.py), where a taken-up unit's plots return


def _restore_plot(src_root: Path, dst_root: Path, rel: object, what: str) -> None:
    """Move one downloaded plot file `rel` from `src_root` to the same place under `dst_root`, refusing any path
    that would leave it."""
    parts = Path(rel).parts if isinstance(rel, str) else ()
    if not parts or Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what}: plot file {rel!r} is not a relative path inside the plots folder")
    dst = dst_root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src_root / rel, dst)


class Units:
    """The models one stage run registers, each a unit of work under a key; a retried stage takes the units an
    earlier attempt already registered from the registry instead of training them again.

    A unit's key digests the code (`code_identity`), the stage, the unit's name, all params and what the stage read
    (DVC's md5 of each input). `register` logs the unit's figures and extra files to its MLflow run (`unit/`) and then
    registers its bundle with the key as tag `unit_key`: a version exists only once everything needed to take it up
    again is stored. `earlier` finds such a version that no finished stage run owns yet (a stage that failed after
    registering it, e.g. when the tracking server went away before the next unit), downloads its bundle and files
    into `out` and returns its figures. `complete` marks the stage run's versions done (`stage_done`), so that
    `dvc repro --force` of a finished stage trains anew.
    """

    def __init__(self, params: Params, stage: str, inputs: list[str], log_model: LogModel | None = None):
        digest = hashlib.sha256(params.model_dump_json().encode()).hexdigest()
        self.base = [code_identity(), stage, digest, sorted((Path(p).as_posix(), dvc_md5(p)) for p in inputs)]
        self.versions: list[tuple[str, str]] = []
        self.log_model = log_model  # how each bundle becomes an MLflow model (register_bundle)

    def key(self, unit: str) -> str:
        return hashlib.sha256(json.dumps([*self.base, unit]).encode()).hexdigest()[:32]

    def earlier(self, unit: str, model: str, out: Path, bundle_to: Path | None = None) -> dict | None:
        """The figures of `unit` if an unfinished earlier attempt registered it, with `version`; its files are then in
        `out`, its bundle at `bundle_to` (default: in `out` under the name it was registered from)."""
        if self.base[0] == "unknown":  # outside a git checkout the code cannot be told apart: train anew
            return None
        mlflow, client = connect()
        key = self.key(unit)
        try:
            found = client.search_model_versions(f"name = '{model}' and tags.{UNIT_TAG} = '{key}'")
        except mlflow.exceptions.MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        found = [v for v in found if v.tags.get(DONE_TAG) != "true"]
        if not found:
            return None
        mv = min(found, key=lambda v: int(v.version))
        import tempfile

        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".unit-") as tmp:  # in `out`: moves are renames
            got = Path(mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="unit", dst_path=tmp))
            doc = json.loads((got / "unit.json").read_text(encoding="utf-8"))
            for name in [doc["bundle"], *doc["files"]]:
                if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
                    raise ValueError(f"{model} version {mv.version}: unit file name {name!r} is not a plain name")
            bundle = Path(download_version(model, str(mv.version), Path(tmp) / "version"))
            for name in doc["files"]:
                os.replace(got / "files" / name, out / name)
            for rel in doc.get("plots", []):
                _restore_plot(got / "plots", out / PLOTS, rel, f"{model} version {mv.version}")
            os.replace(bundle, bundle_to or out / doc["bundle"])
        if client.get_run(mv.run_id).info.status == "RUNNING":  # the attempt died before closing it
            client.set_terminated(mv.run_id, "FAILED")
        self.versions.append((model, str(mv.version)))
        print(f"{unit}: {model} version {mv.version} was registered by an earlier attempt of this stage; taken as is")
        return {**doc["figures"], "version": str(mv.version)}

    def register(
        self,
        unit: str,
        model: str,
        bundle_dir: Path,
        figures: dict,
        files: list[Path] = (),  # type: ignore[assignment]
        tags: Mapping[str, str] | None = None,
        plots: tuple[Path, list[Path]] | None = None,
    ) -> str:
        """Log the unit (figures, `files`, and `plots`: (the stage output's plots/ folder, the unit's plot files
        relative to it)) to the active run, register `bundle_dir` under the unit's key; the version."""
        import mlflow

        names = [Path(f).name for f in files]
        if len(set(names)) != len(names) or Path(bundle_dir).name in names:
            raise ValueError(f"{unit}: the unit's files need distinct names ({names}, bundle {Path(bundle_dir).name})")
        for f in files:
            mlflow.log_artifact(str(f), artifact_path="unit/files")
        rels = []
        if plots is not None:
            root, rels = plots[0], [Path(r).as_posix() for r in plots[1]]
            for rel in rels:
                parent = Path(rel).parent.as_posix()
                mlflow.log_artifact(
                    str(root / rel), artifact_path="unit/plots" + ("" if parent == "." else f"/{parent}")
                )
        doc = {"unit": unit, "bundle": Path(bundle_dir).name, "files": names, "figures": figures, "plots": rels}
        mlflow.log_text(json.dumps(doc, default=_plain), "unit/unit.json")
        tags = {**(tags or {}), UNIT_TAG: self.key(unit), "unit": unit}
        version = register_bundle(bundle_dir, model, tags, self.log_model)
        self.versions.append((model, version))
        return version

    def complete(self) -> None:
        """Mark every version this stage run registered or took up as owned by a finished stage run."""
        _, client = connect()
        for model, version in self.versions:
            client.set_model_version_tag(model, version, DONE_TAG, "true")
