"""What a push offers: without a champion, candidates without predictions; with one, its guesses, most uncertain
first; with the tracking server down, Transient (exit 75), never a quiet push without predictions."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core import tracking
from core.errors import EXIT_TRANSIENT, BadInput, Transient
from core.names import ATTRIBUTES, GROUPS
from labeling.candidates import pose_candidates, tag_candidates
from tests.conftest import free_port
from tests.labeling.champions import register_posenet, register_tagger


@pytest.fixture(scope="module")
def render_dir(tmp_path_factory, smoke_params):
    from stages import render

    out = tmp_path_factory.mktemp("render") / "render"
    render.run(smoke_params, out, workers=1)
    return out


def _train_ids(render_dir) -> list[str]:
    from synth.pose.poseset import PoseSet

    ps = PoseSet(render_dir)
    return [ps.meta[i]["id"] for i in ps.rows("train")]


def _random_tags_auto(path, ingest_dir) -> None:
    """tags_auto.csv as the tagger stage writes it, with random probabilities."""
    from dataset.shards import read_manifest
    from models.tagger import roles

    rows = read_manifest(ingest_dir)
    rng = np.random.default_rng(0)
    probs = {g: rng.dirichlet(np.ones(len(ATTRIBUTES[g])), len(rows)) for g in GROUPS}
    roles.write_auto_tags(path, rows, probs, {}, {}, "anime-tagger/1")


def test_a_down_tracking_server_is_transient(render_dir, smoke_ingest, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Transient, match="unreachable") as err:
        pose_candidates(render_dir, 3, set())
    assert err.value.exit_code == EXIT_TRANSIENT == 75
    tags_auto = tmp_path / "tags_auto.csv"
    _random_tags_auto(tags_auto, smoke_ingest)
    with pytest.raises(Transient, match="unreachable"):
        tag_candidates(smoke_ingest, tags_auto, 3, set())


def test_no_registered_model_means_no_predictions(render_dir, smoke_ingest, smoke_params, store, tmp_path):
    skip = set(_train_ids(render_dir)[:2])
    pose = pose_candidates(render_dir, 4, skip)
    assert pose.ids == _train_ids(render_dir)[2:6]  # in pose-set order: nothing ranks them
    assert pose.predictions is None and pose.model_version is None and pose.uncertainty == [None] * 4
    assert pose.images.shape == (4, 64, 64, 3) and pose.images.dtype == np.uint8

    tags_auto = tmp_path / "tags_auto.csv"
    _random_tags_auto(tags_auto, smoke_ingest)
    tags = tag_candidates(smoke_ingest, tags_auto, 5, set())
    assert tags.predictions is None and tags.model_version is None
    assert len(tags.ids) == 5 and all(u is not None for u in tags.uncertainty)  # tags_auto.csv still ranks them

    # a registered posenet without the `champion` alias: still no predictions
    tiny = register_posenet(tmp_path / "posenet", smoke_params, 64)[0]
    _, client = tracking.connect()
    client.delete_registered_model_alias("anime-posenet", "champion")
    assert tiny == "1" and tracking.alias_version("anime-posenet", "champion") is None
    assert pose_candidates(render_dir, 4, skip).predictions is None


def test_the_champions_guesses_most_uncertain_first(render_dir, smoke_ingest, smoke_params, store, tmp_path):
    from models.pose.net import predict

    version, net = register_posenet(tmp_path / "posenet", smoke_params, 64)
    skip = set(_train_ids(render_dir)[:3])
    pose = pose_candidates(render_dir, 5, skip)
    assert pose.model_version == f"anime-posenet/{version}" and len(pose.ids) == 5
    assert not skip & set(pose.ids) and set(pose.ids) <= set(_train_ids(render_dir)[3:23])  # from the pool of 4n
    assert pose.uncertainty == sorted(pose.uncertainty, reverse=True) and len(set(pose.uncertainty)) > 1
    assert np.allclose(np.stack(pose.predictions), predict(net, pose.images), atol=1e-4)  # the registered model's

    tags_auto = tmp_path / "tagger" / "tags_auto.csv"
    tagger = register_tagger(tmp_path / "tagger_bundle", smoke_params, smoke_ingest, tags_auto)
    tags = tag_candidates(smoke_ingest, tags_auto, 6, set())
    assert tags.model_version == f"anime-tagger/{tagger}"
    with open(tags_auto, newline="", encoding="utf-8") as f:
        auto = {r["id"]: r for r in csv.DictReader(f)}
    assert tags.predictions == [{g: auto[i][g] for g in GROUPS} for i in tags.ids]
    from dataset.shards import read_manifest

    labelled = {r["id"]: any(r.get(g) for g in GROUPS) for r in read_manifest(smoke_ingest)}
    order = [(labelled[i], -u) for i, u in zip(tags.ids, tags.uncertainty)]
    assert order == sorted(order)  # unlabelled first, then most uncertain first


def test_random_order_and_splits(render_dir, smoke_ingest, store, tmp_path):
    """`label.order: random`: a uniform draw, the same for the same (seed, tasks so far), another after a push."""
    from dataset.shards import read_manifest

    tags_auto = tmp_path / "tags_auto.csv"
    _random_tags_auto(tags_auto, smoke_ingest)
    split = {r["id"]: r["split"] for r in read_manifest(smoke_ingest)}
    ranked = tag_candidates(smoke_ingest, tags_auto, 8, set(), splits=("train",))
    a = tag_candidates(smoke_ingest, tags_auto, 8, set(), "random", 7, ("train",))
    assert a.ids == tag_candidates(smoke_ingest, tags_auto, 8, set(), "random", 7, ("train",)).ids
    assert {split[i] for i in a.ids + ranked.ids} == {"train"} and len(set(a.ids)) == 8
    assert a.ids != ranked.ids and a.ids != tag_candidates(smoke_ingest, tags_auto, 8, set(), "random", 8).ids
    b = tag_candidates(smoke_ingest, tags_auto, 8, set(a.ids), "random", 7, ("train",))
    assert not set(a.ids) & set(b.ids)  # the next push draws anew among what is left
    train = [i for i, s in split.items() if s == "train"]
    everything = tag_candidates(smoke_ingest, tags_auto, len(train) + 5, set(), "random", 7, ("train",))
    assert sorted(everything.ids) == sorted(train)  # every training image once, nothing else

    skip = set(_train_ids(render_dir)[:2])
    pose = pose_candidates(render_dir, 4, skip, "random", 7)
    assert len(pose.ids) == 4 and not skip & set(pose.ids) and pose.ids != _train_ids(render_dir)[2:6]
    assert set(pose.ids) <= set(_train_ids(render_dir))


def test_uncertainty_over_the_groups_an_image_lacks(smoke_ingest, store, tmp_path):
    """An image whose source shows some groups is ranked by the tagger's doubt about the others only."""
    import shutil

    from dataset.shards import read_manifest

    ingest = tmp_path / "ingest"
    shutil.copytree(smoke_ingest, ingest)
    rows = read_manifest(ingest)
    with open(ingest / "manifest.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, table = reader.fieldnames, list(reader)
    for r in table:  # the source shows every group but smile
        r["smile"] = ""
    with open(ingest / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(table)
    tags_auto = tmp_path / "tags_auto.csv"
    from models.tagger import roles

    rng = np.random.default_rng(1)
    probs = {g: rng.dirichlet(np.ones(len(ATTRIBUTES[g])), len(rows)) for g in GROUPS}
    roles.write_auto_tags(tags_auto, rows, probs, {}, {}, "anime-tagger/1")
    cand = tag_candidates(ingest, tags_auto, 5, set())
    expected = np.argsort(probs["smile"].max(axis=1), kind="stable")[:5]  # least sure of smile first
    assert cand.ids == [rows[i]["id"] for i in expected]
    assert cand.uncertainty == pytest.approx([1 - probs["smile"][i].max() for i in expected], abs=1e-4)


def _with_untagged(smoke_params, tmp_path, count: int) -> tuple[str, object]:
    """The built-in set ingested into tmp_path/ingest beside a Crypko-layout folder of `count` images declared
    untagged, with random auto-tags; (the folder's spec, tags_auto.csv)."""
    from dataset.importer import ingest
    from dataset.sources import open_sources
    from tests.conftest import with_ingest
    from tests.dataset.test_layouts import build_crypko

    build_crypko(tmp_path / "crypko", count)
    crypko = f"dir:{tmp_path / 'crypko'}"
    params = with_ingest(smoke_params, ["generated", {"spec": crypko, "groups": []}], workers=1)
    ingest(params, tmp_path / "ingest", open_sources(params))
    tags_auto = tmp_path / "tags_auto.csv"
    _random_tags_auto(tags_auto, tmp_path / "ingest")
    return crypko, tags_auto


def test_the_queue_draws_from_the_untagged_collection_first(smoke_params, store, tmp_path):
    """Ingested beside a tagged collection, an untagged one (`groups: []`) fills the annotators' queue first, most
    uncertain first; the tagged one's images come after."""
    from dataset.shards import read_manifest

    crypko, tags_auto = _with_untagged(smoke_params, tmp_path, 10)
    source = {r["id"]: r["source"] for r in read_manifest(tmp_path / "ingest")}
    first = tag_candidates(tmp_path / "ingest", tags_auto, 10, set())
    assert [source[i] for i in first.ids] == [crypko] * 10
    assert first.uncertainty == sorted(first.uncertainty, reverse=True)
    after = tag_candidates(tmp_path / "ingest", tags_auto, 3, set(first.ids))
    assert {source[i] for i in after.ids} == {"generated"}


def test_a_source_without_its_own_trust_floors_gets_validation_images_labelled_first(smoke_params, store, tmp_path):
    """floors.json (the tagger stage's) says the untagged collection borrows the built-in style's floors and needs
    labels of its own validation images: those come first, drawn at random among them, then the usual order; a
    source that needs none, or a random-order push, is not affected; a broken floors.json is a clear error."""
    from dataset.shards import read_manifest

    crypko, tags_auto = _with_untagged(smoke_params, tmp_path, 60)
    rows = {r["id"]: r for r in read_manifest(tmp_path / "ingest")}
    val = sorted(i for i, r in rows.items() if r["source"] == crypko and r["split"] == "val")
    assert len(val) >= 4
    entry = {"floor": 0.5, "labelled": 0, "from": "overall", "labels_needed": 3}
    floors = {"by_source": {crypko: {**dict.fromkeys(GROUPS, {**entry, "labels_needed": 0}), "smile": entry}}}
    floors["by_source"]["generated"] = dict.fromkeys(GROUPS, {**entry, "from": "own", "labels_needed": 0})
    (tmp_path / "floors.json").write_text(json.dumps(floors))
    usual = tag_candidates(tmp_path / "ingest", tags_auto, 10, set(val))  # none of its validation images left
    cand = tag_candidates(tmp_path / "ingest", tags_auto, 10, set())
    assert set(cand.ids[:3]) <= set(val) and len(set(cand.ids[:3])) == 3
    rest = cand.ids[3:]
    assert all(rows[i]["source"] == crypko for i in rest)  # then the untagged collection, most uncertain first
    assert [cand.uncertainty[cand.ids.index(i)] for i in rest] == sorted(
        (cand.uncertainty[cand.ids.index(i)] for i in rest), reverse=True
    )
    assert usual.ids == [i for i in usual.ids if i not in val] and rows[usual.ids[0]]["source"] == crypko
    again = tag_candidates(tmp_path / "ingest", tags_auto, 3, set(cand.ids[:3]))  # the next push: other ones
    left = min(3, len(val) - 3)
    assert set(again.ids[:left]) <= set(val) - set(cand.ids[:3])
    assert tag_candidates(tmp_path / "ingest", tags_auto, 10, set(), order="random").ids != cand.ids
    (tmp_path / "floors.json").write_text('{"by_source": {"x": 3}}')
    with pytest.raises(BadInput, match="floors.json"):
        tag_candidates(tmp_path / "ingest", tags_auto, 10, set())
