"""A tracking server that blinks between two image sizes: the train stage exits 75 (worth a retry, as the flows
retry it), and the retry takes the size an earlier attempt registered from the registry instead of training and
registering it again. Against a real MLflow server behind a proxy the test switches off at a chosen request."""

from __future__ import annotations

import csv
import http.client
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from core.names import ATTRIBUTES, GROUPS
from tests.conftest import REPO, VENV_BIN, set_profile, untrained_ruler
from tests.core.test_mlflow_server import free_port, stop, wait_health

pytestmark = pytest.mark.slow

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


class Blinker:
    """An HTTP proxy to `target`: after `down_after` model versions were created through it, every request is cut
    (the connection closed without an answer) until `up()`."""

    def __init__(self, target: str, down_after: int):
        self.target, self.down_after, self.created, self.down = target, down_after, 0, False
        self.cut = 0
        blinker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self):
                if blinker.down:
                    blinker.cut += 1
                    self.close_connection = True
                    self.connection.close()
                    return
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(blinker.target, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()
                if self.command == "POST" and self.path.endswith("/model-versions/create") and resp.status == 200:
                    blinker.created += 1
                    blinker.down = blinker.created >= blinker.down_after

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def up(self) -> None:
        self.down_after, self.down = 10**9, False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    store = tmp_path / "server"
    cmd = ["mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    cmd += ["--backend-store-uri", f"sqlite:///{store / 'db.sqlite'}", "--artifacts-destination", str(store / "art")]
    store.mkdir()
    # its log to a file: a pipe nobody reads fills up (64 KB; registering MLflow models is hundreds of requests) and
    # then stalls every request the server answers
    log = open(store / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url, proc)
        yield url
    finally:
        stop(proc)
        log.close()


def _inputs(tmp_path: Path, smoke_ingest: Path) -> dict[str, Path]:
    """The label stage's tags (none) and the tagger's auto-tags (drawn at random) for the smoke set."""
    from dataset.shards import ImageShards

    rng = np.random.default_rng(0)
    labels, auto = tmp_path / "tags.csv", tmp_path / "tags_auto.csv"
    labels.write_text(",".join(["id", "source", *GROUPS]) + "\n")
    with open(auto, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *GROUPS, *(f"trusted:{g}" for g in GROUPS)])
        for split in ("train", "val", "test"):
            for ref in ImageShards(smoke_ingest, 32, split).ids:
                w.writerow(
                    [ref, *(ATTRIBUTES[g][rng.integers(len(ATTRIBUTES[g]))] for g in GROUPS), *[1] * len(GROUPS)]
                )
    return {"labels": labels, "auto_tags": auto}


def _pin(tmp_path: Path, url: str, smoke_params) -> Path:
    """A tagger registered on the server and pinned as the extractor (what the extractor stage writes)."""
    from core import tracking
    from models.tagger.net import MODEL, TaggerNet
    from stages.extractor import describe

    os.environ["MLFLOW_TRACKING_URI"] = url
    try:
        folder = tmp_path / "judge"
        TaggerNet(width=4, size=32).save(folder, {"role": "cnn", "thresholds": {}})
        with tracking.start_run("tagger", smoke_params, "tagger", ["tagger"], [], run_name="tagger-cnn"):
            version = tracking.register_bundle(folder, MODEL, tags={"role": "cnn"})
        pin = tmp_path / "pin.json"
        pin.write_text(json.dumps(describe(version)))
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    return pin


def test_a_retry_takes_the_size_an_earlier_attempt_registered(tmp_path, smoke_ingest, smoke_params, mlflow_server):
    import mlflow

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    set_profile(params, "smoke", dcgan__sizes=[32, 64], dcgan__transfer__tag="")
    files = _inputs(tmp_path, smoke_ingest)
    pin = _pin(tmp_path, mlflow_server, smoke_params)
    work = tmp_path / "work"  # the stage's working folder: docs/, .cache/ land here, not in the repository
    (work / "docs").mkdir(parents=True)
    cmd = [sys.executable, "-m", "stages.train", "--family", "dcgan", "--params", str(params)]
    cmd += ["--data", str(smoke_ingest), "--labels", str(files["labels"]), "--auto-tags", str(files["auto_tags"])]
    cmd += ["--pin", str(pin), "--judge-tagger", str(tmp_path / "judge")]
    cmd += ["--ruler", str(untrained_ruler(tmp_path / "ruler", smoke_params))]
    cmd += ["--out", str(work / "out"), "--metrics", str(work / "m.json")]
    blink = Blinker(mlflow_server.removeprefix("http://"), down_after=1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": blink.url}
    env.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"})
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)

    def versions(role: str, size: str | None = None) -> list:
        found = client.search_model_versions("name = 'anime-dcgan'")
        return [v for v in found if v.tags.get("role") == role and (size is None or v.tags.get("size") == size)]

    def runs(name: str) -> list:
        exp = client.get_experiment_by_name("dcgan")
        return [r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == name]

    try:
        first = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert first.returncode == 75, first.stderr[-3000:]
        assert "went away mid-run" in first.stderr and "Traceback" not in first.stderr
        assert blink.cut > 0 and len(versions("dcgan", "32")) == 1 and not versions("dcgan", "64")
        assert not (work / "m.json").exists() and not (work / "out").exists()

        blink.up()  # the retry runs data parallel (two gloo processes): no rank trains the size taken up
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        second = subprocess.run([*torchrun, *cmd[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "dcgan-32: anime-dcgan version 1 was registered by an earlier attempt" in second.stdout
        # size 32 neither trained nor registered again; the rest trained once
        assert [v.version for v in versions("dcgan", "32")] == ["1"] and len(runs("dcgan-32")) == 1
        assert runs("dcgan-32")[0].info.status == "FAILED"  # the attempt that died before closing it
        assert len(versions("dcgan", "64")) == 1 and len(versions("pca_gaussian")) == 1
        figures = json.loads((work / "m.json").read_text())["dcgan"]
        assert figures["dcgan"]["version"] == "1" and figures["dcgan_64"]["version"] != "1"
        assert figures["dcgan"]["steps_done"] == 12 and isinstance(figures["dcgan"]["fd_tagger"], float)
        for name in ("dcgan-32", "dcgan-64", "pca_gaussian"):
            assert (work / "out" / name / "config.json").exists(), name
        assert np.load(work / "out" / "samples.npy").shape[0] == 64 and (work / "docs" / "dcgan_samples.png").exists()
        done = client.search_model_versions("name = 'anime-dcgan'")
        assert len(done) == 3 and all(v.tags.get("stage_done") == "true" for v in done)

        # a finished stage run again on purpose (dvc repro --force) trains anew
        third = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert third.returncode == 0, third.stderr[-3000:]
        assert "earlier attempt" not in third.stdout and len(versions("dcgan", "32")) == 2
    finally:
        blink.close()
