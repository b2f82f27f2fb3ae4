"""A served generator trained on an annotators' extra group (`hat`): /api/info lists the group, its values and its
slider, /api/generate and the pyfunc model take it as a condition and a slider, and an unknown group or value is a
422 in the one error shape; the page builds its controls from /api/info; a bundle from before schemas still loads."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from core.names import ATTRIBUTES, GROUPS
from serve import pyfunc
from serve.app import STATIC, create_app
from serve.bundles import Models
from tests.serve.tiny import make_deploy

HAT = {"hat": ["no", "yes"]}


@pytest.fixture(scope="module")
def deploy(tmp_path_factory):
    return make_deploy(tmp_path_factory.mktemp("deploy"), generator="dcgan", extra=HAT)


@pytest.fixture(scope="module")
def client(deploy):
    with TestClient(create_app(deploy, window_ms=5, warm=False)) as c:
        yield c


def _images(body: dict) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(i["png"])))) for i in body["images"]]


@pytest.mark.parametrize("family", ["dcgan", "stylegan"])
def test_info_lists_the_generators_extra_group_and_its_slider(client, family):
    g = client.get("/api/info").json()["generators"][family]
    assert list(g["conditions"]) == [*GROUPS, "hat"] and g["conditions"]["hat"] == ["no", "yes"]
    assert g["extra_groups"] == ["hat"]
    assert "hat=yes" in g["sliders"] and g["slider_ranges"]["hat=yes"] == [-1.0, 1.0]


@pytest.mark.parametrize("family", ["dcgan", "stylegan"])
def test_generate_takes_the_extra_group_as_a_condition_and_a_slider(client, family):
    def images(**body) -> list[np.ndarray]:
        r = client.post("/api/generate", json={"count": 2, "seed": 3, "family": family, **body})
        assert r.status_code == 200, r.text
        return _images(r.json())

    six = {g: values[0] for g, values in ATTRIBUTES.items()}  # every other group fixed: nothing drawn per seed
    no, yes = images(conditions={**six, "hat": "no"}), images(conditions={**six, "hat": "yes"})
    assert any(not np.array_equal(a, b) for a, b in zip(no, yes))
    assert all(np.array_equal(a, b) for a, b in zip(yes, images(conditions={**six, "hat": "yes"})))
    moved = images(conditions={**six, "hat": "no"}, sliders={"hat=yes": 1.0})  # the slider's end is the condition
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(moved, yes))
    assert len(images(conditions={"hat": "yes"})) == 2  # the rest drawn among the training combinations


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"conditions": {"hat": "maybe"}}, "condition hat='maybe': expected no, yes"),
        ({"conditions": {"tail": "yes"}}, "dcgan has no attribute group 'tail'; its groups: hair_color,"),
        ({"conditions": {"hat": 1}}, "conditions.hat"),
        ({"sliders": {"hat=no": 0.5}}, "no slider 'hat=no'"),
        ({"sliders": {"hat=yes": 1.5}}, "slider hat=yes of dcgan goes from -1 to 1"),
    ],
)
def test_an_unknown_group_or_value_is_a_422_in_the_one_shape(client, body, says):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 422
    got = r.json()
    assert set(got) == {"detail", "errors"} and says in got["detail"]


def test_a_generator_of_the_six_groups_refuses_the_extra_one(tmp_path):
    with TestClient(create_app(make_deploy(tmp_path / "d"), window_ms=5, warm=False)) as c:
        g = c.get("/api/info").json()["generators"]["dcgan"]
        assert g["extra_groups"] == [] and list(g["conditions"]) == list(GROUPS) and "hat=yes" not in g["sliders"]
        r = c.post("/api/generate", json={"conditions": {"hat": "yes"}})
        assert r.status_code == 422 and "dcgan has no attribute group 'hat'" in r.json()["detail"]


def test_the_page_builds_its_controls_from_info():
    """No group is written into the page: its sliders and condition menus are those /api/info lists."""
    page = (STATIC / "index.html").read_text()
    assert "g.sliders" in page and "Object.entries(g.conditions)" in page
    assert not any(f'"{group}"' in page for group in GROUPS)


def test_the_pyfunc_generator_takes_the_extra_groups_column(deploy):
    served = pyfunc.Served.load("dcgan", deploy / "dcgan")
    names = [c.name for c in pyfunc.GeneratorIO("dcgan").columns(served.models)]
    assert "hat" in names and "hat=yes" in names
    got = served.predict(pd.DataFrame([{"seed": 4, "hat": "yes"}, {"seed": 5, "hat=yes": 0.5}]))
    assert np.array_equal(got[:1], served.models.generate([4], "dcgan", conditions={"hat": "yes"}))
    assert np.array_equal(got[1:], served.models.generate([5], "dcgan", sliders={"hat=yes": 0.5}))
    with pytest.raises(ValueError, match="condition hat='maybe': expected no, yes"):
        served.predict(pd.DataFrame([{"seed": 1, "hat": "maybe"}]))


def test_a_bundle_from_before_schemas_is_served_as_the_six_groups(tmp_path):
    folder = make_deploy(tmp_path / "d")
    for family in ("dcgan", "stylegan"):
        config = json.loads((folder / family / "config.json").read_text())
        del config["groups"]
        (folder / family / "config.json").write_text(json.dumps(config))
    served = Models.load(folder)
    for family in ("dcgan", "stylegan"):
        info = served.info()["generators"][family]
        assert list(info["conditions"]) == list(GROUPS) and info["extra_groups"] == []
        assert served.generate([1], family, conditions={"smile": "yes"}).shape == (1, 32, 32, 3)
