"""The one training loop (models/engine/loop.py): seeding, resume, budget, small batches, history and logging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core import checkpoint
from models.engine import loop


def _task(seed: int = 0):
    """A tiny regression: net, optimizer, schedule and a step that uses the loop's generator (augmentation noise)."""
    torch.manual_seed(seed)
    x = torch.randn(37, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=6 * loop.steps_for(37, 8))
    seen: list[list[int]] = []

    def step(idx, gen):
        seen.append(idx.tolist())
        noise = torch.randn(len(idx), 4, generator=gen) * 0.01
        loss = ((net(x[idx] + noise).squeeze(1) - y[idx]) ** 2).mean()
        return loss, {"train_loss": float(loss.detach()), "batch": float(len(idx))}, len(idx)

    return net, opt, sched, step, seen


def _fit(net, opt, sched, step, **kw):
    args = {"rows": 37, "batch": 8, "epochs": 6, "seed": 3, "max_minutes": 60.0}
    return loop.fit(net, opt, sched, step, **{**args, **kw})


def test_same_seed_same_weights_and_every_row_once_per_epoch():
    a = _fit(*_task()[:4])
    net, opt, sched, step, seen = _task()
    b = _fit(net, opt, sched, step)
    for p, q in zip(a.net.state_dict().values(), b.net.state_dict().values()):
        assert torch.equal(p, q)
    per_epoch = 5  # ceil(37 / 8) batches; the last holds 5 rows
    assert len(seen) == 6 * per_epoch
    for e in range(6):
        rows = sum(seen[e * per_epoch : (e + 1) * per_epoch], [])
        assert sorted(rows) == list(range(37))
    assert seen[0] != seen[per_epoch]  # a new order each epoch
    assert [h["epoch"] for h in b.history] == [1, 2, 3, 4, 5, 6]
    assert b.history[-1]["train_loss"] < b.history[0]["train_loss"]
    assert not b.stopped_by_budget and b.epochs_done == 6 and not b.net.training


def test_a_killed_run_resumes_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "ROOT", tmp_path)
    unbroken = _fit(*_task()[:4])

    def die(metrics, epoch):
        if epoch == 4:
            raise KeyboardInterrupt  # after the checkpoint of epoch 3, before that of epoch 4

    with pytest.raises(KeyboardInterrupt):
        _fit(*_task()[:4], checkpoint_name="run", log=die)
    assert (tmp_path / "run.safetensors").exists()
    logged = []
    net, opt, sched, step, seen = _task()
    resumed = _fit(net, opt, sched, step, checkpoint_name="run", log=lambda m, e: logged.append(e))
    assert logged == [4, 5, 6] and len(seen) == 3 * 5  # only the missing epochs ran
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    for p, q in zip(unbroken.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(p, q)
    assert not (tmp_path / "run.safetensors").exists() and not (tmp_path / "run.json").exists()


def test_budget_is_a_guard_checked_between_epochs():
    res = _fit(*_task()[:4], max_minutes=1e-9)
    assert res.stopped_by_budget and res.epochs_done == 1  # never before the first epoch


def test_small_batches_are_skipped_and_means_are_per_item():
    net, opt, sched, step, seen = _task()
    res = _fit(net, opt, sched, step, batch=6, min_batch=2, epochs=1)  # 37 = 6 * 6 + 1: the last batch of 1 skipped
    assert len(seen) == 6 and all(len(s) == 6 for s in seen)
    assert res.history[0]["batch"] == 6.0


def test_finish_runs_once_before_the_checkpoint_is_cleared(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "ROOT", tmp_path)
    calls = []
    _fit(*_task()[:4], epochs=2, checkpoint_name="f", finish=lambda: calls.append((tmp_path / "f.json").exists()))
    assert calls == [True]
