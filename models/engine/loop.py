"""The one training loop: epochs of shuffled mini-batches, resume, time budget, seeding, checkpoints, progress.

Every epoch trainer (models/tagger/train.py, models/pose/train.py; the generators train on models/engine/gan.py)
builds its network, optimizer and schedule, then hands the loop a `step(idx, gen)` that turns a batch of row indices into a loss. The loop owns
what they must all get right in the same way:

- **Seeding.** Epoch e draws its order (and the step's augmentation) from `gen` reseeded with `seed + 7919 * e`, so
  a resumed run draws exactly what an unbroken one would.
- **Checkpoints.** After every epoch: model, optimizer, schedule, torch RNG, history and time spent, atomically and
  without pickle (core/checkpoint.py), under a name that digests what the run depends on. A crashed run resumes from
  its last complete epoch and ends with the weights an unbroken run gets (tested); the checkpoint is removed when the
  run is complete.
- **Budget.** `max_minutes` is a guard against runaway runs, set well above the expected time: the run stops at the
  end of the epoch that passes it (never before the first) and says so (`stopped_by_budget`).
- **Progress.** A tqdm bar per epoch with the running losses (on a terminal; silent in logs), and each epoch's means
  passed to `log(metrics, epoch)` (MLflow in the stages).
- **Finish.** `finish()` runs once training ends (exact batch-norm statistics: models/engine/batchnorm.py) before
  the checkpoint is cleared.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from core import checkpoint

# step(idx, gen) -> (loss to minimise, per-item figures to average over the epoch, items in the batch)
Step = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, dict[str, float], int]]


@dataclass
class LoopResult:
    net: nn.Module
    epochs_done: int
    stopped_by_budget: bool
    seconds: float
    history: list[dict] = field(default_factory=list)  # one record per epoch: epoch, the figures' means, seconds


def fit(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    step: Step,
    *,
    rows: int,
    batch: int,
    epochs: int,
    seed: int,
    max_minutes: float,
    checkpoint_name: str | None = None,
    log: Callable[[dict[str, float], int], None] | None = None,
    finish: Callable[[], None] | None = None,
    min_batch: int = 2,
    desc: str = "train",
) -> LoopResult:
    """Train `net` for `epochs` over `rows` rows in batches of `batch` row indices; see the module docstring.

    Batches smaller than `min_batch` are skipped (batch norm and contrastive losses need two)."""
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = steps_for(rows, batch)
    start, history, spent = 0, [], 0.0
    if checkpoint_name:
        meta = checkpoint.load(checkpoint_name, net, opt, sched)
        if meta is not None:
            start, history, spent = meta["epoch"], meta["history"], meta["seconds"]
    t0 = time.perf_counter() - spent
    stopped = False
    for epoch in range(start, epochs):
        if epoch > start and time.perf_counter() - t0 > max_minutes * 60:  # at least one epoch per run
            stopped = True
            break
        net.train()
        gen.manual_seed(seed + 7919 * epoch)  # per epoch, so that a resumed run draws what an unbroken one would
        order = torch.randperm(rows, generator=gen)
        sums: dict[str, float] = {}
        seen = 0
        bar = tqdm(range(steps_per_epoch), desc=f"{desc} {epoch + 1}/{epochs}", unit="step", leave=False, disable=None)
        for b in bar:
            idx = order[b * batch : (b + 1) * batch]
            if len(idx) < min_batch:
                continue
            loss, figures, n = step(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v * n
            seen += n
            bar.set_postfix({k: f"{v / seen:.4f}" for k, v in sums.items()}, refresh=False)
        means = {k: v / max(seen, 1) for k, v in sums.items()}
        record = {"epoch": epoch + 1, **means, "seconds": time.perf_counter() - t0}
        history.append(record)
        if log is not None:
            log(means, epoch + 1)
        if checkpoint_name:
            checkpoint.save(
                checkpoint_name, net, opt, sched, {"epoch": epoch + 1, "history": history, "seconds": record["seconds"]}
            )
    if finish is not None:
        finish()
    if checkpoint_name:
        checkpoint.clear(checkpoint_name)
    return LoopResult(net.eval(), len(history), stopped, time.perf_counter() - t0, history)


def steps_for(rows: int, batch: int) -> int:
    """Optimizer steps per epoch (what a one-cycle schedule must be told)."""
    return max(1, math.ceil(rows / batch))
