"""`python -m stages.extractor --move VERSION`: once the alias moves, DVC rewrites the pin and re-scores what used
it, in that order (tests/stages/test_pipeline.py moves the pin with --no-repro and checks, with DVC itself, that the
first rewrites it and that every scoring stage is then stale on it). The registry is a real local MLflow store; DVC
is stood in for, since the second command re-runs every generator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import BadInput


def _taggers(tmp_path, params) -> list[str]:
    """Two tagger CNNs registered in the store (versions 1 and 2), as the tagger stage registers them."""
    from core import tracking
    from models.tagger.net import MODEL, TaggerNet

    versions = []
    for role in ("cnn", "judge"):
        folder = tmp_path / role
        TaggerNet(width=4, size=32).save(folder, {"role": role, "thresholds": {}})
        with tracking.start_run("tagger", params, "tagger", ["tagger"], [], run_name=f"tagger-{role}"):
            versions.append(tracking.register_bundle(folder, MODEL, tags={"role": role}))
    return versions


def test_a_move_rewrites_the_pin_then_re_scores_downstream(tmp_path, monkeypatch, smoke_params):
    from core import tracking
    from models.tagger.net import MODEL
    from stages import extractor

    monkeypatch.chdir(tmp_path)  # the store's artifacts (./mlruns) land here, not in the repository
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    first, second = _taggers(tmp_path, smoke_params)
    calls: list[list[str]] = []

    def dvc(exit_code: int):
        def run(cmd, check=False):
            assert cmd[:3] == [sys.executable, "-m", "dvc"] and not check
            calls.append(cmd[3:])
            return subprocess.CompletedProcess(cmd, exit_code)

        return run

    monkeypatch.setattr(extractor.subprocess, "run", dvc(0))
    assert extractor.move(first, "the first pin") is None
    assert calls == [["repro", "--force", "--single-item", "extractor"], ["repro", "--downstream", "extractor"]]
    assert tracking.alias_version(MODEL, extractor.ALIAS) == str(first)

    # a re-run that fails: the alias has moved (the message says so), and nothing after the failed command runs
    calls.clear()
    monkeypatch.setattr(extractor.subprocess, "run", dvc(1))
    with pytest.raises(BadInput, match="the alias moved: run it again"):
        extractor.move(second, "the judge generalises better")
    assert calls == [["repro", "--force", "--single-item", "extractor"]]
    assert tracking.alias_version(MODEL, extractor.ALIAS) == str(second)

    # --no-repro moves the alias alone
    calls.clear()
    assert extractor.move(first, "back", repro=False) == str(second)
    assert calls == [] and tracking.alias_version(MODEL, extractor.ALIAS) == str(first)
