"""Training curves and sample grids as DVC plots (models/engine/plots.py): written by the training itself, whole
across a resume, and taken up with a registered unit."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from core import checkpoint, tracking
from models.engine import tracked
from models.engine.plots import UnitPlots, write_fit
from tests.models.engine.test_gan import _config, _task


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_resumed_training_writes_its_whole_curve_and_every_grid(store, smoke_params, tmp_path):
    ckpt = tmp_path / "ckpt"
    first = UnitPlots(tmp_path / "attempt1" / "plots", "dcgan-32")
    with tracking.start_run("unit", smoke_params, "unit", [], [], run_name="first"):
        tracked.train(_task(), _config(steps=4, checkpoint_every=2, sample_every=2), folder=ckpt, plots=first)
    # the stage "fails" after step 4's checkpoint; its retry writes a fresh output folder and resumes at step 4
    plots = UnitPlots(tmp_path / "attempt2" / "plots", "dcgan-32")
    with tracking.start_run("unit", smoke_params, "unit", [], [], run_name="retry"):
        res = tracked.train(_task(), _config(steps=8, checkpoint_every=2, sample_every=2), folder=ckpt, plots=plots)
    assert res.steps_done == 8
    rows = _rows(plots.losses)
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]  # the first attempt's steps come from the checkpoint
    assert list(rows[0]) == ["step", "loss_g", "loss_d"] and all(np.isfinite(float(r["loss_g"])) for r in rows)
    assert sorted(p.name for p in plots.samples.iterdir()) == [f"step_{s:06d}.png" for s in (2, 4, 6, 8)]
    assert [p.as_posix() for p in plots.files()] == [
        "losses/dcgan-32.csv",
        *(f"samples/dcgan-32/step_{s:06d}.png" for s in (2, 4, 6, 8)),
    ]
    checkpoint.clear_states(ckpt)  # once registered: the states and the staged grids go
    assert not ckpt.exists()


def test_grids_of_steps_past_the_run_are_left_out(tmp_path):
    plots = UnitPlots(tmp_path / "plots", "u")
    plots.start(tmp_path / "ckpt")
    for step in (2, 4, 6):  # step 6: drawn by an earlier, longer attempt
        plots.grid(np.zeros((8, 8, 3), np.uint8), step)
    plots.finish([{"step": 2, "loss_g": 1.0, "loss_d": 0.5}, {"step": 4, "loss_g": 0.9, "loss_d": 0.6}], done=4)
    assert sorted(p.name for p in plots.samples.iterdir()) == ["step_000002.png", "step_000004.png"]
    with pytest.raises(ValueError, match="uint8"):
        plots.grid(np.zeros((8, 8, 3), np.float32), 8)
    with pytest.raises(ValueError, match="plain name"):
        UnitPlots(tmp_path, "../elsewhere")


def test_an_epoch_loop_curve_has_one_row_an_epoch(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.9, "seconds": 1.0}, {"epoch": 2, "train_loss": 0.5, "seconds": 2.0}]
    path = write_fit(tmp_path / "plots", "tagger-cnn", history)
    assert path == tmp_path / "plots" / "fit" / "tagger-cnn.csv"
    assert _rows(path) == [{"epoch": "1", "train_loss": "0.9"}, {"epoch": "2", "train_loss": "0.5"}]
