"""The run record (models/engine/record.py) sits beside a family's scores in one dict, after them: none of its keys
may be a metric's name, or it would replace that figure (a `precision` key once replaced the GANs' precision)."""

from __future__ import annotations

import torch

from models import metrics
from models.engine import gan
from models.engine.record import run_record
from tests.models.engine.test_gan import _config, _task


def test_the_engine_record_names_no_metric_and_says_what_ran():
    res = gan.train(_task(), _config(steps=2))
    rec = run_record(res, 1.5, size=32)
    assert rec == {"size": 32, "steps_done": 2, "stopped_by_budget": False, "watchdog": None,
                   "train_dtype": "fp32", "train_seconds": 1.5}  # fmt: skip
    names = set(metrics.names())
    assert not names & set(rec) and not names & {f"val_{k}" for k in rec}
    assert isinstance(res.g_ema, torch.nn.Module)
