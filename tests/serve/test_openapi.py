"""The service's OpenAPI schema reads like a product, on tiny untrained bundles (tests/serve/tiny.py): every route
names its answer (a response model, or an image/png), the families, attribute groups, their values and the joints are
enums taken from serve/bundles.py and core/names.py, every error a route declares is the one ErrorResponse shape,
and what the routes answer (200s and errors) validates against the published schema."""

from __future__ import annotations

import io
import json
import secrets

import numpy as np
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from PIL import Image

from core.names import ATTRIBUTES, GROUPS, JOINTS
from serve.app import GENERATORS, META_KEY, UPSCALERS, create_app
from serve.bundles import FAMILIES, Models
from serve.guards import MAX_JSON_BYTES
from tests.serve.tiny import JOINTS_XY, make_deploy

TOKEN = secrets.token_hex(16)
REF = "#/components/schemas/"
ROUTES = {  # path -> the error statuses its answers can have
    "/healthz": set(),
    "/api/info": {503},
    "/api/generate": {400, 413, 422, 499, 503},
    "/api/upscale": {400, 413, 415, 422, 503},
    "/api/sketch": {400, 413, 415, 422, 503},
    "/api/tag": {400, 413, 415, 422, 503},
    "/api/restore": {400, 413, 415, 422},
    "/admin/reload": {401, 403, 409, 413, 422},
}


@pytest.fixture(scope="module")
def deploy(tmp_path_factory):
    return make_deploy(tmp_path_factory.mktemp("deploy"), generator="dcgan")


@pytest.fixture(scope="module")
def client(deploy):
    with TestClient(create_app(deploy, window_ms=0, admin_token=TOKEN, warm=False)) as c:
        yield c


@pytest.fixture(scope="module")
def schema(client) -> dict:
    return client.get("/openapi.json").json()


def _operations(schema: dict) -> list[tuple[str, dict]]:
    return [(path, op) for path, item in schema["paths"].items() for op in item.values()]


def _component(schema: dict, node: dict) -> dict:
    """The component a {"$ref": ...} names (or, for an optional field, the one its anyOf names besides null)."""
    if "anyOf" in node:
        (node,) = [n for n in node["anyOf"] if n != {"type": "null"}]
    return schema["components"]["schemas"][node["$ref"].removeprefix(REF)]


def _enum(schema: dict, node: dict) -> list:
    return _component(schema, node)["enum"]


def _png(arr: np.ndarray, fmt: str = "PNG", meta: str | None = None) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if meta is not None:
        info.add_text(META_KEY, meta)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"pnginfo": info} if fmt == "PNG" else {}))
    return buf.getvalue()


def _conforms(schema: dict, path: str, r) -> dict:
    """The JSON body of `r` (a response of the route at `path`), checked against what the schema says that route
    answers with r's status."""
    op = next(iter(schema["paths"][path].values()))
    declared = op["responses"][str(r.status_code)]["content"]["application/json"]["schema"]
    body = r.json()
    Draft202012Validator({**declared, "components": schema["components"]}).validate(body)
    return body


def test_every_route_names_its_answer(schema):
    assert set(schema["paths"]) == set(ROUTES)
    for path, op in _operations(schema):
        content = op["responses"]["200"]["content"]
        if path == "/api/upscale":
            assert content == {"image/png": {"schema": {"type": "string", "format": "binary"}}}
        else:
            assert set(content) == {"application/json"}, path
            assert _component(schema, content["application/json"]["schema"])["type"] == "object", path


def test_every_error_a_route_declares_is_the_one_shape(schema):
    for path, op in _operations(schema):
        errors = {int(s): answer for s, answer in op["responses"].items() if s != "200"}
        assert set(errors) == ROUTES[path], path
        for status, answer in errors.items():
            assert answer["content"] == {"application/json": {"schema": {"$ref": REF + "ErrorResponse"}}}, (
                path,
                status,
            )
            assert answer["description"], (path, status)  # why, not just the status's name
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's own 422 shape is never answered
    busy = schema["paths"]["/api/generate"]["post"]["responses"]["503"]
    assert "Retry-After" in busy["headers"]


def test_families_groups_values_and_joints_are_enums_of_the_projects_names(schema, deploy):
    served = Models.load(deploy)  # the tiny deploy has every family
    assert set(served.deployed["families"]) == set(FAMILIES)
    assert set(served.generators) == set(GENERATORS) and set(served.upscalers) == set(UPSCALERS)
    comps = schema["components"]["schemas"]
    assert comps["Family"]["enum"] == list(FAMILIES)
    assert comps["GeneratorFamily"]["enum"] == list(GENERATORS)
    assert comps["UpscalerFamily"]["enum"] == list(UPSCALERS)
    assert comps["Joint"]["enum"] == list(JOINTS)

    # what a client sends: a generator family, conditions one property per fixed group, each its group's values,
    # and strings for the extra groups a generator may add (/api/info lists them; the service checks them)
    request = comps["GenerateRequest"]["properties"]
    assert _enum(schema, request["family"]) == list(GENERATORS)
    conditions = _component(schema, request["conditions"])
    assert list(conditions["properties"]) == list(GROUPS) and conditions["additionalProperties"] == {"type": "string"}
    assert "/api/info" in conditions["description"]
    assert {g: _enum(schema, node) for g, node in conditions["properties"].items()} == {
        g: list(v) for g, v in ATTRIBUTES.items()
    }
    (model,) = [p for p in schema["paths"]["/api/upscale"]["post"]["parameters"] if p["name"] == "model"]
    assert _enum(schema, model["schema"]) == list(UPSCALERS) and model["schema"]["default"] == "sr"

    # what it gets back
    assert _enum(schema, comps["GenerateResponse"]["properties"]["family"]) == list(GENERATORS)
    info = comps["InfoResponse"]["properties"]
    assert _enum(schema, info["generator"]) == list(GENERATORS)
    assert _enum(schema, info["generators"]["propertyNames"]) == list(GENERATORS)
    assert _enum(schema, info["upscalers"]["items"]) == list(UPSCALERS)
    assert _enum(schema, info["joints"]["items"]) == list(JOINTS)
    assert _enum(schema, info["cards"]["propertyNames"]) == list(FAMILIES)
    assert _enum(schema, _component(schema, info["deployed"])["properties"]["families"]["propertyNames"]) == list(
        FAMILIES
    )
    assert _enum(schema, comps["HealthResponse"]["properties"]["deployed"]["propertyNames"]) == list(FAMILIES)
    assert _enum(schema, comps["ReloadResponse"]["properties"]["reloaded"]["propertyNames"]) == list(FAMILIES)
    tags = _component(schema, comps["TagResponse"]["properties"]["tags"])
    assert list(tags["properties"]) == list(GROUPS) and set(tags["required"]) == set(GROUPS)
    for g, node in tags["properties"].items():
        assert _enum(schema, _component(schema, node)["properties"]["value"]) == list(ATTRIBUTES[g])


def test_every_route_answers_what_its_schema_says(client, schema, deploy):
    served = Models.load(deploy)
    same = json.loads(json.dumps(served.info()))  # the response models pass every key and value through
    assert _conforms(schema, "/api/info", client.get("/api/info")) == same
    health = _conforms(schema, "/healthz", client.get("/healthz"))
    assert health == {"status": "ok", "deployed": same["deployed"]["families"], "error": None}

    r = client.post("/api/generate", json={"count": 2, "seed": 3, "family": "stylegan", "upscale": True})
    body = _conforms(schema, "/api/generate", r)
    assert set(body) == {"family", "version", "images", "upscaled"} and body["family"] == "stylegan"
    assert [i["seed"] for i in body["images"]] == [3, 4] and len(body["upscaled"]) == 2
    plain = _conforms(schema, "/api/generate", client.post("/api/generate", json={"count": 1}))
    assert plain["family"] == served.default_generator and plain["upscaled"] is None

    sketch = _conforms(schema, "/api/sketch", client.post("/api/sketch", json={"joints": JOINTS_XY}))
    assert set(sketch) == {"size", "source", "joints", "stick", "sketch", "reference", "reference_id", "version"}
    assert sketch["source"] == "joints" and sketch["joints"] == [[float(x), float(y)] for x, y in JOINTS_XY]

    picture = _png(np.full((40, 40, 3), 180, np.uint8))
    tags = _conforms(schema, "/api/tag", client.post("/api/tag", files={"file": ("t.png", picture)}))
    assert set(tags) == {"tags", "version"} and list(tags["tags"]) == list(GROUPS)
    assert all(t["value"] in ATTRIBUTES[g] and set(t) == {"value", "p"} for g, t in tags["tags"].items())

    up = client.post("/api/upscale?model=srgan", files={"file": ("s.png", picture)})
    assert up.status_code == 200 and up.headers["content-type"] == "image/png"
    # the settings of a PNG come back as they were written, keys the model does not name included
    written = {"conditions": {"smile": "yes"}, "model": "anime-dcgan", "seed": 7, "truncation": 0.5, "extra": [1]}
    restored = client.post(
        "/api/restore", files={"file": ("s.png", _png(np.zeros((8, 8, 3), np.uint8), meta=json.dumps(written)))}
    )
    assert _conforms(schema, "/api/restore", restored) == written

    reload = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert _conforms(schema, "/admin/reload", reload) == {"reloaded": same["deployed"]["families"]}


def test_the_errors_routes_answer_are_declared_and_in_the_one_shape(client, schema, deploy, tmp_path):
    gif = _png(np.zeros((8, 8, 3), np.uint8), fmt="GIF")
    big = _png(np.zeros((200, 200, 3), np.uint8))
    torn = {  # a multipart body whose part has no headers: it cannot be parsed
        "content": b"--b0\r\n-1.5e+16--b0--\r\n",
        "headers": {"content-type": "multipart/form-data; boundary=b0"},
    }
    answers = {
        "/api/generate": [
            client.post("/api/generate", json={"count": 99}),
            client.post(
                "/api/generate", content=b"|\x02\xde\xbe\xff\xfe", headers={"content-type": "application/json"}
            ),
            client.post("/api/generate", content=b" " * (MAX_JSON_BYTES + 1), headers={"content-type": "text/plain"}),
        ],
        "/api/upscale": [
            client.post("/api/upscale", files={"file": ("x.gif", gif)}),
            client.post("/api/upscale", files={"file": ("b.png", big)}),
            client.post("/api/upscale?model=vgg", files={"file": ("b.png", big)}),
        ],
        "/api/sketch": [client.post("/api/sketch", json={}), client.post("/api/sketch", files={"file": ("x", gif)})],
        "/api/tag": [client.post("/api/tag", files={"file": ("x.gif", gif)}), client.post("/api/tag", **torn)],
        "/api/restore": [
            client.post("/api/restore", files={"file": ("b.png", big)}),
            client.post("/api/restore", files={"file": ("x.gif", gif)}),
            client.post("/api/restore", **torn),
        ],
        "/admin/reload": [client.post("/admin/reload")],
    }
    with TestClient(create_app(deploy, admin_token="", warm=False)) as off:
        answers["/admin/reload"].append(off.post("/admin/reload"))
    with TestClient(create_app(tmp_path / "none", warm=False)) as empty:
        answers["/api/info"] = [empty.get("/api/info")]
        answers["/api/generate"].append(empty.post("/api/generate", json={}))
    seen = set()
    for path, rs in answers.items():
        for r in rs:
            assert r.status_code in ROUTES[path], (path, r.status_code, r.text)
            body = _conforms(schema, path, r)
            assert set(body) == {"detail", "errors"} and body["detail"]
            seen.add(r.status_code)
    assert seen == {400, 401, 403, 413, 415, 422, 503}


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ({"family": "vae"}, ["body", "family"], "'dcgan' or 'stylegan', not 'vae'"),
        ({"family": "sr"}, ["body", "family"], "not 'sr'"),
        ({"conditions": {"smile": "maybe"}}, ["body", "conditions", "smile"], "'no' or 'yes', not 'maybe'"),
        ({"conditions": {"tail": 1}}, ["body", "conditions", "tail"], "Input should be a valid string"),
    ],
)
def test_a_value_outside_an_enum_is_a_422_in_the_one_shape_naming_it(client, body, where, says):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 422
    got = r.json()
    assert set(got) == {"detail", "errors"} and says in got["detail"]
    assert [e["loc"] for e in got["errors"]] == [where]


def test_the_liveness_check_answers_a_deploy_whose_entries_say_less(tmp_path):
    """deployed.json written by hand without a family's version or model still loads (the loader checks families and
    files): /healthz, the liveness check, answers it rather than failing its own response model."""
    folder = make_deploy(tmp_path / "deploy", generator="dcgan")
    deployed = json.loads((folder / "deployed.json").read_text())
    for entry in deployed["families"].values():
        entry.pop("version", None)
        entry.pop("model", None)
    (folder / "deployed.json").write_text(json.dumps(deployed))
    with TestClient(create_app(folder, admin_token=TOKEN, warm=False)) as c:
        r = c.get("/healthz")
    assert (
        r.status_code == 200 and r.json()["status"] == "ok" and set(r.json()["deployed"]) == set(deployed["families"])
    )
