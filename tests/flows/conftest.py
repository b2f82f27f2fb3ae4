"""A real Prefect server for the flow tests (started once per session by the project's own launcher), and small DVC
projects in the real layout whose stages exit with the code a test asks for."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.launch import wait_http
from tests.conftest import REPO, TOOL_ENV, free_port, run

STEP = """import json, os, pathlib, sys
name = sys.argv[1]
print("step " + name + " started")
if os.environ.get("STEP_MLFLOW"):  # an MLflow run as a stage's, tagged with the flow run (core/tracking.py)
    import mlflow
    mlflow.set_tracking_uri("sqlite:///" + os.path.abspath("mlruns/mlflow.db"))
    with mlflow.start_run(run_name=name, tags={"stage": name, "prefect_flow_run": os.environ["ANIME_FLOW_RUN"]}):
        pass
code = int(os.environ.get("STEP_EXIT_" + name.upper(), "0"))
count = os.environ.get("STEP_COUNT")
if count and code:
    with open(count, "a") as f:
        f.write("x")
if os.environ.get("STEP_SLEEP"):
    import time; time.sleep(float(os.environ["STEP_SLEEP"]))
if code:
    sys.exit(code)
src = sys.argv[2] if len(sys.argv) > 2 else None
text = (pathlib.Path(src).read_text() if src and pathlib.Path(src).is_file() else "") + name
pathlib.Path(name + ".txt").write_text(text)
json.dump({name: {"l1": len(text) / 10}}, open("m_" + name + ".json", "w"))
"""

DVC_YAML = """stages:
  a:
    cmd: python step.py a
    deps: [step.py]
    outs: [a.txt]
    metrics: [{m_a.json: {cache: false}}]
  label:
    cmd: python step.py label labeling/exports/tags.json
    deps: [step.py, a.txt, labeling/exports]
    outs: [label.txt]
    metrics: [{m_label.json: {cache: false}}]
  b:
    cmd: python step.py b label.txt
    deps: [step.py, label.txt]
    outs: [b.txt]
    metrics: [{m_b.json: {cache: false}}]
  c:
    cmd: python step.py c a.txt
    deps: [step.py, a.txt]
    outs: [c.txt]
    metrics: [{m_c.json: {cache: false}}]
"""


def make_project(root: Path) -> Path:
    """A git + DVC project: a -> label -> b, a -> c; labeling/exports is an input of `label`; committed."""
    root.mkdir(parents=True)
    (root / "step.py").write_text(STEP)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "labeling" / "exports").mkdir(parents=True)
    (root / "labeling" / "exports" / "tags.json").write_text("[]")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "init"], root)
    return root


def flow_env(api: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "STEP_", "MLFLOW_TRACKING_URI"))}
    env.update(TOOL_ENV)
    env.update(
        {
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        }
    )
    env.update(extra)
    return env


def api_post(api: str, path: str, json: dict, timeout: float = 10):
    """A POST to the Prefect API with the CSRF token its server asks for (flows/server.py turns the check on).

    A 5xx answer is retried a few times, as Prefect's own client does: its SQLite database can report itself locked
    under a loaded machine (a whole test run beside a worker polling every second). Callers that create something pass
    an idempotency key so that a retried request cannot create it twice. Any other failure raises with the answer.
    """
    import time

    import httpx

    for attempt in range(6):
        token = httpx.get(f"{api}/csrf-token", params={"client": "anime-tests"}, timeout=timeout).json()["token"]
        headers = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": "anime-tests"}
        answer = httpx.post(f"{api}{path}", json=json, headers=headers, timeout=timeout)
        if answer.status_code < 500 or attempt == 5:
            break
        time.sleep(0.5 * 2**attempt)
    assert answer.is_success, f"POST {path}: {answer.status_code} {answer.text[:500]}"
    return answer


FLOW_RUN_ID = re.compile(r"/runs/flow-run/([0-9a-f-]{36})")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """`python -m flows.server` on a free 127.0.0.1 port with a private PREFECT_HOME; SIGTERM stops it."""
    home = tmp_path_factory.mktemp("prefect")
    port = free_port()
    env = flow_env("", home)
    env.pop("PREFECT_API_URL")
    # a deployment's run that finds its concurrency slot taken is put back for this long (30 s by default): the
    # tests that queue a second run wait it out with nothing to compute
    env["PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS"] = "2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.server", "--port", str(port), "--home", str(home)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_http(f"{api}/health", proc, 120, "the Prefect server")  # fails at once if it exits
        yield {"api": api, "home": home}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
