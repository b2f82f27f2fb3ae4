"""The champion policy (models/evaluate/policy.py): validation chooses, strictly better wins, ties keep the champion,
tie-breaks in order, incomparable champions stay; and the served generator's choice (stages/evaluate.py)."""

from __future__ import annotations

import pytest

from models.evaluate.policy import RULES, compare, decide
from stages.evaluate import CANDIDATES, serving_generator


def test_every_model_the_stage_evaluates_has_a_rule():
    assert set(RULES) == set(CANDIDATES)


def test_lower_is_better_and_higher_is_better():
    assert decide("anime-dcgan", {"fd_tagger": 5.0}, {"fd_tagger": 6.0}).winner == "candidate"
    assert decide("anime-dcgan", {"fd_tagger": 7.0}, {"fd_tagger": 6.0}).winner == "champion"
    assert decide("anime-sr", {"psnr_db": 23.0, "ssim": 0.1}, {"psnr_db": 22.0, "ssim": 0.9}).winner == "candidate"
    d = decide("anime-sr", {"psnr_db": 21.0, "ssim": 0.9}, {"psnr_db": 22.0, "ssim": 0.1})
    assert d.winner == "champion" and "psnr_db" in d.reason and "higher is better" in d.reason


def test_ties_go_to_the_tie_breaks_then_to_the_champion():
    a = {"fd_tagger": 6.0, "precision": 0.9, "recall": 0.2}
    assert compare("anime-dcgan", {**a, "recall": 0.3}, a) == (1, "recall")
    assert compare("anime-dcgan", {**a, "fd_tagger": 6.00004, "precision": 0.8}, a) == (-1, "precision")
    d = decide("anime-dcgan", dict(a), dict(a))
    assert d.winner == "champion" and "tie" in d.reason
    p2s = {"pck_0_05": 0.8, "l1": 0.05, "ssim": 0.8}
    assert decide("anime-pose2sketch", {**p2s, "l1": 0.04}, p2s).winner == "candidate"  # lower l1 breaks the tie


def test_no_champion_no_candidate_and_incomparable():
    assert decide("anime-tagger", {"macro_f1": 0.1}, None).winner == "candidate"
    assert decide("anime-tagger", None, {"macro_f1": 0.1}).winner == "champion"
    d = decide("anime-tagger", {"macro_f1": 0.9}, {"macro_f1": 0.1}, comparable="profile cpu vs smoke")
    assert d.winner == "champion" and "not comparable" in d.reason and "by hand" in d.reason


def test_a_missing_metric_is_an_error_not_a_silent_choice():
    with pytest.raises(KeyError, match="precision"):
        compare("anime-dcgan", {"fd_tagger": 1.0}, {"fd_tagger": 1.0})


def _rec(size: int, fd: float, decision: str = "candidate") -> dict:
    scores = {"size": size, "val": {"fd_tagger": fd}, "version": "1"}
    return {"candidate": scores, "champion_before": None, "decision": decision}


def test_the_served_generator_is_the_better_champion_at_one_size():
    got = serving_generator({"anime-dcgan": _rec(32, 7.0), "anime-stylegan": _rec(32, 10.0)})
    assert got["generator"] == "anime-dcgan" and "fd_tagger" in got["why"]
    assert serving_generator({"anime-dcgan": _rec(32, 7.0), "anime-stylegan": _rec(64, 10.0)})["generator"] == (
        "anime-stylegan"
    )
    assert serving_generator({})["generator"] is None


def test_posenet_candidate_and_champion_are_scored_on_the_same_kinds(tmp_path, smoke_params):
    """A champion trained on fewer kinds is scored on every kind this run's params ask for, as the candidate is."""
    from types import SimpleNamespace

    from models.evaluate import scorers
    from models.pose.net import PoseNet
    from synth.pose.poseset import PoseSet, render_sets

    p = smoke_params.render.model_copy(
        update={"count": smoke_params.render.count.model_copy(update={"train": 4, "val": 4, "test": 4})}
    )
    (tmp_path / "render").mkdir()
    render_sets(p, smoke_params.seed, tmp_path / "render", workers=1)
    ctx = SimpleNamespace(params=smoke_params, poses=PoseSet(tmp_path / "render"))
    old = tmp_path / "old"
    PoseNet(width=4, size=p.size).save(old, {"kinds": ["stick"]})
    got = scorers.posenet(old, ctx)
    kinds = set(smoke_params.pose.kinds)
    assert "drawn" in kinds and {k.split("/")[1] for k in got["val"] if "/" in k} == kinds
