"""/api/sketch reading a drawn stick figure (an upload, or a base64 `image` field) on the tiny bundles, within the
service's limits, and the framing that puts a picture of any size in front of posenet (models/pose/drawing.py)."""

from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.params import load_params
from models.pose.drawing import FILL, NoDrawing, frame_drawing
from serve.app import MAX_DRAWING_PIXELS, MAX_UPLOAD_BYTES, create_app
from synth.pose.poseset import render_one
from tests.conftest import REPO
from tests.serve.tiny import make_deploy


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with TestClient(create_app(make_deploy(tmp_path_factory.mktemp("deploy")), window_ms=0, warm=False)) as c:
        yield c


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _drawing(width: int = 240, height: int = 180) -> np.ndarray:
    """A rendered drawn figure, enlarged 2x, on a paper-white picture of another shape."""
    p = load_params(REPO / "params.yaml", profile="smoke").render
    fig = render_one(3, "test", 0, p)[0]["drawn"]
    big = cv2.resize(fig, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    pic = np.full((height, width, 3), np.median(fig.reshape(-1, 3), axis=0), np.uint8)
    pic[20 : 20 + len(big), 50 : 50 + len(big)] = big[: height - 20, : width - 50]
    return pic


def _shape(r) -> dict:
    body = r.json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str) and body["detail"], body
    return body


def test_an_upload_or_a_base64_image_gives_the_joints_read_and_the_sketch(client):
    pic = _drawing()
    png = _png(pic)
    up = client.post("/api/sketch", files={"file": ("figure.png", png, "image/png")})
    assert up.status_code == 200, up.text
    a = up.json()
    assert a["source"] == "image" and a["size"] == 64 and a["sketch"] and a["reference_id"].startswith("pose-")
    joints = np.array(a["joints"])
    assert joints.shape == (11, 2) and (joints >= 0).all() and (joints <= 63).all()
    for body in ({"image": base64.b64encode(png).decode()},
                 {"image": "data:image/png;base64," + base64.b64encode(png).decode()}):  # fmt: skip
        b = client.post("/api/sketch", json=body)
        assert b.status_code == 200 and b.json()["joints"] == a["joints"] and b.json()["sketch"] == a["sketch"]
    # the joints read are a pose like any other: sent back as joints they give the same sketch
    c = client.post("/api/sketch", json={"joints": a["joints"]}).json()
    assert c["source"] == "joints" and c["sketch"] == a["sketch"] and c["joints"] == a["joints"]
    assert client.get("/api/info").json()["posenet"] is True
    body = client.get("/openapi.json").json()["paths"]["/api/sketch"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert {"joints", "image"} <= set(body["application/json"]["schema"]["properties"])


def test_bad_drawings_are_refused_in_the_one_error_shape(client):
    big_noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), np.uint8)
    too_many = _png(np.full((1100, 1000, 3), 255, np.uint8))  # small file, more pixels than the limit
    assert 1100 * 1000 > MAX_DRAWING_PIXELS and len(too_many) < MAX_UPLOAD_BYTES
    blank = _png(np.full((90, 90, 3), 250, np.uint8))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    cases = [
        ({"files": {"file": ("n.png", _png(big_noise))}}, 413, "bytes"),  # over MAX_UPLOAD_BYTES
        ({"json": {"image": base64.b64encode(_png(big_noise)).decode()}}, 413, "bytes"),  # the body limit
        ({"files": {"file": ("t.png", too_many)}}, 413, "pixels"),
        ({"json": {"image": base64.b64encode(too_many).decode()}}, 413, "pixels"),
        ({"files": {"file": ("x.png", b"hello")}}, 422, "not a readable image"),
        ({"json": {"image": base64.b64encode(b"hello").decode()}}, 422, "not a readable image"),
        ({"json": {"image": "%%% not base64 %%%"}}, 422, "not base64"),
        ({"files": {"file": ("x.gif", buf.getvalue())}}, 415, "GIF"),
        ({"files": {"file": ("b.png", blank)}}, 422, "no stick figure"),
        ({"files": {"file": ("e.png", b"")}}, 422, "empty"),
        ({"files": {"other": ("b.png", blank)}}, 422, "file"),
        ({"json": {"image": base64.b64encode(blank).decode(), "joints": [[1, 1]] * 11}}, 422, "either joints or"),
        ({"json": {}}, 422, "either joints or"),
        ({"json": {"image": 5}}, 422, "image"),
        (
            {"content": b'{"image": ' + b"[" * 40 + b"]" * 40 + b"}", "headers": {"content-type": "application/json"}},
            422,
            "nested deeper",
        ),  # fmt: skip
        ({"content": b'{"image": "abc"', "headers": {"content-type": "application/json"}}, 422, "JSON"),
    ]
    for kwargs, status, says in cases:
        r = client.post("/api/sketch", **kwargs)
        assert r.status_code == status, (says, r.status_code, r.text[:300])
        body = _shape(r)
        assert says in body["detail"] or any(says in ".".join(map(str, e["loc"])) for e in body["errors"]), body


def test_no_posenet_deployed_is_a_clear_422(tmp_path):
    root = make_deploy(tmp_path / "d")
    doc = json.loads((root / "deployed.json").read_text())
    del doc["families"]["posenet"]
    (root / "deployed.json").write_text(json.dumps(doc))
    with TestClient(create_app(root, window_ms=0, warm=False)) as c:
        r = c.post("/api/sketch", files={"file": ("f.png", _png(_drawing()))})
        assert r.status_code == 422 and "no posenet" in _shape(r)["detail"]
        assert c.post("/api/sketch", json={"joints": [[32, 32]] * 11}).status_code == 200


@pytest.mark.parametrize("dark", [False, True])
def test_framing_puts_the_ink_in_the_middle_and_maps_joints_back(dark):
    """Two marks (the ink's corners) on a 300 x 200 picture: the square posenet reads holds them where the mapping
    back says, with the ink's box filling FILL of it; chalk on a dark board is read as ink on paper."""
    bg, ink = (30, 255) if dark else (245, 20)
    pic = np.full((200, 300, 3), bg, np.uint8)
    marks = np.array([[120.0, 40.0], [180.0, 160.0]])  # x, y on the picture
    for x, y in marks:
        pic[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = ink
    framed = frame_drawing(pic, 64)
    img = framed.image.astype(float).mean(axis=2)
    assert img.shape == (64, 64) and np.median(img) > 200  # light paper whatever the picture's background
    found = []
    for top in (0, 32):  # the upper mark in the upper half, the lower one in the lower
        y, x = np.unravel_index(np.argmin(img[top : top + 32]), (32, 64))
        found.append([x, y + top])
    on_pose = framed.to_picture(np.array(found, np.float64), 64)
    # the picture padded to a 300 x 300 square (50 px above), then scaled to 64
    want = (marks + [0, 50] + 0.5) * 64 / 300 - 0.5
    assert np.abs(on_pose - want).max() < 0.6, (on_pose, want)
    box = max(np.ptp(found, axis=0))
    assert box == pytest.approx(FILL * 64, abs=3)
    with pytest.raises(NoDrawing):
        frame_drawing(np.full((50, 80, 3), bg, np.uint8), 64)
