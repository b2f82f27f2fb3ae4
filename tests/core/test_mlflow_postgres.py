"""`make mlflow-server` as users run it: `python -m core.mlflow_server --postgres` starts a project-local PostgreSQL and
MLflow on it; a stage logs a run over HTTP, a model registers, its artifact uploads through the server and downloads
back, and the rows are in PostgreSQL. SIGTERM to the launcher alone stops MLflow, then PostgreSQL with a fast shutdown
(an open client does not hold it): exit 0, no process it started left, both ports free. `--backend-store-uri` serves
a database the launcher does not own and leaves it running; a later `--postgres` start finds the cluster and the run.

Under CI=true a machine without PostgreSQL fails that test (.ci/run installs Debian's `postgresql`); elsewhere it skips.
Quick ones: the one-line error (exit 2) without PostgreSQL, the data dir's reachability check, s3:// without boto3.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from core import mlflow_server, tracking
from core.errors import BadInput, run_main
from core.launch import wait_http
from tests.conftest import REPO, VENV_BIN, alive, descendants, free_port, run
from tests.core.test_mlflow_server import _pixel_baseline_cmd

MODEL = "pg-smoke"


def require_postgres() -> None:
    """Skip without PostgreSQL's server binaries (or, as root, its `postgres` user); under CI=true fail instead."""
    reason = None
    if mlflow_server.postgres_bindir() is None:
        reason = f"no PostgreSQL server binaries in /usr/lib/postgresql/*/bin or on PATH ({mlflow_server.PG_INSTALL})"
    else:
        try:
            mlflow_server.cluster_owner()
        except BadInput as err:
            reason = str(err)
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def command_lines(pids) -> dict[int, str]:
    out = {}
    for pid in pids:
        try:
            out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            out[pid] = "?"
    return out


def launch(root: Path, port: int, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The launcher as `make mlflow-server` runs it, with `args`; returns once it printed the URI to export."""
    cmd = [sys.executable, "-m", "core.mlflow_server", "--port", str(port), *args]
    full_env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_PORT")}
    full_env.update({"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "DO_NOT_TRACK": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    full_env.update(env or {})
    with open(root / "launcher.log", "ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=90, what="the launcher")
    except (RuntimeError, TimeoutError) as err:
        raise AssertionError(f"{err}\n{(root / 'launcher.log').read_text()[-3000:]}") from None
    deadline = time.monotonic() + 10  # the launcher polls /health too, then prints the line to export
    while f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}\n" not in (root / "launcher.log").read_text():
        assert time.monotonic() < deadline and proc.poll() is None, (root / "launcher.log").read_text()[-3000:]
        time.sleep(0.1)
    return proc


def stop_alone(proc: subprocess.Popen, ports: tuple[int, ...], root: Path, spawned: set[int], postgres=True) -> float:
    """SIGTERM to the launcher's pid only; asserts exit 0 within 60 s and nothing it started left. Returns seconds.

    What it started is read from /proc before the signal; `spawned` holds it until it is known gone (for the cleanup
    after a failure). `postgres`: the launcher runs its own PostgreSQL.
    """
    started = command_lines(descendants(proc.pid))
    spawned.update(started)
    assert any(" mlflow server " in cmd for cmd in started.values()), started
    postmasters = [cmd for cmd in started.values() if cmd.split(" ", 1)[0].endswith("/bin/postgres")]
    assert len(postmasters) == (1 if postgres else 0), started
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == 0, (root / "launcher.log").read_text()[-3000:]
    seconds = time.monotonic() - t0
    left = {pid: cmd for pid, cmd in started.items() if alive(pid)}
    assert not left, f"left running after SIGTERM: {left}"
    spawned.difference_update(started)  # all gone: their pids may be reused, never kill them later
    for port in ports:
        mlflow_server.check_port_free(port, "")  # BadInput if anything still listens
    return seconds


def kill_leftovers(proc: subprocess.Popen | None, spawned: set[int]) -> None:
    """After a failure: SIGKILL the launcher and what it started (the servers run in sessions of their own)."""
    if proc is None:
        return
    pids = spawned | (descendants(proc.pid) if proc.poll() is None else set())
    for pid in [proc.pid, *pids]:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait()


@pytest.mark.slow
def test_postgres_server_logs_registers_and_stops_on_sigterm(tmp_path, smoke_ingest, monkeypatch):
    require_postgres()
    import mlflow

    owner = mlflow_server.cluster_owner()
    # under /tmp, owned by the cluster's user: pytest's tmp_path sits below a root-only (700) folder it cannot reach
    root = Path(tempfile.mkdtemp(prefix="mlflow-pg-", dir="/tmp"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    artifacts = tmp_path / "artifacts"
    port, pg_port = free_port(), free_port()
    while pg_port == port:
        pg_port = free_port()
    url = f"http://127.0.0.1:{port}"
    own_cluster = ["--postgres", "--pg-port", str(pg_port), "--pg-data", str(root / "data")]
    own_cluster += ["--artifacts-destination", str(artifacts)]
    cluster = mlflow_server.LocalPostgres(root / "data", pg_port, mlflow_server.postgres_bindir(), owner)
    proc, spawned = None, set()
    try:
        t0 = time.monotonic()
        proc = launch(root, port, *own_cluster)
        first_start = time.monotonic() - t0

        run(_pixel_baseline_cmd(tmp_path, smoke_ingest), REPO, env={"MLFLOW_TRACKING_URI": url})
        client = mlflow.MlflowClient(tracking_uri=url)
        [logged] = client.search_runs([client.get_experiment_by_name("tagger").experiment_id])
        assert "macro_f1" in logged.data.metrics and logged.data.tags["profile"] == "smoke"

        # a bundle registered from the stage's run with the project's helper: uploaded through the server over HTTP
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps({"arch": "tiny"}))
        np.save(bundle / "w.npy", np.arange(6, dtype=np.float32))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        try:
            tracking_mlflow, _ = tracking.connect()
            with tracking_mlflow.start_run(run_id=logged.info.run_id):
                version = tracking.register_bundle(bundle, MODEL)
            mv = client.get_model_version(MODEL, version)
            assert mv.run_id == logged.info.run_id and mv.tags["profile"] == "smoke"
            assert mv.source.startswith("mlflow-artifacts:/"), mv.source
            stored = sorted(p.name for p in artifacts.rglob("*") if p.is_file())
            assert stored == ["config.json", "w.npy"], stored  # in the server's destination, not the client's disk
            back = Path(tracking.download_version(MODEL, version, tmp_path / "download"))
            assert json.loads((back / "config.json").read_text()) == {"arch": "tiny"}
            assert np.array_equal(np.load(back / "w.npy"), np.arange(6, dtype=np.float32))
        finally:
            mlflow.set_tracking_uri(None)  # no later test inherits this process's global URI

        conn = cluster.connect()  # stays open across the SIGTERM: a fast shutdown ends it, a smart one waits for it
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (logged.info.run_id,))
            assert cur.fetchall() == [("FINISHED",)]
            cur.execute("SELECT version FROM model_versions WHERE name = %s", (MODEL,))
            assert cur.fetchall() == [(int(version),)]
        conn.rollback()

        first_stop = stop_alone(proc, (port, pg_port), root, spawned)
        conn.close()
        pg_log = cluster.log.read_text()
        assert "received fast shutdown request" in pg_log and pg_log.rstrip().endswith("database system is shut down")

        # --backend-store-uri: a database the launcher does not own (this cluster, started here); SIGTERM leaves it up
        postmaster = cluster.start()
        try:
            cluster.wait_ready(postmaster)
            team = ["--backend-store-uri", cluster.uri, "--artifacts-destination", str(artifacts)]
            proc = launch(root, port, *team, env={"PGPASSFILE": str(cluster.pgpass)})
            assert client.get_run(logged.info.run_id).data.metrics == logged.data.metrics
            stop_alone(proc, (port,), root, spawned, postgres=False)
            assert postmaster.poll() is None
            cluster.connect().close()
        finally:
            if postmaster.poll() is None:
                postmaster.send_signal(signal.SIGINT)  # a fast shutdown
            assert postmaster.wait(30) == 0

        t0 = time.monotonic()
        proc = launch(root, port, *own_cluster)
        later_start = time.monotonic() - t0
        assert "new cluster" not in (root / "launcher.log").read_text().rsplit("PostgreSQL:", 1)[1]
        assert client.get_run(logged.info.run_id).data.metrics == logged.data.metrics
        assert client.get_model_version(MODEL, version).run_id == logged.info.run_id
        later_stop = stop_alone(proc, (port, pg_port), root, spawned)
        print(
            f"first start {first_start:.1f} s (initdb), later start {later_start:.1f} s; "
            f"stop {first_stop:.1f} s and {later_stop:.1f} s"
        )
    finally:
        kill_leftovers(proc, spawned)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_missing_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(mlflow_server, "postgres_bindir", lambda: None)
    monkeypatch.setattr(sys, "argv", ["mlflow_server", "--postgres"])
    with pytest.raises(SystemExit) as exit_:
        run_main(mlflow_server.main, "mlflow_server")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "apt-get install postgresql" in err, err


def test_unreachable_parent_names_the_folder_that_blocks_the_cluster_user():
    nobody = pwd.getpwnam("nobody")  # neither this user nor in its groups: only the others' bits count
    root = Path(tempfile.mkdtemp(dir="/tmp"))  # mode 700
    try:
        assert mlflow_server.unreachable_parent(root / "services" / "postgres", nobody) == root
        os.chmod(root, 0o755)
        assert mlflow_server.unreachable_parent(root / "services" / "postgres", nobody) is None
    finally:
        shutil.rmtree(root)


def test_s3_artifacts_without_boto3_fail_before_anything_starts(monkeypatch):
    monkeypatch.setattr(mlflow_server.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BadInput, match="pip install boto3"):
        mlflow_server.artifact_destination("s3://bucket/mlflow")
