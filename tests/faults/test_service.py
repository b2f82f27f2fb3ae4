"""The service under bad input and faults, on tiny bundles (tests/serve/tiny.py), served by a real uvicorn where the
transport matters: limits before work, a full queue, a client that goes away, hostile JSON, corrupt bundles at
startup and on reload, a reload while requests wait, the tagger off the event loop."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from serve.app import MAX_UPLOAD_BYTES, create_app
from serve.guards import MAX_JSON_BYTES
from tests.conftest import REPO, free_port
from tests.serve.tiny import make_deploy

TOKEN = "t" * 32


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    return make_deploy(tmp_path_factory.mktemp("deploy"), generator="dcgan")


class Served:
    """An app on a real uvicorn in a thread on 127.0.0.1 (the transport's own behaviour: disconnects, early 413)."""

    def __init__(self, app):
        self.app, self.port = app, free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def slow_generation(app, seconds: float) -> threading.Event:
    """Every generate pass holds the models' lock for `seconds` first; returns an event set when a pass starts."""
    started = threading.Event()
    run = app.state.batcher.run

    def slow(key, seeds):
        with key[0].lock:
            started.set()
            time.sleep(seconds)
        return run(key, seeds)

    app.state.batcher.run = slow
    return started


def hold_the_models(srv: Served, started: threading.Event, count: int) -> threading.Thread:
    """A generate request in a thread whose (slow) pass has begun when this returns: the models are busy."""
    t = threading.Thread(
        target=httpx.post, args=(f"{srv.url}/api/generate",), kwargs={"json": {"count": count}, "timeout": 30}
    )
    t.start()
    assert started.wait(10)
    return t


def _shape(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str) and isinstance(body["errors"], list)
    return body


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_a_body_over_the_limit_is_refused_before_it_is_sent(deploy):
    """A declared 50 MB upload gets 413 after its headers and 10 bytes; a chunked one as soon as it passes the limit;
    a JSON body over its own (smaller) limit likewise."""
    with Served(create_app(deploy, window_ms=0, warm=False)) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(
                b"POST /api/tag HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 50000000\r\n\r\n0123456789"
            )
            head = b""
            while chunk := s.recv(4096):  # the server answers and closes without reading the 50 MB
                head += chunk
        assert head.startswith(b"HTTP/1.1 413") and b"request body over" in head

        def chunks():
            for _ in range(40):
                yield b"x" * 100_000

        r = httpx.post(f"{srv.url}/api/upscale", content=chunks(), headers={"content-type": "multipart/form-data"})
        assert r.status_code == 413 and str(MAX_UPLOAD_BYTES + 64 * 1024) in _shape(r)["detail"]
        r = httpx.post(
            f"{srv.url}/api/generate", content=b"[" * (MAX_JSON_BYTES + 1), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert httpx.post(f"{srv.url}/api/generate", json={"count": 1}).status_code == 200  # the server is fine


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"truncation": NaN}', "truncation"),
        ('{"truncation": Infinity}', "truncation"),
        ('{"truncation": 1e400}', "truncation"),
        ('{"seed": 1e400}', "seed"),
        ('{"seed": NaN}', "seed"),
        ('{"count": -Infinity}', "count"),
        ('{"family": "stylegan", "sliders": {"smile=yes": NaN}}', "goes from -1 to 1"),
        ('{"family": "stylegan", "sliders": {"smile=yes": 1e400}}', "goes from -1 to 1"),
        ('{"conditions": {"smile": NaN}}', "conditions"),
        ('{"upscale": NaN}', "upscale"),
        ("[" * 20_000 + "]" * 20_000, "nested deeper"),  # under the size limit; Python's parser would recurse
        ('{"sliders": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}", "nested deeper"),
        ('{"count": 1', "JSON"),
    ],
)
def test_hostile_json_is_a_422_in_one_shape(deploy, body, field):
    with TestClient(create_app(deploy, window_ms=0, warm=False), raise_server_exceptions=False) as c:
        r = c.post("/api/generate", content=body.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text[:300]
        got = _shape(r)
        assert field in got["detail"] or any(field in ".".join(map(str, e["loc"])) for e in got["errors"])
        for ctype in ("application/vnd.api+json", "text/plain"):  # parsed as JSON too, or refused as one
            r = c.post("/api/generate", content=b"[" * 20_000 + b"]" * 20_000, headers={"content-type": ctype})
            assert r.status_code == 422 and _shape(r)
        joints = json.dumps({"joints": [[float("nan"), 1.0]] * 11}, allow_nan=True)
        r = c.post("/api/sketch", content=joints.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 422 and _shape(r)


def test_every_error_has_one_shape(deploy):
    with TestClient(create_app(deploy, window_ms=0, admin_token=TOKEN, warm=False), raise_server_exceptions=False) as c:
        answers = [
            c.post("/api/generate", json={"count": 99}),  # validation
            c.post("/api/generate", json={"family": "vae"}),  # a route's own refusal
            c.post("/admin/reload"),  # 401
            c.post("/api/upscale", files={"file": ("x.gif", b"GIF89a")}),
            c.get("/nope"),  # 404
        ]
        assert [r.status_code for r in answers] == [422, 422, 401, 422, 404]
        assert all(_shape(r)["detail"] for r in answers)
    schema = create_app(deploy, warm=False).openapi()
    assert schema["paths"]["/api/generate"]["post"]["responses"]["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }


def test_a_full_queue_answers_503_with_retry_after(deploy):
    app = create_app(deploy, window_ms=0, max_queue=4, warm=False)
    started = slow_generation(app, 1.0)

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            first = asyncio.ensure_future(c.post("/api/generate", json={"count": 4, "seed": 0}))
            await asyncio.to_thread(started.wait, 10)  # its pass runs: the queue is empty again
            waiting = [asyncio.ensure_future(c.post("/api/generate", json={"count": 2, "seed": s})) for s in (1, 2)]
            await asyncio.sleep(0.2)
            over = await c.post("/api/generate", json={"count": 1, "seed": 9})
            return await first, [await w for w in waiting], over

    first, waiting, over = asyncio.run(burst())
    assert first.status_code == 200 and [w.status_code for w in waiting] == [200, 200]
    assert over.status_code == 503 and over.headers["retry-after"] == "1" and "retry" in _shape(over)["detail"]
    assert app.state.batcher.refused == 1 and app.state.batcher.images == 8


def test_a_request_whose_client_went_away_is_not_computed(deploy):
    app = create_app(deploy, window_ms=0, warm=False)
    started = slow_generation(app, 1.5)
    with Served(app) as srv:
        holder = hold_the_models(srv, started, 2)
        body = json.dumps({"count": 5, "seed": 100}).encode()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
            time.sleep(0.3)  # queued behind the pass
        holder.join(30)
        deadline = time.monotonic() + 10
        while app.state.batcher.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.batcher.dropped == 1 and app.state.batcher.images == 2  # its 5 images never computed


def test_tagging_runs_off_the_event_loop(deploy):
    """While a generate pass holds the models for 2 s, a tag request waits for them in a worker thread; the event
    loop goes on answering (before, /api/tag blocked it: nothing else was answered until the pass ended)."""
    app = create_app(deploy, window_ms=0, warm=False)
    started = slow_generation(app, 2.0)
    with Served(app) as srv:
        gen = hold_the_models(srv, started, 1)
        tagged = {}

        def tag():
            files = {"file": ("t.png", _png(np.full((40, 40, 3), 128, np.uint8)))}
            tagged["r"] = httpx.post(f"{srv.url}/api/tag", files=files, timeout=30)

        tagger = threading.Thread(target=tag)
        tagger.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        assert httpx.get(f"{srv.url}/healthz", timeout=10).status_code == 200
        assert time.monotonic() - t0 < 0.5
        tagger.join(30)
        gen.join(30)
        assert tagged["r"].status_code == 200


def test_a_request_queued_across_a_reload_is_answered_by_its_models(deploy, tmp_path):
    old = tmp_path / "deploy"
    shutil.copytree(deploy, old)
    new = make_deploy(tmp_path / "new", generator="dcgan", seed=7)
    app = create_app(old, window_ms=0, admin_token=TOKEN, warm=False)
    started = slow_generation(app, 1.0)

    async def across() -> tuple:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            busy = asyncio.ensure_future(c.post("/api/generate", json={"count": 1, "seed": 0}))
            await asyncio.to_thread(started.wait, 10)
            queued = asyncio.ensure_future(c.post("/api/generate", json={"count": 1, "seed": 3}))
            await asyncio.sleep(0.2)
            doc = json.loads((new / "deployed.json").read_text())
            doc["families"]["dcgan"]["version"] = "2"
            (new / "deployed.json").write_text(json.dumps(doc))
            shutil.rmtree(old)
            shutil.copytree(new, old)
            reload = await c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
            after = await c.post("/api/generate", json={"count": 1, "seed": 3})
            return await busy, await queued, reload, after

    busy, queued, reload, after = asyncio.run(across())
    assert reload.status_code == 200 and busy.status_code == queued.status_code == after.status_code == 200
    assert queued.json()["version"] == "1" and after.json()["version"] == "2"
    with TestClient(create_app(deploy, window_ms=0, warm=False)) as c:  # the old models' own image of seed 3
        want = c.post("/api/generate", json={"count": 1, "seed": 3}).json()["images"][0]["png"]
    png = queued.json()["images"][0]["png"]
    assert _pixels(png) == _pixels(want) and _pixels(png) != _pixels(after.json()["images"][0]["png"])


def _pixels(b64: str) -> bytes:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")).tobytes()


def _corruptions(deploy: Path, tmp_path: Path):
    """(name, broken deploy folder, the file the error must name)."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(deploy, dst)
        return dst

    d = copy("truncated")
    p = d / "dcgan" / "model.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    yield "a truncated model", d, p
    d = copy("garbage")
    p = d / "stylegan" / "sliders.safetensors"
    p.write_bytes(os.urandom(200))
    yield "random bytes", d, p
    d = copy("header")
    p = d / "sr" / "model.safetensors"
    p.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    yield "a header longer than the file", d, p
    d = copy("listjson")
    p = d / "deployed.json"
    p.write_text("[]")
    yield "deployed.json not an object", d, p
    d = copy("config")
    p = d / "dcgan" / "config.json"
    p.write_text('{"size": 32')
    yield "a truncated config", d, p
    d = copy("npz")
    p = next((d / "posenet").glob("*.npz"))
    p.write_bytes(p.read_bytes()[:100])
    yield "a truncated index", d, d / "posenet"


@pytest.mark.slow  # the real service (`python -m serve`) started once per corruption
def test_a_corrupt_bundle_stops_startup_with_exit_2_naming_it(deploy, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name, broken, named in _corruptions(deploy, tmp_path):
        cmd = [sys.executable, "-m", "serve", "--root", str(broken), "--port", str(free_port())]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (name, proc.stderr[-1500:])
        assert str(named) in proc.stderr and "Traceback" not in proc.stderr, (name, proc.stderr[-1500:])


def test_a_corrupt_bundle_on_reload_is_a_409_and_the_old_models_stay(deploy, tmp_path):
    for name, broken, _ in _corruptions(deploy, tmp_path):
        live = tmp_path / f"live-{name}"
        shutil.copytree(deploy, live)
        with TestClient(
            create_app(live, window_ms=0, admin_token=TOKEN, warm=False), raise_server_exceptions=False
        ) as c:
            shutil.rmtree(live)
            shutil.copytree(broken, live)
            r = c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 409, (name, r.text[:500])
            assert "previous models stay" in _shape(r)["detail"] and live.name in r.text, name
            g = c.post("/api/generate", json={"count": 1})
            assert g.status_code == 200 and g.json()["version"] == "1", name
