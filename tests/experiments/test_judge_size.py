"""experiments/judge_size.py: each judge recipe of its settings is trained and read on validation alone (a shard
set that refuses the test split), one row per calibration size, and a run of some judges keeps the result file's
other rows."""

from __future__ import annotations

import json
import sys

import pytest

from experiments import judge_size

pytestmark = pytest.mark.slow  # trains two tagger CNNs: make test, not the edit loop


def test_each_recipe_is_read_on_validation_alone(smoke_root, tmp_path, monkeypatch, validation_only):
    opened = validation_only
    settings = tmp_path / "judges.yaml"
    settings.write_text(
        "judges:\n  '64': {shard: 64, calibrate: [64]}\n  mixed: {shard: 64, low_res: 0.5, calibrate: [32, 64]}\n"
        "low_size: 32\n"
    )
    monkeypatch.setattr(judge_size, "SETTINGS", settings)
    out = tmp_path / "result.json"
    argv = ["judge_size", "--profile", "smoke", "--data", str(smoke_root / "data"), "--n", "12", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    judge_size.main()
    doc = json.loads(out.read_text())
    assert list(doc["judges"]) == ["64@64", "mixed@32", "mixed@64"] and doc["low_size"] == 32
    assert {(32, "val"), (64, "val"), (64, "train")} == set(opened)
    for row in doc["judges"].values():
        assert 0 <= row["val_macro_f1_32px"] <= 1 and 0 <= row["val_macro_f1_64px"] <= 1 and 0 <= row["ceiling"] <= 1
        assert set(row["ceiling_by_tag"]) >= {"glasses=yes", "smile=yes"} and "dcgan_val" not in row
    a, b = doc["judges"]["mixed@32"], doc["judges"]["mixed@64"]
    assert a["train_seconds"] == b["train_seconds"]  # one training, thresholds chosen twice

    monkeypatch.setattr(sys, "argv", [*argv, "--only", "64"])
    judge_size.main()
    again = json.loads(out.read_text())
    assert list(again["judges"]) == ["64@64", "mixed@32", "mixed@64"] and again["judges"]["mixed@32"] == a
    assert again["judges"]["64@64"]["ceiling_by_tag"] == doc["judges"]["64@64"]["ceiling_by_tag"]  # seeded
    with pytest.raises(KeyError):
        monkeypatch.setattr(sys, "argv", [*argv, "--only", "nope"])
        judge_size.main()
