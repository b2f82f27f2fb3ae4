"""The tagger pin (models/tagger/pinned.py): collections with no tags are tagged by a registered tagger instead of
stopping the pipeline; without one, the stage says what to do. Against a real local MLflow store."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from core import tracking
from core.errors import BadInput
from core.names import GROUPS
from models.promote import promote
from models.tagger import pinned
from models.tagger.family import NoTrainingLabels
from models.tagger.net import MODEL, TaggerNet
from tests.conftest import REPO, run, with_ingest


@pytest.fixture
def untagged(smoke_params, tmp_path, monkeypatch):
    """The smoke generated set ingested as an untagged collection (`groups: []`): no image carries a tag."""
    from dataset.importer import ingest
    from dataset.sources import open_sources

    params = with_ingest(smoke_params, [{"spec": "generated", "groups": []}], workers=1)
    out = tmp_path / "ingest"
    metrics = ingest(params, out, open_sources(params))
    assert metrics["tagged_by_source"] == {"generated": 0}
    return out


def _register(params, folder, role: str, floors: dict, alias: str | None = None, seed: int = 0) -> str:
    torch.manual_seed(seed)
    net = TaggerNet(width=4, size=params.tagger.size).eval()
    net.save(folder, {"role": role, "thresholds": {}, "auto_floors": floors})
    with tracking.start_run("tagger", params, "test", [], []):
        version = tracking.register_bundle(folder, MODEL, tags={"role": role})
    if alias:
        promote(MODEL, version, alias, "a tiny tagger for the pin tests", by="test")
    return version


def _floors(trusted_groups: tuple[str, ...]) -> dict:
    return {
        g: {"floor": 0.0 if g in trusted_groups else None, "val_accuracy": None, "val_coverage": 0.0, "labelled": 9}
        for g in GROUPS
    }


def test_untagged_sources_without_a_pin_say_what_to_do(smoke_params, untagged, store, tmp_path, monkeypatch):
    from stages import tagger as stage

    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoTrainingLabels) as err:
        stage.run(smoke_params, untagged, tmp_path / "tagger", labels=None, pin=tmp_path / "none.json")
    text = str(err.value)
    assert "the train split has 0 labelled images" in text and "no registered tagger" in text
    assert "make labelstudio" in text and not (tmp_path / "tagger").exists()
    _register(smoke_params, tmp_path / "cnn", "cnn", _floors(()))
    with pytest.raises(NoTrainingLabels, match=r"pin a registered tagger .*versions 1\.\.1.*--pin"):
        stage.run(smoke_params, untagged, tmp_path / "tagger", labels=None, pin=tmp_path / "none.json")


def test_a_pinned_tagger_tags_an_untagged_collection(smoke_params, untagged, store, tmp_path, monkeypatch):
    from dataset.shards import read_manifest
    from stages import tagger as stage

    monkeypatch.chdir(tmp_path)
    cnn = _register(smoke_params, tmp_path / "cnn", "cnn", _floors(("hair_color", "glasses")), alias="champion")
    judge = _register(smoke_params, tmp_path / "judge", "judge", _floors(()), alias="judge", seed=1)
    pin_file = tmp_path / "tagger.pin.json"
    with pytest.raises(BadInput, match="--why is required"):
        pinned.set_pin("champion", " ", pin_file)
    with pytest.raises(BadInput, match="no alias 'nope'"):
        pinned.set_pin("nope", "x", pin_file)
    pin = pinned.set_pin("champion", "the built-in set's tagger, for an untagged collection", pin_file)
    assert (pin["version"], pin["role"]) == (cnn, "cnn") and pinned.read_pin(pin_file) == pin

    metrics = stage.run(smoke_params, untagged, tmp_path / "tagger", labels=None, pin=pin_file)
    assert metrics["chosen"] == "pinned" and metrics["pinned"]["version"] == cnn
    assert metrics["pinned"]["macro_f1"] is None and metrics["pinned"]["judge_version"] == judge  # no labels to score
    rows = read_manifest(untagged)
    with open(tmp_path / "tagger" / "tags_auto.csv", newline="") as f:
        auto = list(csv.DictReader(f))
    assert [r["id"] for r in auto] == [r["id"] for r in rows] and {r["model"] for r in auto} == {f"{MODEL}/{cnn}"}
    # no labelled validation image: each group keeps the floor the pinned version recorded (two groups trusted)
    assert all(r[f"trusted:{g}"] == ("1" if g in ("hair_color", "glasses") else "0") for r in auto for g in GROUPS)
    n = len(rows)
    assert metrics["auto_tags"]["tags_by_origin"] == {"annotation": 0, "source": 0, "auto": 2 * n, "unknown": 4 * n}
    with open(tmp_path / "tagger" / "tags_best.csv", newline="") as f:
        best = list(csv.DictReader(f))
    assert {(r["from:hair_color"], r["from:smile"], r["smile"]) for r in best} == {("auto", "unknown", "")}
    registered = json.loads((tmp_path / "tagger" / "registered.json").read_text())
    assert registered == {"model": MODEL, "pinned": cnn, "judge": judge, "cnn": cnn}
    assert TaggerNet.load(tmp_path / "tagger" / "judge").config["size"] == smoke_params.tagger.size
    versions = tracking.connect()[1].search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 2  # nothing was trained or registered

    # the command that moves it, as a user types it (the store through MLFLOW_TRACKING_URI)
    env = {"PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    cmd = ["python", "-m", "stages.tagger", "--pin-file", str(pin_file)]
    moved = run([*cmd, "--pin", judge, "--why", "the judge tags better"], tmp_path, env=env)
    assert f"pinned to {MODEL} v{judge}" in moved.stdout and pinned.read_pin(pin_file)["role"] == "judge"
    bad = run([*cmd, "--pin", "99", "--why", "x"], tmp_path, env=env, check=False)
    assert bad.returncode == 2 and "version 99" in bad.stderr and pinned.read_pin(pin_file)["version"] == judge
    run([*cmd, "--unpin", "--why", "labelled now"], tmp_path, env=env)
    assert pinned.read_pin(pin_file)["version"] is None
