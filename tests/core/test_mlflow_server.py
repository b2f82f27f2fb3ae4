"""MLflow as users run it: `make mlflow` serves the UI on 127.0.0.1, a stage logs to a real server, and a server that
is down makes a stage exit 75 (worth a retry) within seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import REPO, VENV_BIN, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} not healthy within {seconds}s")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _pixel_baseline_cmd(tmp_path, smoke_ingest) -> list[str]:
    """The pixel_baseline stage on the smoke set, as a user runs it (its metrics into tmp_path/m.json)."""
    params = tmp_path / "p.yaml"
    params.write_text((REPO / "params.yaml").read_text().replace("profile: cpu", "profile: smoke", 1))
    cmd = ["python", "-m", "stages.pixel_baseline", "--params", str(params), "--data", str(smoke_ingest)]
    return [*cmd, "--metrics", str(tmp_path / "m.json")]


@pytest.mark.slow
def test_stage_logs_to_a_real_server(tmp_path, smoke_ingest):
    port = free_port()
    # MLflow's job runner (huey consumers for trace scoring, unused here) slows the stop and leaves /dev/shm folders
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        [
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            "--artifacts-destination",
            str(tmp_path / "art"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url, proc)
        run(
            _pixel_baseline_cmd(tmp_path, smoke_ingest),
            REPO,
            env={"MLFLOW_TRACKING_URI": url},
        )
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=url)
        runs = client.search_runs([client.get_experiment_by_name("tagger").experiment_id])
        assert runs and "macro_f1" in runs[0].data.metrics and runs[0].data.tags["profile"] == "smoke"
    finally:
        stop(proc)


@pytest.mark.slow
def test_make_mlflow_serves_the_ui_on_localhost():
    port = free_port()
    proc = subprocess.Popen(
        ["make", "-s", "mlflow", f"MLFLOW_PORT={port}"],
        cwd=REPO,
        env={**os.environ, "MLFLOW_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_health(f"http://127.0.0.1:{port}", proc, seconds=90)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"MLflow" in r.read()
    finally:
        stop(proc)


def test_server_down_is_transient_exit_75(tmp_path):
    """The server is checked before any work: with data that does not even exist the stage still says 75 (not 2),
    so nothing expensive ran first. The time bound only guards against a hang (a 5 s connect timeout, no retries)."""
    t0 = time.time()
    proc = run(
        _pixel_baseline_cmd(tmp_path, tmp_path / "no-such-ingest"),
        REPO,
        check=False,
        env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"},
    )
    assert proc.returncode == 75, proc.stderr
    assert time.time() - t0 < 60
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.json").exists()
