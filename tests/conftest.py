"""Shared fixtures: the smoke profile, a small ingested set, and a throwaway copy of the repository."""

from __future__ import annotations

import contextlib
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

# -- several workers (make test: pytest -n 2 --dist loadgroup) -----------------------------------------------------
# Each worker computes on its share of the cores, and so does every stage or server it starts (they inherit the
# environment): two workers of two threads each on two cores would oversubscribe them, and OpenMP's waiting threads
# then slow every step many times over, not by half.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = str(max(1, (os.cpu_count() or 1) // WORKERS))

# Tests that share a session's server run on one worker, which starts it once; the tests of a module that makes a
# fixture once per module stay together, so it is made once; every other test goes to whichever worker is free. The
# heaviest groups are handed out first (pytest_xdist_make_scheduler keeps that order): the suite's wall time is at
# least its longest group's, and a long group that starts last ends last. (pytest-xdist 3.8 reads a test's group
# from a suffix it writes into the test's id, which pytest 9.2's structured ids drop: every group then splits
# silently, so pyproject.toml holds pytest under 9.2; tests/test_workers.py runs two workers to check the groups
# hold.)
SERVER_GROUPS = {"labelstudio": "labelstudio", "labelstudio_empty": "labelstudio", "prefect_server": "prefect"}
HEAVY_FIRST = (  # by their time in the last full run, longest first (bench/test_suite.py prints the durations)
    "tests/stages/test_gpu_profile.py",
    "tests/stages/test_pipeline.py",
    "labelstudio",
    "tests/serve/test_browser.py",
    "prefect",
)
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


@contextlib.contextmanager
def restored_environment():
    """os.environ as it was on entry, again on exit, whatever ran inside changed."""
    before = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != before:
            os.environ.clear()
            os.environ.update(before)


@pytest.fixture(autouse=True)
def environment_unchanged():
    """Each test leaves os.environ as it found it. Some libraries change the test process's environment for good:
    Dask's nanny, starting a local cluster's workers, sets OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS
    to 1 in its own process (distributed.nanny.pre-spawn-environ), and every stage a later test started inherited
    that and trained on one core of two (tests/test_environment.py)."""
    with restored_environment():
        yield


@pytest.fixture(autouse=True)
def private_caches(tmp_path_factory, monkeypatch):
    """Tests never write into the repository's own .cache (decode cache, extracted archives)."""
    import dataset.importer
    import dataset.sources

    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setattr(dataset.importer, "DECODE_CACHE", cache / "ingest")
    monkeypatch.setattr(dataset.sources, "CACHE_DIR", cache)


@pytest.fixture(scope="session")
def smoke_params() -> Params:
    return load_params(REPO / "params.yaml", profile="smoke")


@pytest.fixture(scope="session")
def smoke_ingest(tmp_path_factory, smoke_params) -> Path:
    """data/ingest of the smoke generated set, built once per test session."""
    from dataset.importer import ingest
    from dataset.sources import open_sources

    root = tmp_path_factory.mktemp("ingest")
    cwd = os.getcwd()
    os.chdir(root)  # the generated-source cache lands under root/.cache
    try:
        ingest(smoke_params, root / "out", open_sources(smoke_params))
    finally:
        os.chdir(cwd)
    return root / "out"


# what every command a test runs gets: the venv's tools first, no telemetry, a git identity for commits
TOOL_ENV = {
    "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    "DO_NOT_TRACK": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    # By default a stage logs to the MLflow store of the tree it runs in (a repo copy's own); `env` may point elsewhere.
    full_env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **TOOL_ENV, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def with_ingest(params: Params, sources: list[str | dict] | None = None, **updates) -> Params:
    """`params` with ingest.sources (specs or SourceParams mappings) and other ingest keys replaced, validated."""
    raw = params.model_dump()
    if sources is not None:
        raw["ingest"]["sources"] = [s if isinstance(s, dict) else {"spec": s} for s in sources]
    raw["ingest"].update(updates)
    return type(params).model_validate(raw)


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


def untrained_ruler(folder: Path, params: Params) -> Path:
    """A second ruler (the ruler stage's output) of `params`' shape with its initial weights, for a stage test that
    scores but does not judge the figures: `--ruler <folder>`."""
    import json

    import torch

    from core.hashing import file_digest
    from models.ruler.net import RulerNet

    torch.manual_seed(0)
    p = params.ruler
    RulerNet(p.width, p.size, p.dim).save(folder)
    record = {"weights_sha256": file_digest(folder / "model.safetensors")}
    (folder / "ruler.json").write_text(json.dumps(record))
    return folder


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A private local MLflow store (SQLite + artifacts under tmp_path) for one test."""
    from core import tracking

    monkeypatch.setattr(tracking, "STORE", tmp_path / "mlruns")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "mlruns"


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (at the time of asking)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every process below pid (children, their children...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    """pid's command line, '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """pid is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    """A real Label Studio server from its own venv on a free 127.0.0.1 port, shared by the session's tests.

    A migrated data dir is made once (about 35 s) and copied for the server, which then starts in seconds. Yields
    the url, the admin's credentials, the local-files document root and the server's log.
    """
    from labeling import server

    root = tmp_path_factory.mktemp("labelstudio")
    creds = server.Credentials("admin@example.com", "test-password-123", "0123456789abcdef0123456789abcdef01234567")
    docs = root / "files"
    (docs / "labeling").mkdir(parents=True)
    exe = server.ensure_venv()
    server.init_data_dir(exe, creds, root / "migrated", docs)
    server.copy_data_dir(root / "migrated", root / "data")
    port = free_port()
    proc = server.start(port, root / "data", docs, creds, log=root / "server.log")
    try:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "creds": creds,
            "docs": docs,
            "log": root / "server.log",
            "migrated": root / "migrated",  # a data dir to copy for a private server (experiments/active_learning.py)
        }
    finally:
        server.stop(proc)


@pytest.fixture
def labelstudio_empty(labelstudio):
    """The session's Label Studio with every project deleted: a test that pushes starts as on a fresh server."""
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=labelstudio["url"], api_key=labelstudio["creds"].token)
    for project in ls.projects.list():
        ls.projects.delete(id=project.id)
    return labelstudio


SHARED_SCOPES = ("class", "module", "package")  # a fixture of these scopes is made once per worker that needs it


def worker_group(item) -> str | None:
    """The worker group of a test: the session server it uses; else its module, when the test uses a fixture made once
    per module (or class, or package); else none: any worker may run it."""
    for fixture, group in SERVER_GROUPS.items():
        if fixture in item.fixturenames:
            return group
    defs = getattr(item, "_fixtureinfo", None)  # pytest's record of the fixtures the test requests, with their scopes
    if defs is not None and any(d.scope in SHARED_SCOPES for fd in defs.name2fixturedefs.values() for d in fd):
        return item.nodeid.split("::")[0]
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (its own hook renames the items by them)
def pytest_collection_modifyitems(config, items):
    groups = {id(item): worker_group(item) for item in items}
    for item in items:
        if groups[id(item)] is not None:
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    if WORKERS == 1:
        return
    rank = {g: i for i, g in enumerate(HEAVY_FIRST)}

    def heavy(item) -> int:
        return rank.get(groups[id(item)] or item.nodeid.split("::")[0], len(rank))

    items.sort(key=heavy)  # stable: the rest keep their order


def pytest_xdist_make_scheduler(config, log):
    """xdist's own loadgroup scheduler, told to hand the groups out in the collection's order (the order above):
    by default it sorts them by their number of tests, which puts a one-test group such as the gpu profile test
    behind every module group, however long it takes, and a long test that starts late ends the run late."""
    if config.getoption("dist") == "loadgroup":
        config.option.loadscopereorder = False
    return None  # xdist makes the scheduler


# -- the suite leaves the working tree as it found it --------------------------------------------------------------
# Tracked files, untracked files git does not ignore, and the DVC state a user's next `dvc repro` reads (the resolved
# params, the locks, the metrics) are fingerprinted before the session and compared after it; any difference fails
# the run and names the paths. Child processes still alive at the end (a server a test forgot) fail it too.

WATCHED = ("dvc.lock", "source.lock.json", "pose_source.lock.json", "data/params", "metrics", "labeling/exports")


def _workspace() -> dict[str, str]:
    import hashlib

    state = {}
    status = subprocess.run(
        ["git", "status", "--porcelain=v1", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True
    )
    if status.returncode == 0:
        state["git status"] = status.stdout
    for name in WATCHED:
        root = REPO / name
        for f in sorted([root] if root.is_file() else root.rglob("*") if root.is_dir() else []):
            if f.is_file():
                state[str(f.relative_to(REPO))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return state


# the interpreter's own helpers (the ingest fork server, multiprocessing's resource tracker) end with the interpreter
MULTIPROCESSING_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _children() -> list[str]:
    """Live (not zombie) processes whose parent is this one, but the interpreter's own helpers: `pid cmdline`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                cmd = cmdline(int(stat.parent.name))
                if not cmd:  # gone since its stat was read
                    continue
                if not any(h in cmd for h in MULTIPROCESSING_HELPERS):
                    out.append(f"{stat.parent.name} {cmd.strip()[:200]}")
        except (OSError, IndexError, ValueError):
            continue
    return out


def pytest_sessionstart(session):
    session.config.stash[_BEFORE] = _workspace()


@pytest.hookimpl(trylast=True)  # after pytest-xdist has stopped its workers (they are this process's children)
def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(_BEFORE, None)
    if before is None or getattr(session.config, "workerinput", None) is not None:
        return
    after = _workspace()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    left = _children()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if changed:
        detail = {k: (before.get(k, "")[:2000], after.get(k, "")[:2000]) for k in changed if k == "git status"}
        msg = f"the tests changed the working tree: {changed} {detail or ''}"
    elif left:
        msg = f"the tests left processes running: {left}"
    else:
        return
    if reporter is not None:
        reporter.write_line(f"ERROR: {msg}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[dict]()
