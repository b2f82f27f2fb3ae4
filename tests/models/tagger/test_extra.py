"""Annotators' extra groups become tagger heads (models/tagger/extra.py): a group with enough training labels gets a
head that reads held-out images; one with too few waits and says how many it needs; the bundle reproduces the
readings with numpy alone; tags_extra.csv keeps the annotators' tags and trusts a reading from its floor up."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from labeling.configs import tag_groups
from labeling.files import tags_csv
from models.tagger import extra
from models.tagger.net import TaggerNet, extract_features
from tests.conftest import REPO


def _images(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n 32 px images; `hat` (0 no, 1 yes) is a red band on top of a random-coloured face."""
    x = rng.integers(0, 256, (n, 1, 1, 3)).repeat(32, 1).repeat(32, 2).astype(np.uint8)
    hat = rng.integers(0, 2, n)
    x[hat == 1, :8] = (230, 20, 20)
    return x, hat


def test_a_group_with_enough_labels_gets_a_head_and_one_without_waits(tmp_path):
    params = load_params(REPO / "params.yaml", "smoke")
    tp = params.tagger.model_copy(update={"extra_min_labels": 40, "auto_min_accuracy": 0.9})
    declared = {"hat": ["no", "yes"], "scarf": ["no", "yes", "long"]}
    params = params.model_copy(
        update={"tagger": tp, "label": params.label.model_copy(update={"extra_groups": declared})}
    )
    rng = np.random.default_rng(0)
    x, hat = _images(300, rng)
    split = np.array(["train"] * 200 + ["val"] * 50 + ["test"] * 50)
    rows = [{"id": f"i{k:03d}", "split": s} for k, s in enumerate(split)]
    labelled = [k for k in range(300) if split[k] != "train" or k < 60]  # 60 training labels, every held-out one
    rows_csv = {r["id"]: {"source": "label-studio"} for r in rows}
    for k in labelled:
        rows_csv[rows[k]["id"]]["hat"] = ("no", "yes")[hat[k]]
    for k in range(5):  # five labels of scarf: too few for a head
        rows_csv[rows[k]["id"]]["scarf"] = "long"
    path = tmp_path / "tags.csv"
    path.write_text(tags_csv(rows_csv, tag_groups(declared)))  # the label stage's own writer
    labels = extra.read_extra(path)
    assert set(labels) == {"hat", "scarf"} and len(labels["hat"]) == len(labelled) and len(labels["scarf"]) == 5
    torch.manual_seed(0)
    net = TaggerNet(width=4, size=32)

    figures = extra.run(params, net, x, rows, labels, tmp_path)
    assert figures["head_by_group"] == {"hat": True, "scarf": False}
    assert figures["train_labels_by_group"] == {"hat": 60, "scarf": 5}
    assert figures["labels_needed_by_group"] == {"hat": 0, "scarf": 35}
    assert figures["macro_f1_by_group"]["hat"] >= 0.9  # held-out test images read right
    assert figures["val_macro_f1_by_group"]["hat"] >= 0.9 and figures["macro_f1_by_group"]["scarf"] is None

    with open(tmp_path / "tags_extra.csv", newline="") as f:
        out = list(csv.DictReader(f))
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    by_id = {r["id"]: r for r in out}
    for k in labelled:  # an annotator's tag is kept as it is
        r = by_id[rows[k]["id"]]
        assert r["hat"] == ("no", "yes")[hat[k]] and r["from:hat"] == "annotation"
    floor = figures["floor_by_group"]["hat"]
    for k in range(60, 200):  # the rest: the head's reading, trusted from its floor up
        r = by_id[rows[k]["id"]]
        trusted = floor is not None and float(r["c:hat"]) >= floor - 1e-4
        assert r["from:hat"] == ("auto" if trusted else "unknown") and r["hat"] == (r["auto:hat"] if trusted else "")
    assert all(r["auto:scarf"] == "" and r["from:scarf"] in ("annotation", "unknown") for r in out)
    auto_right = np.mean([by_id[rows[k]["id"]]["auto:hat"] == ("no", "yes")[hat[k]] for k in range(60, 200)])
    assert auto_right >= 0.9

    heads, arrays = extra.load_heads(tmp_path)  # numpy alone reproduces the readings
    assert set(heads) == {"hat"} and heads["hat"]["values"] == ["no", "yes"]
    probs = extra.probabilities(heads, arrays, extract_features(net, x))["hat"]
    assert [("no", "yes")[c] for c in probs.argmax(axis=1)] == [r["auto:hat"] for r in out]
    assert np.allclose(probs.max(axis=1), [float(r["c:hat"]) for r in out], atol=1e-3)


def test_no_extra_group_means_no_extra_file(tmp_path):
    rows = {"a": {"source": "generated", **{g: ATTRIBUTES[g][0] for g in GROUPS}}}
    (tmp_path / "tags.csv").write_text(tags_csv(rows, tag_groups({})))
    assert extra.read_extra(tmp_path / "tags.csv") == {}


@pytest.mark.parametrize("min_labels", [1])
def test_the_threshold_is_checked(min_labels):
    from pydantic import ValidationError

    params = load_params(REPO / "params.yaml", "smoke")
    with pytest.raises(ValidationError, match="extra_min_labels"):
        type(params.tagger).model_validate({**params.tagger.model_dump(), "extra_min_labels": min_labels})


def test_without_extra_groups_the_stage_still_writes_empty_heads_and_tags(tmp_path):
    """The train stage depends on extra/ and tags_extra.csv: a run without extra groups (or a pinned one) writes them
    empty, and fits nothing."""
    params = load_params(REPO / "params.yaml", "smoke")
    rows = [{"id": f"i{k}", "split": "train"} for k in range(3)]
    figures = extra.run(params, TaggerNet(width=4, size=32), np.zeros((3, 32, 32, 3), np.uint8), rows, {}, tmp_path)
    assert figures == {"min_labels": params.tagger.extra_min_labels}
    assert extra.load_heads(tmp_path) == ({}, {}) and not (tmp_path / "extra" / "heads.npz").exists()
    assert (tmp_path / "tags_extra.csv").read_text().splitlines() == ["id", "i0", "i1", "i2"]
