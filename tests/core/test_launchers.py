"""Every launcher stops what it started on SIGTERM, as on Ctrl-C: a supervisor, a scheduler or `docker stop` sends
SIGTERM to the launcher alone; it must end within a bounded time and leave no child (and no port) behind.

core/launch.py's Supervisor is checked on a launcher of plain sleepers first (fast), then each real launcher:
`python -m labeling.server start`, `python -m flows.server`, `python -m serve`. (The MLflow launcher's is in
tests/core/test_mlflow_postgres.py; `flows.schedule` in tests/flows/test_flows.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO, VENV_BIN, alive, descendants, free_port

BOUND_S = 30  # the launcher exits within this after SIGTERM (children get 20 s to stop, then SIGKILL)


def start(cmd: list[str], env: dict | None = None) -> subprocess.Popen:
    full = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "DO_NOT_TRACK": "1", **(env or {})}
    # a session of its own, so the finally below can clean up if the test fails; the signal goes to the pid only
    return subprocess.Popen(
        cmd, cwd=REPO, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def wait_url(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, f"exited {proc.returncode}: {proc.stdout.read()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def port_free(port: int) -> bool:
    """Nothing listens there any more (a connection is refused; TIME_WAIT sockets of past requests do not count)."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def sigterm_leaves_nothing(
    proc: subprocess.Popen, port: int | None = None, expect_children: bool = True, codes: tuple = (0,)
) -> None:
    kids = descendants(proc.pid)
    assert kids or not expect_children, "the launcher should have started its server as a child"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {BOUND_S} s after SIGTERM") from None
    took = time.monotonic() - t0
    left = [p for p in kids if alive(p)]
    assert not left, f"left running after SIGTERM: {left}"
    assert code in codes, f"exit code {code} after a requested stop: {proc.stdout.read()[-2000:]}"
    if port is not None:
        assert port_free(port), f"port {port} still taken"
    print(f"stopped in {took:.1f} s")


def cleanup(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


SLEEPERS = """
import sys, time
from core.launch import Supervisor
with Supervisor("sleepers", grace=float(sys.argv[1])) as sup:
    sup.spawn(["sleep", "600"])
    # a child that ignores SIGTERM and forks a grandchild: only SIGKILL after the grace period ends them
    sup.spawn(["sh", "-c", "trap '' TERM; sleep 600 & sleep 600"])
    print("ready", flush=True)
    sup.wait()
sys.exit(sup.exit_code)
"""


def test_supervisor_stops_stubborn_children_and_grandchildren():
    proc = start([sys.executable, "-c", SLEEPERS, "1.0"])
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        assert len(descendants(proc.pid)) >= 4
        sigterm_leaves_nothing(proc)
    finally:
        cleanup(proc)


def test_supervisor_exits_with_the_code_of_a_child_that_died():
    code = "from core.launch import Supervisor\nimport sys\nwith Supervisor('x') as s:\n"
    code += "    s.spawn(['sh', '-c', 'exit 3']); s.spawn(['sleep', '600']); s.wait()\nsys.exit(s.exit_code)"
    proc = start([sys.executable, "-c", code])
    try:
        assert proc.wait(30) == 3
    finally:
        cleanup(proc)


@pytest.mark.slow
def test_prefect_server_launcher(tmp_path):
    port = free_port()
    proc = start([sys.executable, "-m", "flows.server", "--port", str(port), "--home", str(tmp_path / "home")])
    try:
        wait_url(f"http://127.0.0.1:{port}/api/health", proc)
        sigterm_leaves_nothing(proc, port)
    finally:
        cleanup(proc)


@pytest.mark.slow
def test_labelstudio_launcher(labelstudio, tmp_path):
    """`python -m labeling.server start`: a fault found in review (SIGTERM left Label Studio orphaned on its port)."""
    data = tmp_path / "ls"
    shutil.copytree(labelstudio["migrated"], data / "data")
    creds = labelstudio["creds"]
    env = {
        "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "LABEL_STUDIO_API_KEY": creds.token,
        "LABEL_STUDIO_DOCUMENT_ROOT": str(labelstudio["docs"]),
    }
    port = free_port()
    cmd = [sys.executable, "-m", "labeling.server", "start", "--port", str(port), "--data-dir", str(data / "data")]
    proc = start(cmd, env)
    try:
        wait_url(f"http://127.0.0.1:{port}/health", proc, 180)
        sigterm_leaves_nothing(proc, port)
    finally:
        cleanup(proc)


@pytest.mark.slow
def test_serve_launcher(tmp_path):
    from tests.serve.tiny import make_deploy

    root = make_deploy(tmp_path / "deploy")
    port = free_port()
    proc = start([sys.executable, "-m", "serve", "--port", str(port), "--root", str(root)])
    try:
        wait_url(f"http://127.0.0.1:{port}/healthz", proc)
        # one process: uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit by SIGTERM)
        sigterm_leaves_nothing(proc, port, expect_children=False, codes=(0, -signal.SIGTERM))
    finally:
        cleanup(proc)


RECORDING = """
import sys
from pathlib import Path
from core.launch import Supervisor
with Supervisor("recording", grace=1.0, pidfile=Path(sys.argv[1])) as sup:
    sup.spawn(["sh", "-c", "trap '' TERM; sleep 600 & sleep 600"])
    sup.spawn(["sleep", "600"])
    print("ready", flush=True)
    sup.wait()
sys.exit(sup.exit_code)
"""


def test_a_launcher_killed_with_sigkill_leaves_a_record_the_next_one_acts_on(tmp_path):
    """SIGKILL gives a launcher no chance to stop its children; its pid file lets the next launcher stop them (and
    never a process that merely reused a recorded pid), then run its own and remove the record on a clean stop."""
    pidfile = tmp_path / "launcher.pids"
    first = start([sys.executable, "-c", RECORDING, str(pidfile)])
    orphans: set[int] = set()
    try:
        assert first.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        orphans = descendants(first.pid)
        recorded = json.loads(pidfile.read_text())["children"]
        assert len(recorded) == 2 and all(c["start"] for c in recorded)
        first.kill()  # SIGKILL: nothing stops the children
        first.wait(10)
        assert all(alive(p) for p in orphans)
        stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)  # a pid the record does not name
        doc = json.loads(pidfile.read_text())
        doc["children"].append({"pid": stranger.pid, "pgid": stranger.pid, "start": 1, "cmd": "sleep 600"})
        pidfile.write_text(json.dumps(doc))
        second = start([sys.executable, "-c", RECORDING, str(pidfile)])
        try:
            said = []
            while (line := second.stdout.readline().strip()) != "ready":
                said.append(line)
            assert len(said) == 2 and all("left by a launcher that was killed" in x for x in said), said
            assert not [p for p in orphans if alive(p)]
            assert alive(stranger.pid)  # its start time is not the recorded one: left alone
            sigterm_leaves_nothing(second)
            assert not pidfile.exists()
        finally:
            cleanup(second)
            stranger.kill()
            stranger.wait()
    finally:
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
