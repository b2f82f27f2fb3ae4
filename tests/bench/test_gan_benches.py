"""The DCGAN settings benches' own logic: bench/gan_variants.py's overrides and bench/reader_recipe.py's reader."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from bench.gan_variants import merged
from bench.reader_recipe import RECIPES, train_reader
from core.names import ATTRIBUTES, GROUPS
from core.params import DcganParams, load_params
from tests.conftest import REPO


def test_a_variant_overrides_nested_sections_key_by_key():
    base = {"steps": 10, "reader": {"width": 16, "lr": 0.001, "flip": True}}
    assert merged(base, {"reader": {"width": 8}, "steps": 5}) == {
        "steps": 5,
        "reader": {"width": 8, "lr": 0.001, "flip": True},
    }
    assert base["reader"]["width"] == 16  # the base is not changed


def test_every_committed_variant_is_a_valid_dcgan_section():
    base = load_params(REPO / "params.yaml", "cpu").dcgan.model_dump()
    spec = yaml.safe_load((REPO / "bench" / "gan_variants.yaml").read_text())
    for name, overrides in spec["variants"].items():
        p = DcganParams.model_validate(merged(base, overrides or {}))
        for key, value in (overrides or {}).get("reader", {}).items():
            assert getattr(p.reader, key) == value, name


@pytest.mark.parametrize("recipe", ["plain", "tagger"])
def test_the_reader_bench_reads_validation_accuracy_per_group(recipe):
    rng = np.random.default_rng(0)
    y = np.stack([rng.integers(0, len(ATTRIBUTES[g]), 24) for g in GROUPS], axis=1)
    y[0, 0] = -1  # an unknown label is ignored
    x = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    log = train_reader(x[:16], y[:16], x[16:], y[16:], 4, 1e-3, 8, 3, 0, **RECIPES[recipe])
    assert list(log) == [3] and set(log[3]) == set(GROUPS)
    assert all(0.0 <= a <= 1.0 for a in log[3].values())
    assert train_reader(x[:16], y[:16], x[16:], y[16:], 4, 1e-3, 8, 3, 0, **RECIPES[recipe]) == log  # its seed decides
