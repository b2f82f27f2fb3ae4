"""What the studies that read a checkout's pipeline outputs (`--root`) are tested on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, set_profile, untrained_ruler


@pytest.fixture
def smoke_root(tmp_path, smoke_ingest, smoke_params, store) -> Path:
    """A checkout's layout on the smoke profile, as far as the train stage reads it: params.yaml, data/ingest, the
    label and tagger stages' tags, the extractor pin (a tagger registered in the test's store, also the judge) and an
    untrained second ruler."""
    from tests.faults.test_retry import _inputs
    from tests.stages.test_train_torchrun import _pin

    root = tmp_path / "root"
    for folder in ("label", "tagger", "extractor"):
        (root / "data" / folder).mkdir(parents=True)
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    set_profile(root / "params.yaml", "smoke")
    (root / "data" / "ingest").symlink_to(smoke_ingest)
    files = _inputs(tmp_path, smoke_ingest)
    shutil.copy(files["labels"], root / "data" / "label" / "tags.csv")
    shutil.copy(files["auto_tags"], root / "data" / "tagger" / "tags_auto.csv")
    shutil.copy(_pin(tmp_path, smoke_params), root / "data" / "extractor" / "pin.json")
    shutil.copytree(tmp_path / "judge", root / "data" / "tagger" / "judge")
    untrained_ruler(root / "data" / "ruler", smoke_params)
    return root


@pytest.fixture
def validation_only(monkeypatch) -> list[tuple[int, str | None]]:
    """The judge studies' image shards (experiments/judge_size.py's, which judge_flip reads through) refuse the test
    split; the (size, split) pairs they opened."""
    from experiments import judge_size

    opened: list[tuple[int, str | None]] = []

    class ValidationOnly(judge_size.ImageShards):
        def __init__(self, folder, size, split=None):
            assert split != "test", "the study read the test split"
            opened.append((size, split))
            super().__init__(folder, size, split)

    monkeypatch.setattr(judge_size, "ImageShards", ValidationOnly)
    return opened
