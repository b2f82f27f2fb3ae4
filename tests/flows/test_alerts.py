"""Someone is told when things go wrong (flows/alerts.py): against the session's real Prefect server, a failed pipeline
run posts one message to a webhook receiver on loopback, and label syncs that keep failing post one message once they
reach the threshold; `--remove` takes the automations off again."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REPO, free_port
from tests.flows.conftest import api_post, flow_env, make_project
from tests.flows.test_flows import flow_cli

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, words: str, seconds: float = 90) -> list[dict]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [m for m in self.received if words in m.get("subject", "")]
            if found:
                return found
            time.sleep(0.5)
        return []


def test_bad_arguments_are_refused_before_any_server_is_asked():
    for args in (["--webhook", "ftp://x"], [], ["--webhook", "http://x", "--label-sync-failures", "0"]):
        proc = subprocess.run([sys.executable, "-m", "flows.alerts", *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 2, (args, proc.stderr)


def test_failures_reach_the_webhook(prefect_server, tmp_path, repo_copy):
    api = prefect_server["api"]
    hook = Receiver()
    try:
        env = flow_env(api, prefect_server["home"])
        cmd = [sys.executable, "-m", "flows.alerts", "--webhook", hook.url, "--label-sync-failures", "2"]
        installed = subprocess.run([*cmd, "--within-minutes", "30"], cwd=REPO, env=env, capture_output=True, text=True)
        assert installed.returncode == 0, installed.stderr[-3000:]
        again = subprocess.run([*cmd, "--within-minutes", "30"], cwd=REPO, env=env, capture_output=True, text=True)
        assert again.returncode == 0  # re-running replaces, never doubles
        names = sorted(a["name"] for a in api_post(api, "/automations/filter", {}).json())
        assert names == ["anime: label sync failing", "anime: pipeline run failed"], names

        # a pipeline run whose first stage exits 2: one message naming the run and the stage
        proc, fr = flow_cli("pipeline", make_project(tmp_path / "proj"), prefect_server, STEP_EXIT_A="2")
        assert proc.returncode == 2 and fr["state"]["type"] == "FAILED"
        got = hook.wait_for("pipeline run")
        assert got and fr["name"] in got[0]["subject"] and "stage 'a' exited with 2" in got[0]["body"], hook.received
        assert got[0]["source"] == "anime" and f"/runs/flow-run/{fr['id']}" in got[0]["body"]

        # label syncs that fail (Label Studio unreachable): one message once two have failed, not one per failure
        down = {"LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}", "LABEL_STUDIO_API_KEY": "x" * 40}
        for _ in range(2):
            proc, fr = flow_cli("label_sync", repo_copy, prefect_server, "--retries", "0", **down)
            assert proc.returncode == 1 and fr["state"]["type"] == "FAILED"
        got = hook.wait_for("label sync failed 2 times")
        assert got and fr["name"] in got[0]["subject"], hook.received
        time.sleep(5)
        assert len(hook.wait_for("label sync failed")) == 1 and len(hook.wait_for("pipeline run")) == 1

        removed = subprocess.run([*cmd[:3], "--remove"], cwd=REPO, env=env, capture_output=True, text=True)
        assert removed.returncode == 0 and api_post(api, "/automations/filter", {}).json() == []
    finally:
        hook.server.shutdown()
        hook.server.server_close()
