"""experiments/judge_flip.py: the pipeline's judge read plainly and with its mirror, each read calibrated and scored
on validation alone (a shard set that refuses the test split); a judge that already reads with its mirror is refused
as a starting point."""

from __future__ import annotations

import json
import sys

import pytest

from experiments import judge_flip


def test_each_read_is_calibrated_and_scored_on_validation_alone(smoke_root, tmp_path, monkeypatch, validation_only):
    opened = validation_only
    out = tmp_path / "result.json"
    argv = ["judge_flip", "--profile", "smoke", "--data", str(smoke_root / "data"), "--n", "12", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    judge_flip.main()
    doc = json.loads(out.read_text())
    assert list(doc["reads"]) == ["plain", "flip"] and doc["calibrated_at"] == 64
    assert set(opened) == {(32, "val"), (64, "val")}
    plain, flip = doc["reads"]["plain"], doc["reads"]["flip"]
    for row in (plain, flip):
        assert 0 <= row["val_macro_f1_32px"] <= 1 and 0 <= row["val_macro_f1_64px"] <= 1
        c = row["ceiling_32"]
        assert 0 <= c["ceiling"] <= 1 and set(c["ceiling_by_tag"]) >= {"glasses=yes", "smile=yes"}
        assert "dcgan_val" not in row
    assert plain["spec"] == {"flip": False} and flip["spec"] == {"flip": True}

    config = smoke_root / "data" / "tagger" / "judge" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "read_flip": True}))
    with pytest.raises(SystemExit, match="already reads with its mirror"):
        judge_flip.main()
