"""Registered versions as MLflow pyfunc models (serve/pyfunc.py): every family's tiny bundle (tests/serve/tiny.py)
registered as a train stage registers it, promoted, then loaded by name in a fresh Python process
(tests/serve/pyfunc_client.py) that answers exactly as the service's loader does for the same input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core import tracking
from models.promote import promote
from serve import pyfunc
from serve.bundles import Models
from tests.serve.tiny import JOINTS_XY, make_deploy

FAMILIES = ("dcgan", "stylegan", "tagger", "posenet", "sr", "srgan", "pose2sketch")
CLIENT = Path(__file__).with_name("pyfunc_client.py")


# per generator, requests to the service as (settings, seeds); the pyfunc model takes their images as rows
REQUESTS = {
    "dcgan": [({}, [3]), ({"truncation": 0.8, "sliders": {"smile=yes": 0.5}, "conditions": {"glasses": "yes"}}, [11, 12])],
    "stylegan": [({}, [5, 6]), ({"truncation": 0.6, "sliders": {"hair_color=red": 0.25}, "conditions": {"hair_color": "blue"}}, [9])],
}  # fmt: skip


def _frames() -> dict[str, list[dict]]:
    """A row per image: its seed, and each setting of its request in a column (a slider's or a group's)."""
    rows = {}
    for family, reqs in REQUESTS.items():
        rows[family] = [
            {"seed": seed, **{k: v for k, v in r.items() if not isinstance(v, dict)}, **r.get("sliders", {}), **r.get("conditions", {})}
            for r, seeds in reqs
            for seed in seeds
        ]  # fmt: skip
    return rows


def _arrays() -> dict[str, np.ndarray]:
    from synth.pose.figure import draw_stick

    rng = np.random.default_rng(4)
    pose = np.array(JOINTS_XY, np.float64)
    stick = draw_stick(pose.astype(np.float32), 64, 2, np.random.default_rng(1))
    picture = np.full((80, 96, 3), 255, np.uint8)  # the figure off centre on a wider picture
    picture[10:74, 20:84] = stick
    return {
        "tagger": rng.integers(0, 256, (2, 72, 56, 3), dtype=np.uint8),
        "posenet": picture[None],
        "sr": rng.integers(0, 256, (2, 12, 12, 3), dtype=np.uint8),
        "srgan": rng.integers(0, 256, (1, 16, 8, 3), dtype=np.uint8),
        "pose2sketch": np.stack([pose, pose[:, ::-1] * 0.8 + 6]),
    }


def _service(models: Models, family: str, arrays: dict):
    """The service's answer (its loader and operations on the deploy folder) to the same input."""
    if family in REQUESTS:
        return np.concatenate(
            [
                models.generate(
                    seeds, family, round(r.get("truncation", 1.0), 6), r.get("sliders"), r.get("conditions")
                )
                for r, seeds in REQUESTS[family]
            ]
        )
    x = arrays[family]
    if family == "tagger":
        return [models.tag(image) for image in x]
    if family == "posenet":
        return np.stack([models.read_drawing(image) for image in x])
    if family in ("sr", "srgan"):
        return models.upscale(x, family)
    return np.stack([models.sketch(j.astype(np.float32))["sketch"] for j in x])


def _register(deploy: Path, smoke_params) -> dict[str, str]:
    """Each family's bundle registered through Units as the train stages do, each from its own run, and promoted."""
    versions = {}
    for family in FAMILIES:
        units = tracking.Units(smoke_params, f"train@{family}", [], pyfunc.log_model)
        with tracking.start_run("unit", smoke_params, "train", [], [], run_name=family):
            versions[family] = units.register(family, f"anime-{family}", deploy / family, {"fd": 1.0})
        promote(f"anime-{family}", versions[family], "champion", "test", by="test")
    return versions


@pytest.mark.slow
def test_each_champion_loads_by_name_in_a_fresh_process_and_answers_as_the_service(
    store, tmp_path, smoke_params, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tracking, "code_identity", lambda: "test")  # the checkout may change while this runs
    deploy = make_deploy(tmp_path / "deploy")
    versions = _register(deploy, smoke_params)
    frames, arrays = _frames(), _arrays()
    (tmp_path / "inputs.json").write_text(json.dumps(frames))
    np.savez(tmp_path / "inputs.npz", **arrays)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.tracking_uri()}
    done = subprocess.run([sys.executable, str(CLIENT), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    served = Models.load(deploy)
    got = dict(np.load(tmp_path / "outputs.npz"))
    for family in FAMILIES:
        want = _service(served, family, arrays)
        if family == "tagger":
            rows = json.loads((tmp_path / "tagger.json").read_text())
            assert len(rows) == len(want)
            for row, tags in zip(rows, want, strict=True):
                for g, t in tags.items():  # the service's value, its probability to 4 places, and every tag's
                    assert row[g] == t["value"] and round(row[f"{g}={t['value']}"], 4) == t["p"], (g, row, t)
        else:
            assert got[family].dtype == want.dtype and np.array_equal(got[family], want), family
    assert got["dcgan"].shape == (3, 32, 32, 3) and got["sr"].shape == (2, 48, 48, 3)
    assert not np.array_equal(got["stylegan"][0], got["stylegan"][1])  # seeds 5 and 6: two characters

    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["refused"] == "ValueError: row 1: slider smile=yes of dcgan goes from -1 to 1, not 3.0"
    assert "/artifacts/code/serve/bundles.py" in seen["serve_bundles"]  # the code registered with the version
    for family, reqs in seen["requirements"].items():  # every distribution the models' code imported, pinned
        pinned = {r.split("==")[0].lower().replace("_", "-") for r in reqs if "==" in r}
        mlflow_own = {"mlflow-skinny", "mlflow-tracing"} if "mlflow" in pinned else set()
        assert {d.lower() for d in seen["imported"]} - mlflow_own <= pinned, (family, reqs)

    # no pickle in any version; download_version still hands the deploy stage the bundle's files, and them alone
    import mlflow

    for family in FAMILIES:
        folder = Path(tracking.download_version(f"anime-{family}", versions[family], tmp_path / "dl" / family))
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (deploy / family).iterdir())
        assert [p.name for p in (tmp_path / "dl" / family).iterdir()] == [folder.name]  # not the model's code copy
        uri = f"models:/anime-{family}/{versions[family]}"
        root = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "whole" / family)))
        assert not [p for p in root.rglob("*") if p.suffix in (".pkl", ".pickle")]
        conf = yaml.safe_load((root / "MLmodel").read_text())
        assert "model_code_path" in conf["flavors"]["python_function"], family

    # a retried stage takes a unit's bundle out of the version's MLflow model, as it took it from a plain bundle
    again = tracking.Units(smoke_params, "train@sr", [], pyfunc.log_model).earlier("sr", "anime-sr", tmp_path / "out")
    assert again == {"fd": 1.0, "version": versions["sr"]}
    assert sorted(p.name for p in (tmp_path / "out" / "sr").iterdir()) == sorted(
        p.name for p in (deploy / "sr").iterdir()
    )


def test_a_bundle_the_service_cannot_load_is_registered_alone(store, tmp_path, smoke_params, capsys):
    """anime-dcgan's PCA baseline is no network the service loads: its version is the bundle, as before."""
    import mlflow

    from models.dcgan.pca import PcaGaussian

    rng = np.random.default_rng(0)
    PcaGaussian.fit(rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8), 3, 0).save(tmp_path / "pca", {})
    with tracking.start_run("unit", smoke_params, "train", [], [], run_name="pca"):
        version = tracking.register_bundle(tmp_path / "pca", "anime-dcgan", log_model=pyfunc.log_model)
    assert "registered without a pyfunc model" in capsys.readouterr().out
    mv = mlflow.MlflowClient().get_model_version("anime-dcgan", version)
    assert mv.source.endswith("/model") and not mv.model_id
    folder = Path(tracking.download_version("anime-dcgan", version, tmp_path / "dl"))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def test_a_generator_request_out_of_range_is_refused_with_what_it_takes(tmp_path):
    """The pyfunc generator checks each row as the service checks a request, naming the row and what it takes."""
    served = pyfunc.Served.load("dcgan", make_deploy(tmp_path) / "dcgan")
    frame = pd.DataFrame([{"seed": 1}, {"seed": 2, "smile=yes": 3.0}])
    with pytest.raises(ValueError, match="row 1: slider smile=yes of dcgan goes from -1 to 1, not 3.0"):
        served.predict(frame)
    with pytest.raises(ValueError, match="condition glasses='maybe': expected no, yes"):
        served.predict(pd.DataFrame([{"seed": 1, "glasses": "maybe"}]))
    with pytest.raises(ValueError, match="dcgan takes no column 'hair_colour'; its columns: seed, truncation, "):
        served.predict(pd.DataFrame([{"seed": 1, "hair_colour": "red"}]))
    with pytest.raises(ValueError, match="row 0: expected a seed >= 0 and a truncation in"):
        served.predict(pd.DataFrame([{"seed": 1, "truncation": 1.5}]))
    both = served.predict(pd.DataFrame([{"seed": 4}, {"seed": 5, "truncation": 0.5}, {"seed": 6}]))
    assert both.shape == (3, 32, 32, 3)  # in the rows' order, whatever the batches
    assert np.array_equal(both[[0, 2]], served.models.generate([4, 6], "dcgan"))
    assert np.array_equal(both[1:2], served.models.generate([5], "dcgan", 0.5))
