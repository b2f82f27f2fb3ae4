"""experiments/transfer_seeds.py: DCGAN's fine-tune against from-scratch comparison with several training seeds."""

from __future__ import annotations

import json

import pytest

from core.errors import BadInput
from experiments.transfer_seeds import gaps


def _arm(kid: float, high: float) -> dict:
    return {"val_kid_tagger": kid, "val_kid_tagger_high": high, "kid_tagger": kid, "kid_tagger_high": high}


def test_the_gap_is_scratch_minus_fine_tune_per_seed():
    runs = {
        "1": {"transfer": _arm(0.10, 0.15), "transfer_scratch": _arm(0.30, 0.40)},
        "2": {"transfer": _arm(0.20, 0.35), "transfer_scratch": _arm(0.30, 0.40)},
    }
    g = gaps(runs)
    assert set(g) == {"val_kid_tagger", "kid_tagger"}  # no second ruler's figures in these runs: none reported
    assert g["val_kid_tagger"]["gap"]["runs"] == pytest.approx([0.2, 0.1])
    assert g["val_kid_tagger"]["gap"]["mean"] == pytest.approx(0.15)
    assert g["val_kid_tagger"]["gap"]["std"] == pytest.approx(0.0707107, rel=1e-5)
    # seed 2's fine-tune has its interval reach past the scratch run's KID: not counted ahead
    assert g["val_kid_tagger"]["seeds_fine_tune_ahead"] == 1 and g["val_kid_tagger"]["seeds"] == 2


def _source(root, params) -> None:
    """The stage's DCGAN bundle (G and D) where train@dcgan leaves it: an untrained one will do as a start."""
    from experiments.transfer_seeds import fine_tune_task
    from models.dcgan import family
    from models.engine import bundle
    from stages.train import PATHS

    size = params.dcgan.sizes[0]
    d = family.load(params, {k: root / v for k, v in PATHS.items()})[0]
    task = fine_tune_task(params, size, d["images"][size]["train"], None)
    folder = root / "data" / "train" / "dcgan" / f"dcgan-{size}"
    task.G.save(folder, {"role": "dcgan"})
    bundle.save_tensors(task.D, folder / "discriminator.safetensors")


@pytest.mark.slow
def test_the_study_on_the_smoke_profile(tmp_path, smoke_root, smoke_params, monkeypatch):
    """Two seeds on a checkout's layout: both arms trained per seed for the transfer steps, the fine-tune from the
    stage's bundle, scored in both spaces; a re-run re-scores the kept generators and trains nothing."""
    from experiments import transfer_seeds
    from experiments.transfer_seeds import run

    monkeypatch.setattr(transfer_seeds, "CACHE", tmp_path / "bench")
    with pytest.raises(BadInput, match="run `make pipeline`"):
        run(smoke_root, [1], None)
    _source(smoke_root, smoke_params)
    t = smoke_params.dcgan.transfer

    doc = run(smoke_root, [1, 2], None)
    json.dumps(doc)  # a result file
    assert doc["tag"] == t.tag and doc["steps"] == t.steps and doc["seeds"] == [1, 2]
    assert all(n >= 4 for n in doc["images"].values())
    for seed in ("1", "2"):
        for arm in ("transfer", "transfer_scratch"):
            r = doc["runs"][seed][arm]
            assert r["steps_done"] == t.steps
            assert {"kid_tagger", "val_kid_tagger", "kid_ssl", "val_kid_ssl"} <= set(r)
            assert r["val_kid_tagger_low"] <= r["val_kid_tagger"] <= r["val_kid_tagger_high"]
    # the arms differ only in the fine-tune's start: were the source not loaded, one seed's arms would be identical
    assert doc["runs"]["1"]["transfer"]["val_kid_tagger"] != doc["runs"]["1"]["transfer_scratch"]["val_kid_tagger"]
    # the seed moves the training: the two seeds' scratch runs differ
    assert (
        doc["runs"]["1"]["transfer_scratch"]["val_kid_tagger"] != doc["runs"]["2"]["transfer_scratch"]["val_kid_tagger"]
    )
    assert set(doc["gaps"]) == {"val_kid_tagger", "kid_tagger", "val_kid_ssl", "kid_ssl"}
    assert "val_kid_tagger" in doc["floor"] and doc["floor"]["kid_generated"] == min(t.samples, doc["images"]["train"])
    kept = sorted((tmp_path / "bench").iterdir())
    assert len(kept) == 4  # two arms, two seeds

    from models.engine import gan

    monkeypatch.setattr(gan, "train", lambda *a, **k: pytest.fail("a kept run trained again"))
    again = run(smoke_root, [1, 2], None)
    for seed, arms in doc["runs"].items():
        for arm, figures in arms.items():
            assert again["runs"][seed][arm] == pytest.approx(figures, rel=1e-3, abs=1e-3), (seed, arm)
