"""Shared fixtures: the smoke profile, a small ingested set, and a throwaway copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.params import Params, load_params

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".venv-*",
    "data",
    "mlruns",
    ".cache",
    ".git",
    ".dvc-storage",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "cache",
    "tmp",
)


@pytest.fixture(autouse=True)
def private_caches(tmp_path_factory, monkeypatch):
    """Tests never write into the repository's own .cache (decode cache, extracted archives)."""
    import dataset.sources
    import stages.ingest

    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setattr(stages.ingest, "DECODE_CACHE", cache / "ingest")
    monkeypatch.setattr(dataset.sources, "CACHE_DIR", cache)


@pytest.fixture(scope="session")
def smoke_params() -> Params:
    return load_params(REPO / "params.yaml", profile="smoke")


@pytest.fixture(scope="session")
def smoke_ingest(tmp_path_factory, smoke_params) -> Path:
    """data/ingest of the smoke generated set, built once per test session."""
    from dataset.sources import open_source
    from stages.ingest import ingest

    root = tmp_path_factory.mktemp("ingest")
    cwd = os.getcwd()
    os.chdir(root)  # the generated-source cache lands under root/.cache
    try:
        ingest(smoke_params, root / "out", open_source(smoke_params))
    finally:
        os.chdir(cwd)
    return root / "out"


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    # By default a stage logs to the MLflow store of the tree it runs in (a repo copy's own); `env` may point elsewhere.
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "DO_NOT_TRACK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@localhost",
        **(env or {}),
    }
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def set_profile(params_file: Path, profile: str, **overrides) -> None:
    """Rewrite a params.yaml copy: choose `profile` and apply dotted overrides to that profile."""
    doc = yaml.safe_load(params_file.read_text())
    doc["profile"] = profile
    for dotted, value in overrides.items():
        node = doc["profiles"].setdefault(profile, {}) if profile != "cpu" else doc
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    params_file.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A copy of the working tree (code, params, dvc.yaml, .dvc config) in a fresh git repo, on the smoke profile."""
    dst = tmp_path / "repo"
    shutil.copytree(REPO, dst, ignore=COPY_IGNORE)
    for stale in ("dvc.lock", "source.lock.json"):
        (dst / stale).unlink(missing_ok=True)
    shutil.rmtree(dst / "metrics", ignore_errors=True)
    set_profile(dst / "params.yaml", "smoke")
    run(["git", "init", "-q"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "commit", "-qm", "copy"], dst)
    return dst


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A private local MLflow store (SQLite + artifacts under tmp_path) for one test."""
    from core import tracking

    monkeypatch.setattr(tracking, "STORE", tmp_path / "mlruns")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "mlruns"
