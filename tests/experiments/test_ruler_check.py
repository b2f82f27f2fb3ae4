"""experiments/ruler_check.py: both feature spaces judged on what is known to be ordered (floor, final DCGAN,
PCA-Gaussian; a later step before an earlier one)."""

from __future__ import annotations

import json

import pytest

from experiments.ruler_check import FIGURES, known_orders, verdicts


def _models(tagger: dict[str, float], ssl: dict[str, float]) -> dict:
    """Made-up validation figures: per model one distance in each space, read alike for FD and KID; precision and
    recall the opposite way (higher is better)."""
    out = {}
    for m in tagger:
        out[m] = {}
        for space, d in (("tagger", tagger), ("ssl", ssl)):
            for kind, figure in FIGURES[space].items():
                out[m][f"val_{figure}"] = d[m] if kind in ("fd", "kid") else 1 / (1 + d[m])
    return out


def test_the_known_orders_and_where_the_spaces_disagree():
    assert known_orders(["step_500", "step_1000"]) == [
        ("floor", "final"),
        ("final", "pca_gaussian"),
        ("final", "step_1000"),
        ("final", "step_500"),
        ("step_1000", "step_500"),
    ]
    good = {"floor": 0.1, "final": 1.0, "step_500": 3.0, "pca_gaussian": 5.0}
    v = verdicts(_models(good, good), ["step_500"])
    assert v["every_known_order_holds"] == {"tagger": True, "ssl": True}
    assert v["order"]["fd_ssl"] == ["floor", "final", "step_500", "pca_gaussian"]
    assert v["order"]["recall_ssl"] == v["order"]["fd_ssl"]  # higher recall first
    assert v["disagree"] == {"fd": [], "kid": [], "precision": [], "recall": []}
    # the second space ranks the early step behind PCA and puts the final DCGAN behind the early one
    odd = {"floor": 0.1, "final": 4.0, "step_500": 3.0, "pca_gaussian": 2.0}
    v = verdicts(_models(good, odd), ["step_500"])
    assert v["every_known_order_holds"] == {"tagger": True, "ssl": False}
    assert v["fd_keeps_the_known_orders"] == {"tagger": True, "ssl": False}
    assert v["holds"]["fd_ssl"] == {"floor < final": True, "final < pca_gaussian": False, "final < step_500": False}
    assert "final / step_500" in v["disagree"]["fd"] and "final / pca_gaussian" in v["disagree"]["recall"]
    precise = _models(good, good)  # only the first space's precision ranks PCA ahead of the final DCGAN
    precise["pca_gaussian"]["val_precision"] = 0.99
    v = verdicts(precise, ["step_500"])
    assert v["every_known_order_holds"]["tagger"] is False and v["fd_keeps_the_known_orders"]["tagger"] is True


@pytest.mark.slow
def test_the_study_on_the_smoke_profile(tmp_path, smoke_root, smoke_params, monkeypatch):
    """On a checkout's layout (the train stage's inputs, the extractor pin, the ruler), at the smoke profile's
    length: one run, the snapshot at the early step, every model scored in both spaces on validation alone; a
    second scoring takes the kept generators and trains nothing."""
    from experiments import ruler_check
    from experiments.ruler_check import run

    monkeypatch.setattr(ruler_check, "CACHE", tmp_path / "bench")
    root = smoke_root
    doc = run(root, None, None)
    p = smoke_params.dcgan
    assert doc["early_steps"] == [p.sample_every] and doc["steps"] == p.steps  # a tenth, up to the next grid
    assert set(doc["models"]) == {"floor", "final", f"step_{p.sample_every}", "pca_gaussian"}
    for figures in doc["models"].values():
        assert all(f.startswith("val_") for f in figures if f != "components")  # validation only
        assert len([f for f in figures if f.startswith("val_")]) == 8
    assert set(doc["holds"]) == {f for names in FIGURES.values() for f in names.values()}
    assert set(doc["every_known_order_holds"]) == {"tagger", "ssl"} and len(doc["ruler_version"]) == 12
    json.dumps(doc)  # a result file
    (kept,) = (tmp_path / "bench" / "ruler_check").iterdir()
    stamp = (kept / "final" / "model.safetensors").stat().st_mtime_ns
    from models.engine import gan

    monkeypatch.setattr(gan, "train", lambda *a, **k: pytest.fail("a kept run trained again"))
    again = run(root, None, None)
    assert (kept / "final" / "model.safetensors").stat().st_mtime_ns == stamp
    for m, figures in doc["models"].items():  # the kept generators' memory layout may move a last digit
        assert again["models"][m] == pytest.approx(figures, rel=1e-3, abs=1e-3), m
    with pytest.raises(SystemExit, match="multiples of"):
        run(root, [p.sample_every + 1], None)
