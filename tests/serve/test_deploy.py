"""What the deploy stage calls (serve/deploy.py, serve/cards.py): the model card, the training data's provenance,
the smoke test over a deploy folder, the retrieval references and the reload call. The stage end to end:
tests/stages/test_pipeline.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from core.errors import BadInput
from serve.cards import card, card_markdown, provenance
from serve.deploy import references, reload_server, smoke
from tests.conftest import free_port

PROV = {
    "images": {"source": "generated", "licence": "CC0-1.0", "images": 240, "layout": "folder", "by_split": {}},
    "poses": {"source": "rendered by this project (synth/pose, stage render)", "licence": "CC0-1.0"},
}


def _mv(**tags):
    return SimpleNamespace(tags=tags, creation_timestamp=1_764_115_200_000, run_id="abc")


def test_card_takes_the_figures_of_the_version_evaluate_scored():
    record = {
        "primary": "fd_tagger",
        "candidate": {"version": "2", "val": {"fd_tagger": 1.5, "recall": 0.5}, "test": {"fd_tagger": 1.7}, "size": 32},
        "champion_before": {"version": "1", "val": {"fd_tagger": 2.0}, "test": {"fd_tagger": 2.1}, "size": 32},
    }
    mv = _mv(profile="smoke", git_commit="c0ffee", other="x", **{"dvc_md5/data/ingest": "m.dir", "size": "32"})
    c = card("anime-dcgan", "1", record, mv, PROV)
    assert c["metrics"] == {"val": {"fd_tagger": 2.0}, "test": {"fd_tagger": 2.1}, "size": 32}
    assert c["date"] == "2025-11-26" and c["primary_metric"] == "fd_tagger" and c["size"] == 32
    assert c["lineage"] == {"git_commit": "c0ffee", "profile": "smoke", "size": "32", "dvc_md5/data/ingest": "m.dir"}
    text = card_markdown(card("anime-dcgan", "2", record, mv, PROV))
    assert "| fd_tagger | 1.5 | 1.7 |" in text and "| recall | 0.5 | - |" in text
    assert text.startswith("# anime-dcgan version 2\n") and "Trained on: 240 images from `generated`" in text


def test_card_of_a_version_evaluate_did_not_score():
    c = card("anime-sr", "5", None, _mv(size="64"), PROV)
    assert c["metrics"] is None and c["primary_metric"] is None and c["size"] == 64
    assert "| metric |" not in card_markdown(c)
    assert card("anime-sr", "5", None, _mv(), PROV)["size"] is None
    # promoted by hand, no size tag (a tagger): its bundle's config.json says what it reads
    assert card("anime-tagger", "1", None, _mv(), PROV, bundle_size=64)["size"] == 64


def test_bundle_size_reads_the_config_and_nothing_else(tmp_path):
    from serve.deploy import bundle_size

    assert bundle_size(tmp_path) is None  # no config.json
    for text, want in (('{"size": 64}', 64), ('{"kind": "hog"}', None), ('{"size": true}', None), ("[1]", None),
                       ('{"size": -3}', None), ("{", None)):  # fmt: skip
        (tmp_path / "config.json").write_text(text)
        assert bundle_size(tmp_path) == want, text


def test_provenance_reads_the_ingest_summary(tmp_path):
    f = tmp_path / "summary.json"
    with pytest.raises(BadInput, match="run the ingest stage first"):
        provenance(f)
    f.write_text(json.dumps({"source": "generated", "licence": "CC0-1.0", "images": 240, "layout": "folder"}))
    p = provenance(f)
    assert p["images"] == {
        "source": "generated",
        "licence": "CC0-1.0",
        "images": 240,
        "layout": "folder",
        "by_split": None,
        "by_source": {},
    }
    assert p["poses"]["licence"] == "CC0-1.0"


def test_card_names_every_source_with_its_share_and_licence(tmp_path):
    f = tmp_path / "summary.json"
    sources = {
        "generated": {"layout": "generic", "licence": "CC0-1.0", "files": 9, "images": 8, "tagged": 8, "rejected": 1},
        "dir:/crypko": {"layout": "crypko", "licence": "unknown", "files": 5, "images": 5, "tagged": 0, "rejected": 0},
    }
    f.write_text(json.dumps({"source": "generated + dir:/crypko", "licence": "CC0-1.0; unknown", "images": 13,
                             "layout": "generic+crypko", "sources": sources}))  # fmt: skip
    p = provenance(f)
    assert p["images"]["by_source"]["dir:/crypko"] == {
        "images": 5,
        "tagged": 0,
        "layout": "crypko",
        "licence": "unknown",
    }
    text = card_markdown(card("anime-dcgan", "1", None, _mv(), p))
    assert (
        "Trained on: 13 images: 8 from `generated` (CC0-1.0, 8 with tags); 5 from `dir:/crypko` (unknown, 0 with tags)"
        in text
    )


def test_smoke_runs_every_operation_once(tmp_path):
    from tests.serve.tiny import make_deploy

    ran = smoke(make_deploy(tmp_path / "deploy"))
    assert ran["generate/dcgan"] == [2, 32, 32, 3] and ran["generate/stylegan"] == [2, 32, 32, 3]
    assert ran["upscale"] == [1, 128, 128, 3] and ran["sketch"] == [64, 64]
    assert isinstance(ran["tag"], list) and ran["tag"]


def test_references_need_the_pose_sets(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"ids": ["pose-1"]}))
    with pytest.raises(BadInput):
        references(tmp_path, tmp_path / "no-render")


def test_reload_without_a_server_says_so():
    url = f"http://127.0.0.1:{free_port()}"
    assert reload_server(url, "token") == f"no server answers at {url}; `make serve` serves data/deploy"


def test_a_long_card_is_cut_at_a_line_for_the_registry():
    from serve.deploy import DESCRIPTION_LIMIT, describe

    assert describe("# card\nshort") == "# card\nshort"
    long = "\n".join(f"| row {i} | {'x' * 60} |" for i in range(200))
    cut = describe(long)
    assert len(cut) <= DESCRIPTION_LIMIT and cut.endswith("the whole card is the bundle's README.md)")
    assert cut.split("\n\n(cut")[0] == long[: len(cut.split("\n\n(cut")[0])]  # whole lines of the card
    assert cut.split("\n\n(cut")[0].endswith("|")
