"""The reader-recipe study's own logic: experiments/reader_recipe.py trains D's reader alone and reads validation
accuracy per group."""

from __future__ import annotations

import numpy as np
import pytest

from core.names import ATTRIBUTES, GROUPS
from experiments.reader_recipe import RECIPES, train_reader


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
