"""The pieces the evaluate stage calls (models/evaluate/compare.py, report.py, plots.py, upscaled.py) on records built
by hand; the stage end to end: tests/stages/test_pipeline.py."""

from __future__ import annotations

import json

import pytest

from core.errors import BadInput
from models.evaluate.compare import candidate_version
from models.evaluate.plots import _csv
from models.evaluate.report import comparison_markdown, dvc_metrics, markdown
from models.evaluate.upscaled import sr_on_generated


def _version(v: str, val: float, test: float) -> dict:
    return {"version": v, "val": {"fd_tagger": val}, "test": {"fd_tagger": test}, "size": 32}


RECORDS = {
    "anime-dcgan": {
        "candidate": _version("2", 1.23456, 1.5),
        "champion_before": _version("1", 2.0, 2.1),
        "decision": "candidate",
        "reason": "lower fd_tagger",
        "champion": "2",
        "primary": "fd_tagger",
        "higher_is_better": False,
    },
    "anime-stylegan": {
        "candidate": _version("4", 3.0, 3.1),
        "champion_before": _version("3", 2.5, 2.6),
        "decision": "champion",
        "reason": "the champion is better",
        "champion": "3",
        "primary": "fd_tagger",
        "higher_is_better": False,
    },
}
SERVING = {"generator": "anime-dcgan", "why": "lowest validation fd_tagger"}


def test_candidate_version_reads_the_stage_metrics(tmp_path):
    keys = ("dcgan", "dcgan", "version")
    assert candidate_version("metrics/dcgan.json", keys, tmp_path) is None  # the stage has not run
    (tmp_path / "metrics").mkdir()
    f = tmp_path / "metrics" / "dcgan.json"
    f.write_text("{")
    with pytest.raises(BadInput, match="not JSON"):
        candidate_version("metrics/dcgan.json", keys, tmp_path)
    f.write_text(json.dumps({"dcgan": {"dcgan": {}}}))
    with pytest.raises(BadInput, match="no dcgan.dcgan.version"):
        candidate_version("metrics/dcgan.json", keys, tmp_path)
    f.write_text(json.dumps({"dcgan": {"dcgan": {"version": 7}}}))
    assert candidate_version("metrics/dcgan.json", keys, tmp_path) == "7"


def test_the_stage_names_every_candidate_and_keeps_its_names():
    from stages import evaluate

    assert evaluate.serving_generator is not None and len(evaluate.CANDIDATES) == 7
    assert all(file.startswith("metrics/") for file, _, _ in evaluate.CANDIDATES.values())


def test_dvc_metrics_take_the_champion_after_the_decision():
    doc = {"models": RECORDS, "serving": SERVING, "sr_on_generated": None}
    m = dvc_metrics(doc)["evaluate"]
    assert m["anime-dcgan"] == {
        "primary": "fd_tagger",
        "candidate_val_fd_tagger": 1.23456,
        "candidate_fd_tagger": 1.5,
        "champion_val_fd_tagger": 1.23456,
        "champion_fd_tagger": 1.5,
        "candidate_version": 2,
        "champion_version": 2,
        "promoted": True,
    }
    assert m["anime-stylegan"]["champion_val_fd_tagger"] == 2.5 and not m["anime-stylegan"]["promoted"]
    assert m["serving_generator"] == "anime-dcgan" and "sr_on_generated" not in m
    assert dvc_metrics({**doc, "sr_on_generated": {"images": 4}})["evaluate"]["sr_on_generated"] == {"images": 4}


def test_comparison_markdown():
    text = comparison_markdown(RECORDS, SERVING)
    row = (
        "| anime-dcgan | fd_tagger (lower is better) | v2: 1.2346 / 1.5000 | v1: 2.0000 / 2.1000 | "
        "candidate: lower fd_tagger | v2 |"
    )
    assert row in text.splitlines()
    assert text.endswith("Served generator: anime-dcgan (lowest validation fd_tagger).\n")


def test_markdown_table():
    assert markdown([]) == "(none)\n"
    rows = [{"version": 1, "fd_tagger": 0.123456, "role": None}]
    assert markdown(rows) == "| version | fd_tagger | role |\n|---|---|---|\n| 1 | 0.1235 | - |\n"


def test_plot_csv(tmp_path):
    _csv(tmp_path / "a.csv", [{"step": 1, "loss_g": 0.5}, {"step": 2, "loss_g": 0.25}])
    assert (tmp_path / "a.csv").read_bytes() == b"step,loss_g\r\n1,0.5\r\n2,0.25\r\n"  # as it always was
    _csv(tmp_path / "b.csv", [])
    assert (tmp_path / "b.csv").read_text() == ""


def test_sr_on_generated_needs_a_generator_and_an_upscaler():
    assert sr_on_generated(RECORDS, {"generator": None}, ctx=None) == (None, None)
    assert sr_on_generated(RECORDS, SERVING, ctx=None) == (None, None)  # no anime-sr evaluated
