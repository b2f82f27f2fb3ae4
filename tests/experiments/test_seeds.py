"""experiments/seeds.py reads the pipeline's own generator runs in the shape it gives retrained seeds, sliders
included, and spreads them as mean ± sample std."""

from __future__ import annotations

import json

import pytest

from experiments import seeds
from tests.conftest import REPO


@pytest.mark.parametrize("family", ["dcgan", "stylegan"])
def test_a_committed_run_reads_with_its_sliders(family):
    path = REPO / "metrics" / f"{family}.json"
    stage = json.loads(path.read_text())[family][family]
    read = seeds.dcgan_pipeline_run(path) if family == "dcgan" else seeds.stylegan_pipeline_run(path)
    for prefix in ("", "val_"):
        assert read[f"{prefix}control_success"] == stage[f"{prefix}control_success"]
        assert read[f"{prefix}control_success_min"] == min(stage[f"{prefix}control_success_by_tag"].values())
        for figure in seeds.GENERATOR_FIGURES:
            assert read[prefix + figure] == stage[prefix + figure]
    assert read["steps_done"] == stage["steps_done"]


def test_spread_is_mean_and_sample_std():
    runs = [{"fd_tagger": 2.0, "recall": 0.5}, {"fd_tagger": 4.0, "recall": 0.5}, {"fd_tagger": 3.0, "recall": 0.5}]
    out = seeds.spread(runs)
    assert out["fd_tagger"] == {"mean": 3.0, "std": 1.0, "min": 2.0, "max": 4.0}
    assert out["recall"]["std"] == 0.0
