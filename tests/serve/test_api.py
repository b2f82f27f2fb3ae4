"""The service's API on tiny untrained bundles (tests/serve/tiny.py): each route, its limits and errors, the PNG
metadata round trip, micro-batching, the admin token, and a property-based fuzz of the OpenAPI schema (no 5xx; every
status answered is one the schema declares for the route, every body and content type the one it declares)."""

from __future__ import annotations

import asyncio
import atexit
import base64
import io
import json
import secrets
import shutil
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serve.app import MAX_UPLOAD_BYTES, META_KEY, create_app
from tests.serve.tiny import JOINTS_XY, make_deploy

TOKEN = secrets.token_hex(16)  # made per run: no fixed credential in the repository


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    return make_deploy(tmp_path_factory.mktemp("deploy"), generator="dcgan")


@pytest.fixture(scope="module")
def client(deploy):
    with TestClient(create_app(deploy, window_ms=5, admin_token=TOKEN, warm=False)) as c:
        yield c


def _png(arr: np.ndarray, text: dict | None = None) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _decode(b64: str) -> tuple[np.ndarray, dict]:
    im = Image.open(io.BytesIO(base64.b64decode(b64)))
    return np.asarray(im.convert("RGB")), dict(im.info)


def test_health_and_info(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and set(h["deployed"]) >= {"dcgan", "stylegan", "sr", "pose2sketch", "tagger"}
    info = client.get("/api/info").json()
    assert info["generator"] == "dcgan" and info["generators"]["stylegan"]["sliders"]
    assert info["generators"]["dcgan"]["conditional"] and "hair_color" in info["generators"]["dcgan"]["conditions"]
    assert info["cards"]["dcgan"]["training_data"]["images"]["licence"] == "CC0-1.0"
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert "/api/generate" in client.get("/openapi.json").json()["paths"]


def test_generate_is_deterministic_per_seed_and_carries_its_settings(client):
    r = client.post("/api/generate", json={"count": 3, "seed": 10, "truncation": 0.8}).json()
    assert r["family"] == "dcgan" and [i["seed"] for i in r["images"]] == [10, 11, 12]
    one = client.post("/api/generate", json={"count": 1, "seed": 11, "truncation": 0.8}).json()
    a, meta = _decode(r["images"][1]["png"])
    b, _ = _decode(one["images"][0]["png"])
    assert a.shape == (32, 32, 3) and np.array_equal(a, b)  # a batch-mate never changes a character
    settings_ = json.loads(meta[META_KEY])
    assert settings_ == {
        "model": "anime-dcgan",
        "version": "1",
        "seed": 11,
        "truncation": 0.8,
        "sliders": {},
        "conditions": {},
    }
    # the downloaded PNG restores its settings
    restored = client.post("/api/restore", files={"file": ("a.png", base64.b64decode(r["images"][1]["png"]))})
    assert restored.status_code == 200 and restored.json() == settings_
    # a condition changes the image; a yes/no slider moved from one end to the other on StyleGAN too
    cond = client.post(
        "/api/generate", json={"count": 1, "seed": 11, "truncation": 0.8, "conditions": {"hair_color": "red"}}
    ).json()
    assert not np.array_equal(_decode(cond["images"][0]["png"])[0], b)
    sg = [
        client.post(
            "/api/generate", json={"family": "stylegan", "seed": 3, "count": 1, "sliders": {"smile=yes": v}}
        ).json()
        for v in (-1.0, 1.0)
    ]
    assert not np.array_equal(_decode(sg[0]["images"][0]["png"])[0], _decode(sg[1]["images"][0]["png"])[0])
    up = client.post("/api/generate", json={"count": 1, "seed": 1, "upscale": True}).json()
    assert _decode(up["upscaled"][0]["png"])[0].shape == (128, 128, 3)


def test_dcgan_sliders_move_between_the_value_and_the_tag(client):
    info = client.get("/api/info").json()["generators"]
    dc = info["dcgan"]
    assert len(dc["sliders"]) == 19 and dc["slider_ranges"]["glasses=yes"] == [-1.0, 1.0]
    assert dc["slider_ranges"]["hair_color=red"] == [0.0, 1.0]
    assert dc["control_success_by_tag"] == {"smile=yes": 0.81, "hair_color=red": 0.5}
    assert info["stylegan"]["control_success_by_tag"] == {"smile=yes": 0.25, "glasses=yes": 0.6}
    assert info["stylegan"]["slider_ranges"] == dc["slider_ranges"]  # the conditional StyleGAN's are DCGAN's kind

    def image(**body) -> np.ndarray:
        r = client.post("/api/generate", json={"count": 1, "seed": 5, **body})
        assert r.status_code == 200, r.text
        return _decode(r.json()["images"][0]["png"])[0]

    start, half, full = (image(sliders={"hair_color=red": v}) for v in (0.0, 0.5, 1.0))
    assert not np.array_equal(start, half) and not np.array_equal(half, full)
    assert np.array_equal(image(sliders={"hair_color=red": 0.0}), image())


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"count": 17}, 422, "count"),
        ({"count": 0}, 422, "count"),
        ({"seed": -1}, 422, "seed"),
        ({"truncation": 1.5}, 422, "truncation"),
        ({"colour": "red"}, 422, "colour"),
        ({"family": "vae"}, 422, "vae"),
        ({"family": "stylegan", "sliders": {"tail=yes": 0.5}}, 422, "no slider 'tail=yes'"),
        ({"family": "stylegan", "sliders": {"smile=yes": 2}}, 422, "goes from -1 to 1"),
        ({"sliders": {"hair_color=red": -0.5}}, 422, "hair_color=red of dcgan goes from 0 to 1"),
        ({"sliders": {"glasses=no": 1}}, 422, "no slider 'glasses=no'"),
        ({"conditions": {"smile": "maybe"}}, 422, "conditions.smile: Input should be 'no' or 'yes', not 'maybe'"),
        ({"conditions": {"tail": "yes"}}, 422, "dcgan has no attribute group 'tail'"),
    ],
)
def test_generate_refuses_bad_requests_clearly(client, body, status, says):
    r = client.post("/api/generate", json=body)
    assert r.status_code == status and says in r.text


def test_upscale_tag_and_upload_limits(client):
    small = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    r = client.post("/api/upscale", files={"file": ("s.png", _png(small, {META_KEY: '{"seed": 4}'}))})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(r.content))
    assert im.size == (96, 64) and json.loads(im.info[META_KEY]) == {"seed": 4, "upscaled": "sr"}
    assert client.post("/api/upscale?model=srgan", files={"file": ("s.png", _png(small))}).status_code == 200
    assert client.post("/api/upscale?model=vgg", files={"file": ("s.png", _png(small))}).status_code == 422
    big = np.zeros((200, 200, 3), np.uint8)
    r = client.post("/api/upscale", files={"file": ("b.png", _png(big))})
    assert r.status_code == 413 and "pixels" in r.text
    assert client.post("/api/upscale", files={"file": ("x.png", b"not an image")}).status_code == 422
    assert client.post("/api/upscale", files={"file": ("x.png", b"")}).status_code == 422
    gif = io.BytesIO()
    Image.fromarray(small).save(gif, format="GIF")
    assert client.post("/api/upscale", files={"file": ("x.gif", gif.getvalue())}).status_code == 415
    r = client.post("/api/tag", files={"file": ("x.png", b"\x89PNG" + b"0" * (MAX_UPLOAD_BYTES + 10))})
    assert r.status_code == 413
    # a decompression bomb: a tiny file that claims 20000 x 20000 pixels is refused from its header
    bomb = io.BytesIO()
    Image.new("L", (20000, 20000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < MAX_UPLOAD_BYTES
    assert client.post("/api/tag", files={"file": ("bomb.png", bomb.getvalue())}).status_code == 413
    tags = client.post("/api/tag", files={"file": ("t.png", _png(np.full((80, 60, 3), 200, np.uint8)))}).json()
    assert set(tags["tags"]) == {"hair_color", "hair_length", "eye_color", "glasses", "smile", "blush"}
    assert client.post("/api/restore", files={"file": ("s.png", _png(small))}).status_code == 422


def test_sketch_follows_the_joints(client, deploy):
    joints = [list(xy) for xy in JOINTS_XY]
    a = client.post("/api/sketch", json={"joints": joints}).json()
    assert a["size"] == 64 and a["reference_id"].startswith("pose-") and a["reference"]
    moved = [list(j) for j in joints]
    moved[4] = [8, 12]
    b = client.post("/api/sketch", json={"joints": moved}).json()
    assert _decode(a["stick"])[0].shape == (64, 64, 3) and a["stick"] != b["stick"] and a["sketch"] != b["sketch"]
    # the reference returned is the indexed pose of the artist's joints (the index re-ranks by joints)
    from models.pose.retrieval import RetrievalIndex

    index = RetrievalIndex.load(deploy / "posenet")
    for row in (3, 7):
        got = client.post("/api/sketch", json={"joints": index.joints[row].tolist()}).json()
        assert got["reference_id"] == f"pose-{row}"
    assert client.post("/api/sketch", json={"joints": joints[:10]}).status_code == 422
    assert client.post("/api/sketch", json={"joints": [[1e9, 0]] * 11}).status_code == 422


def test_admin_reload_needs_the_token(deploy):
    with TestClient(create_app(deploy, admin_token="", warm=False)) as off:
        assert off.post("/admin/reload").status_code == 403
    with TestClient(create_app(deploy, admin_token=TOKEN, warm=False)) as c:
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["reloaded"]["dcgan"]["version"] == "1"


def test_reload_picks_up_a_new_deploy_and_keeps_the_old_on_failure(tmp_path):
    root = make_deploy(tmp_path / "d", generator="dcgan")
    with TestClient(create_app(root, admin_token=TOKEN, warm=False)) as c:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        doc = json.loads((root / "deployed.json").read_text())
        doc["generator"] = "stylegan"
        (root / "deployed.json").write_text(json.dumps(doc))
        assert c.post("/admin/reload", headers=auth).status_code == 200
        assert c.get("/api/info").json()["generator"] == "stylegan"
        shutil.rmtree(root / "stylegan")  # a broken deploy: the reload fails and the running models stay
        r = c.post("/admin/reload", headers=auth)
        assert r.status_code == 409 and "previous models stay" in r.text
        assert c.post("/api/generate", json={"family": "stylegan"}).status_code == 200


def test_no_deploy_yet_is_a_clear_503(tmp_path):
    with TestClient(create_app(tmp_path / "missing", warm=False)) as c:
        assert c.get("/healthz").json()["status"] == "no models"
        r = c.post("/api/generate", json={})
        assert r.status_code == 503 and "dvc repro deploy" in r.text


def test_concurrent_requests_are_micro_batched_with_the_same_images(deploy):
    app = create_app(deploy, window_ms=50, warm=False)
    alone = create_app(deploy, window_ms=0, warm=False)

    async def burst(a) -> list[dict]:
        transport = httpx.ASGITransport(app=a)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            rs = await asyncio.gather(*(c.post("/api/generate", json={"count": 1, "seed": s}) for s in range(12)))
        return [r.json() for r in rs]

    batched, single = asyncio.run(burst(app)), asyncio.run(burst(alone))
    assert app.state.batcher.batches < 12 and app.state.batcher.images == 12
    assert alone.state.batcher.batches == 12
    assert [b["images"][0]["png"] for b in batched] == [s["images"][0]["png"] for s in single]


_fuzz_root = Path(tempfile.mkdtemp(prefix="serve-fuzz-"))
atexit.register(shutil.rmtree, _fuzz_root, True)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(make_deploy(_fuzz_root / "d"), window_ms=0, admin_token=TOKEN, warm=False)
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_the_openapi_schema_no_server_error(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    case.validate_response(
        response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
    )


def test_a_stylegan_version_of_the_unconditional_route_is_still_served(tmp_path):
    """A version registered before the conditional route (sliders as directions in W, no conditions) deploys and
    serves: its sliders move the image, and conditions are refused with the reason."""
    root = make_deploy(tmp_path / "d", generator="stylegan", stylegan="unconditional")
    with TestClient(create_app(root, window_ms=0, warm=False)) as c:
        info = c.get("/api/info").json()["generators"]["stylegan"]
        assert info["sliders"] == ["hair_color=blonde", "smile=yes", "glasses=yes"]
        images = [
            c.post("/api/generate", json={"family": "stylegan", "seed": 3, "count": 1, "sliders": {"smile=yes": v}})
            for v in (0.0, 1.0)
        ]
        assert all(r.status_code == 200 for r in images)
        assert not np.array_equal(*(_decode(r.json()["images"][0]["png"])[0] for r in images))
        r = c.post("/api/generate", json={"family": "stylegan", "conditions": {"smile": "yes"}})
        assert r.status_code == 422 and "does not take conditions" in r.text
