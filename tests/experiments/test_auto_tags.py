"""experiments/auto_tags.py end to end on the smoke profile, as a user runs it: two generated sets (one hidden in
another style), the tagger stage's auto-tags scored against the hidden truth, DCGAN on auto-tags against the truth,
and the result file; in a scratch store and cache, leaving nothing in the working tree."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.names import ATTRIBUTES, GROUPS
from tests.conftest import REPO, run


def _tags_auto(path, rows):
    cols = ["id", "split", *GROUPS, *(f"c:{g}" for g in GROUPS)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows(rows)


def test_calibration_finds_how_many_labels_of_a_style_its_floors_need(tmp_path):
    """The borrowed floor (0.5, from the tagged style) trusts a style whose readings under 0.9 are a coin toss;
    floors chosen on labels of that style trust only what its labels show to be right often enough. The labels are
    drawn from the style's training split and scored on its validation split (the headline) and test split."""
    from experiments.auto_tags import calibration

    rng = np.random.default_rng(0)
    truth, rows = {}, []
    for split, n in (("train", 400), ("val", 300), ("test", 300)):
        for i in range(n):
            ref = f"{split}{i}"
            conf = rng.uniform(0.5, 1.0)
            right = conf > 0.9 or rng.random() < 0.6  # sure above 0.9, a coin below
            truth[ref] = np.zeros(len(GROUPS), np.int64)
            values = [ATTRIBUTES[g][0 if right else 1] for g in GROUPS]
            rows.append([ref, split, *values, *([f"{conf:.4f}"] * len(GROUPS))])
    rows.append(["tagged", "val", *(ATTRIBUTES[g][1] for g in GROUPS), *(["0.99"] * len(GROUPS))])  # not hidden
    _tags_auto(tmp_path / "tags_auto.csv", rows)
    cfg = {"calibration": {"labels": [5, 100, 400, 500], "draws": 10}}
    c = calibration(tmp_path / "tags_auto.csv", truth, dict.fromkeys(GROUPS, 0.5), 0.9, cfg, seed=1)
    assert (c["hidden_pool_images"], c["hidden_val_images"], c["hidden_test_images"]) == (400, 300, 300)
    by = {t["labels"]: t for t in c["by_labels"]}
    assert sorted(by) == [0, 5, 100, 400]  # 500 is more than the pool
    for prefix in ("val_", ""):
        assert by[0][f"{prefix}trusted_share"]["mean"] == 1.0 and by[0][f"{prefix}trusted_accuracy"]["mean"] < 0.8
        assert by[0][f"{prefix}draws_at_bar"] == 0.0
        # chosen to be right 0.9 of the time on its labels, the style's own floor is about that on held-out images
        assert by[400][f"{prefix}trusted_accuracy"]["mean"] >= 0.85
        assert 0.1 < by[400][f"{prefix}trusted_share"]["mean"] < 0.5
    assert by[400]["trusted_accuracy"]["std"] == 0.0  # every draw of the whole pool is the same draw
    assert len(by[100]["trusted_share"]["runs"]) == 10
    assert by[5]["val_trusted_share"]["std"] > by[100]["val_trusted_share"]["std"]  # 5 labels: floors by chance
    reached = [n for n in sorted(by) if by[n]["val_trusted_accuracy"]["mean"] >= 0.9]  # validation decides
    assert c["labels_to_reach_bar"] == (reached[0] if reached else None)
    steady = [n for n in sorted(by) if n and by[n]["val_draws_at_bar"] >= 0.95]
    assert c["labels_for_steady_bar"] == (steady[0] if steady else None) and c["steady_share"] == 0.95
    # a tiny run whose hidden set has no validation image: that side is empty, not an error
    _tags_auto(tmp_path / "no_val.csv", [r for r in rows if r[1] != "val"])
    tiny = calibration(tmp_path / "no_val.csv", truth, dict.fromkeys(GROUPS, 0.5), 0.9, cfg, seed=1)
    assert tiny["hidden_val_images"] == 0 and tiny["labels_to_reach_bar"] is None
    assert tiny["by_labels"][1]["val_trusted_share"] is None and tiny["by_labels"][1]["trusted_share"]["mean"] > 0


@pytest.mark.slow
def test_the_study_on_the_smoke_profile(tmp_path):
    out = tmp_path / "auto_tags.json"
    cmd = ["python", "-m", "experiments.auto_tags", "--profile", "smoke", "--seeds", "1", "--count", "48"]
    env = {"BENCH_CACHE": str(tmp_path / "bench"), "PYTHONPATH": str(REPO)}
    proc = run([*cmd, "--out", str(out)], tmp_path, env=env)  # its caches (.cache/) in tmp_path, not the tree
    assert "cond_accuracy ratio" in proc.stdout
    doc = json.loads(out.read_text())
    assert set(doc["images_by_source"]) == {"generated", "generated:ink"}
    hidden = doc["tagger"]["on_hidden"]
    assert 40 <= hidden["hidden_images"] <= 48 and set(hidden["macro_f1_by_group"]) == set(GROUPS)
    assert 0 <= hidden["trusted_share"] <= 1
    assert doc["tagger"]["auto_tags"]["tags_by_origin"]["source"] > 0  # the built-in set keeps its own tags
    (seed,) = doc["runs"]["truth"]
    auto, truth = doc["runs"]["auto"][seed], doc["runs"]["truth"][seed]
    assert auto["conditions_by_origin"]["train_auto_tags"] + auto["conditions_by_origin"]["train_unknown"] > 0
    assert truth["conditions_by_origin"]["train_auto_tags"] == truth["conditions_by_origin"]["train_unknown"] == 0
    ratio = doc["cond_accuracy_ratio"]
    assert ratio["runs"] == [auto["cond_accuracy"] / truth["cond_accuracy"]] and ratio["mean"] == ratio["runs"][0]
    assert np.isclose(doc["fd_tagger_change"]["mean"], auto["fd_tagger"] / truth["fd_tagger"] - 1)
    assert doc["seeds_done"] == 1 and doc["bars"]["cond_accuracy_ratio"] == 0.9
    calib = doc["tagger"]["calibration"]
    assert calib["by_labels"][0]["labels"] == 0 and calib["min_accuracy"] == 0.9
    # the calibration re-scored alone from the kept tagger output: the runs stay, the calibration is the same
    again = run([*cmd, "--out", str(out), "--calibration-only"], tmp_path, env=env)
    assert "labels of the hidden style" in again.stdout
    redone = json.loads(out.read_text())
    assert redone["runs"] == doc["runs"] and redone["tagger"]["calibration"] == calib
    # the DCGAN part again on the kept tagger output: the kept generators are found and re-scored, none retrains
    kept = sorted((tmp_path / "bench").glob("bench-auto-tags-*/model.safetensors"))
    stamps = [k.stat().st_mtime_ns for k in kept]
    dcgan = run([*cmd, "--out", str(out), "--dcgan-only"], tmp_path, env=env)
    assert "auto_tags: seed" in dcgan.stdout
    again = json.loads(out.read_text())
    # FD's matrix square root is float64 but summed in another order on a re-score: a few parts per million apart
    assert again["tagger"] == redone["tagger"]
    assert _numbers(again["runs"]) == pytest.approx(_numbers(doc["runs"]), rel=1e-4)
    assert sorted((tmp_path / "bench").glob("bench-auto-tags-*/model.safetensors")) == kept and len(kept) == 2
    assert [k.stat().st_mtime_ns for k in kept] == stamps


def _numbers(doc, prefix: str = "") -> dict:
    """Every number of a nested result by its path: a kept generator loaded from its bundle computes in another
    memory layout than the one just trained, which can move the last digits of a figure (not its value)."""
    if isinstance(doc, dict):
        return {k: v for key, value in doc.items() for k, v in _numbers(value, f"{prefix}{key}.").items()}
    return {prefix: doc}


def test_a_kept_dcgan_is_found_again_by_what_it_trains_on():
    """The study keeps each trained DCGAN under a digest of its training images and conditions, so a re-run whose
    tagger files differ only in bookkeeping (the registry version a scratch store counts up) re-scores it, and any
    change to an image or a condition trains anew."""
    from experiments.auto_tags import training_digest

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(-1, 2, (6, 6))
    base = training_digest(images, labels)
    assert training_digest(images.copy(), labels.copy()) == base
    moved = labels.copy()
    moved[2, 3] = 1 - moved[2, 3] if moved[2, 3] >= 0 else 0
    assert training_digest(images, moved) != base
    bright = images.copy()
    bright[0, 0, 0, 0] ^= 1
    assert training_digest(bright, labels) != base
    assert training_digest(images, labels.astype(np.int32)) != base  # the dtype is part of what is trained on


def test_a_dcgan_only_rerun_keeps_the_result_until_a_seed_is_scored_again(tmp_path, monkeypatch):
    """`--dcgan-only` re-scores seeds into a result that already holds them: the file is not cut back to the tagger's
    figures before the first seed, so a rerun that stops early loses none of the seeds it held."""
    from types import SimpleNamespace

    from core.params import load_params
    from experiments import auto_tags
    from models.dcgan import family as dcgan
    from models.metrics import generators

    params = load_params(REPO / "params.yaml", "smoke")
    split = SimpleNamespace(images=np.zeros((2, 8, 8, 3), np.uint8), labels=np.zeros((2, 6), int))
    data = {"images": {params.dcgan.sizes[0]: {"train": split, "val": split, "test": split}}}
    monkeypatch.setattr(dcgan, "load", lambda p, paths: (data, None))
    monkeypatch.setattr(generators, "reference", lambda *a, **k: None)

    def stopped(*a, **k):
        raise RuntimeError("stopped before the first seed was scored")

    monkeypatch.setattr(auto_tags, "dcgan_arm", stopped)
    out = tmp_path / "result.json"
    out.write_text('{"runs": "kept"}')
    monkeypatch.setattr(auto_tags, "write_result", lambda doc, *a: out.write_text(json.dumps(doc)))
    cfg = {"seeds": [1]}
    with pytest.raises(RuntimeError):
        auto_tags.dcgan_seeds(params, cfg, tmp_path, None, {}, str(out), write_head=False)
    assert out.read_text() == '{"runs": "kept"}'
    with pytest.raises(RuntimeError):  # the whole study writes the tagger's figures first (it has no seeds yet)
        auto_tags.dcgan_seeds(params, cfg, tmp_path, None, {}, str(out))
    assert json.loads(out.read_text())["seeds_done"] == 0
