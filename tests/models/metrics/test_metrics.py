"""The metrics registry: every metric found by the name users see, with its direction; names are unique."""

from __future__ import annotations

import numpy as np
import pytest

from models import metrics
from models.metrics.registry import register


def test_metrics_by_name():
    assert {"fd_tagger", "kid_tagger", "pck_0_05"} <= set(metrics.names())
    assert metrics.get("fd_tagger").lower_is_better and not metrics.get("pck_0_05").lower_is_better
    truth = np.zeros((4, 11, 2))
    assert metrics.get("pck_0_05").fn(truth, truth, 64) == 1.0
    with pytest.raises(KeyError, match="unknown metric 'fid'"):
        metrics.get("fid")


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("fd_tagger")(lambda a, b: 0.0)
