"""The adversarial engine: every generator family (DCGAN, StyleGAN, SRGAN, pose2sketch) trains on it.

    from models.engine import gan
    result = gan.train(task, config, world=distributed.init(), folder=Path(".cache/checkpoints/<key>"))

A family gives a `GanTask` (its G, D, optimizers, how a batch of row indices becomes real images, G's inputs and D's
condition, and any extra loss terms); the engine owns what they must all get right in the same way:

- **Step.** The non-saturating logistic loss (D: softplus(D(fake)) + softplus(-D(real)); G: softplus(-D(fake))),
  one G forward per step whose output feeds the D step (detached) and then the G step through the updated D, as
  the PyTorch DCGAN example does. R1 penalty on real images every `r1_every` steps (lazy regularisation, scaled by
  `r1_every`, as in StyleGAN2). D is frozen during the G step: no wasted gradients for it.
- **Augmentation.** DiffAugment (models/engine/augment.py) on everything D sees, real and generated, in both steps.
- **Precision and layout.** bf16 autocast (`amp: auto` = on CUDA; `amp: native` = wherever bf16 is computed in
  hardware: CUDA, or a CPU with AVX-512 BF16 or AMX (core/machine.bf16_native), fp32 elsewhere; `amp: bf16` = also
  on a CPU that emulates it, 51x slower there). On an AVX-512 CPU it measured 0.51x the time of fp32
  (bench/train_step.py; 0.70x for DCGAN's pipeline settings at 32 px, bench/generator_step.py) but changes the numbers, so the pipeline's choice is a params setting compared on
  validation. The result records what ran (`train_dtype` in the run record). Channels-last networks and inputs.
- **EMA.** A moving average of G (models/engine/ema.py) is what gets sampled and returned.
- **Seeding.** Every random number (data order, latents, conditions, augmentation) comes from one generator seeded
  with `seed`; the data order of epoch e is a permutation drawn from `seed + 7919 * e`, so it is a function of the
  step. Under torchrun every rank draws the same global numbers and keeps its rows (models/engine/distributed.py).
- **Checkpoints.** Every `checkpoint_every` steps, atomically, the last `keep` kept (core/checkpoint.save_state):
  G, D, EMA, both optimizers, RNG states (torch, the engine's generator, numpy, Python, CUDA), step, history,
  watchdog and time spent. Data comes from memory in the main process (no loader workers, so no worker RNG to keep)
  and its order is a function of the step. A run killed with `kill -9` resumes from the newest complete checkpoint
  and ends with the weights an unbroken run gets, bit for bit on the CPU (tests/models/engine/test_gan.py).
- **Guards.** `steps` is the length of a run; `max_minutes` only stops a runaway one (`stopped_by_budget`). The
  failure watchdog (models/engine/watchdog.py) checks losses every step and sample diversity at every grid.
- **Progress.** A tqdm bar with the running losses; means every `log_every` steps to `log(metrics, step)` (MLflow in
  the stages); a grid from fixed inputs every `sample_every` steps to `grid(image, step)`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from core import checkpoint
from core.machine import bf16_native
from core.params import GanEngineParams
from models.engine import distributed, ema
from models.engine.augment import diff_augment
from models.engine.watchdog import Watchdog, WatchdogConfig, diversity
from synth.sheet import tile


@dataclass(frozen=True)
class GanConfig:
    steps: int  # optimizer steps of G (and of D)
    batch: int  # global batch: the images of one step over all ranks
    seed: int
    r1_gamma: float  # weight of the R1 penalty (0: off)
    r1_every: int  # lazy regularisation: the penalty every k steps, scaled by k
    ema_beta: float  # per step; 0: the EMA is the live G
    augment: tuple[str, ...]  # DiffAugment policy: color, translation, cutout
    amp: Literal["auto", "native", "bf16", "off"]
    channels_last: bool
    checkpoint_every: int
    keep: int  # checkpoints kept
    sample_every: int  # grid from the fixed inputs (and the collapse check)
    log_every: int
    max_minutes: float
    watchdog: WatchdogConfig


def config(p: GanEngineParams, seed: int, steps: int | None = None) -> GanConfig:
    """The engine's settings from a family's params section (core/params.GanEngineParams); `steps` overrides."""
    w = p.watchdog
    return GanConfig(
        steps=steps if steps is not None else p.steps,
        batch=p.batch,
        seed=seed,
        r1_gamma=p.r1_gamma,
        r1_every=p.r1_every,
        ema_beta=p.ema_beta,
        augment=tuple(p.augment),
        amp=p.amp,
        channels_last=p.channels_last,
        checkpoint_every=p.checkpoint_every,
        keep=p.keep,
        sample_every=p.sample_every,
        log_every=p.log_every,
        max_minutes=p.max_minutes,
        watchdog=WatchdogConfig(w.stop, w.window, w.d_accuracy, w.collapse_ratio, w.warmup),
    )


@dataclass
class Batch:
    real: torch.Tensor  # [b, 3, H, W] in [-1, 1]
    g_in: tuple  # G(*g_in) -> [b, 3, H, W]
    cond: torch.Tensor | None  # D's condition (class indices [b, groups]), or None


class GanTask(Protocol):
    G: nn.Module
    D: nn.Module  # D(x, cond) -> (logits [b], aux: dict of tensors for the extra losses)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rows: int  # training rows

    def batch(self, idx: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int) -> Batch:
        """Real images of rows `idx` (this rank's), G's inputs and D's condition, randomness drawn globally."""
        ...

    def fixed_inputs(self, n: int, gen: torch.Generator) -> tuple:
        """G's inputs for the sample grid (drawn once, from a generator of their own)."""
        ...

    def d_extra(self, batch: Batch, aux_real: dict, aux_fake: dict) -> tuple[torch.Tensor, dict[str, float]]: ...

    def g_extra(self, batch: Batch, fake: torch.Tensor, aux_fake: dict) -> tuple[torch.Tensor, dict[str, float]]: ...

    def finish(self, g_ema: nn.Module, gen: torch.Generator) -> None:
        """Once training ends (e.g. exact batch-norm statistics for the EMA generator)."""
        ...


@dataclass
class GanResult:
    g_ema: nn.Module
    steps_done: int
    stopped_by_budget: bool
    stopped_by_watchdog: bool
    watchdog: str | None  # the reason it fired, if it did
    watchdog_detail: str
    seconds: float
    history: list[dict] = field(default_factory=list)  # every log_every steps: step, the losses' means, seconds
    train_dtype: str = "fp32"  # what the steps computed in: "bf16" (autocast) or "fp32"


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3]."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def data_order(rows: int, seed: int, step: int, batch: int) -> torch.Tensor:
    """The global row indices of step `step`: consecutive batches through epoch permutations drawn from
    seed + 7919 * epoch (a batch may straddle two epochs). A function of the step: nothing to checkpoint."""
    start, stop = step * batch, (step + 1) * batch
    parts = []
    for epoch in range(start // rows, (stop - 1) // rows + 1):
        perm = torch.randperm(rows, generator=torch.Generator().manual_seed(seed + 7919 * epoch))
        lo, hi = max(start - epoch * rows, 0), min(stop - epoch * rows, rows)
        parts.append(perm[lo:hi])
    return torch.cat(parts)


def _rng_state(gen: torch.Generator) -> tuple[dict[str, torch.Tensor], dict]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    tensors = {
        "rng.torch": torch.get_rng_state(),
        "rng.engine": gen.get_state(),
        "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64)),
    }
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    doc = {"numpy": [np_state[0], *map(float, np_state[2:])], "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, doc


def _set_rng_state(gen: torch.Generator, tensors: dict, doc: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    gen.set_state(tensors["rng.engine"])
    kind, pos, has_gauss, cached = doc["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    version, internal, gauss = doc["python"]
    random.setstate((version, tuple(internal), gauss))
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")])


def _nets(task: GanTask, g_ema: nn.Module) -> dict[str, nn.Module]:
    return {"G": task.G, "D": task.D, "G_ema": g_ema}


def _save(folder: Path, task: GanTask, g_ema: nn.Module, gen: torch.Generator, step: int, doc: dict, keep: int):
    tensors: dict[str, torch.Tensor] = {}
    for name, net in _nets(task, g_ema).items():
        tensors.update({f"{name}.{k}": v for k, v in net.state_dict().items()})
    opt_docs = {}
    for name, opt in (("opt_g", task.opt_g), ("opt_d", task.opt_d)):
        t, opt_docs[name] = checkpoint.pack_optimizer(name, opt)
        tensors.update(t)
    rng_t, rng_doc = _rng_state(gen)
    tensors.update(rng_t)
    checkpoint.save_state(folder, step, tensors, {**doc, "optimizers": opt_docs, "rng": rng_doc}, keep)


def _load(folder: Path, task: GanTask, g_ema: nn.Module, gen: torch.Generator) -> dict | None:
    found = checkpoint.load_latest(folder)
    if found is None:
        return None
    tensors, doc = found
    for name, net in _nets(task, g_ema).items():
        prefix = name + "."
        net.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in (("opt_g", task.opt_g), ("opt_d", task.opt_d)):
        checkpoint.unpack_optimizer(name, opt, tensors, doc["optimizers"][name])
    _set_rng_state(gen, tensors, doc["rng"])
    return doc


def _live_samples(G: nn.Module, inputs: tuple) -> torch.Tensor:
    """G's output on `inputs` in training mode (batch statistics, as it trains), leaving its buffers untouched."""
    saved = {k: v.clone() for k, v in G.named_buffers()}
    out = G(*inputs)
    with torch.no_grad():
        for k, v in G.named_buffers():
            v.copy_(saved[k])
    return out


def train(
    task: GanTask,
    config: GanConfig,
    *,
    world: distributed.World | None = None,
    folder: Path | None = None,
    log: Callable[[dict[str, float], int], None] | None = None,
    grid: Callable[[np.ndarray, int], None] | None = None,
    tag: Callable[[dict[str, str]], None] | None = None,
    grid_size: int = 64,
    desc: str = "gan",
    snapshot: Callable[[nn.Module, int], None] | None = None,
) -> GanResult:
    """Train `task` for `config.steps` steps; see the module docstring. `folder`: where checkpoints live (None: no
    checkpoints). The folder is left in place: the caller clears it once the result is safely stored. `snapshot`:
    called with the EMA generator and the step at every grid (rank 0), for a study that scores a run part-way; it
    must copy what it keeps, and must not change it."""
    c = config
    world = world or distributed.World(0, 1, torch.device("cpu"))
    rows = world.rows(c.batch)
    dev = world.device
    amp = c.amp == "bf16" or (c.amp == "auto" and dev.type == "cuda") or (c.amp == "native" and bf16_native(dev))
    fmt = torch.channels_last if c.channels_last else torch.contiguous_format
    for net in (task.G, task.D):
        net.to(dev, memory_format=fmt)
        distributed.broadcast(net, world)
    g_ema = ema.make(task.G)
    gen = torch.Generator().manual_seed(c.seed)
    fixed = task.fixed_inputs(grid_size, torch.Generator().manual_seed(c.seed + 1))
    fixed = tuple(t.to(dev) if torch.is_tensor(t) else t for t in fixed)
    real_sample = data_order(task.rows, c.seed + 2, 0, min(grid_size, task.rows))
    real_div = diversity(task.batch(real_sample, torch.Generator().manual_seed(0), slice(None), len(real_sample)).real)
    dog = Watchdog(c.watchdog, real_div)
    start, history, spent = 0, [], 0.0
    if folder is not None:
        doc = _load(folder, task, g_ema, gen)
        if doc is not None:
            start, history, spent = doc["step"], doc["history"], doc["seconds"]
            dog.restore(doc["watchdog"])
    t0 = time.perf_counter() - spent
    g_params = [p for p in task.G.parameters() if p.requires_grad]
    d_params = [p for p in task.D.parameters() if p.requires_grad]
    sums: dict[str, float] = {}
    n_sums = 0
    stopped = False
    watchdog_stop = dog.reason is not None and c.watchdog.stop  # a run resumed after its watchdog stopped it
    done = start
    if watchdog_stop:
        start = c.steps
    bar = tqdm(range(start, c.steps), desc=desc, unit="step", leave=False, disable=None if world.main else True)
    for step in bar:
        if step > start and time.perf_counter() - t0 > c.max_minutes * 60:
            stopped = True
            break
        idx = data_order(task.rows, c.seed, step, c.batch)
        b = task.batch(idx[rows], gen, rows, len(idx))
        real = b.real = b.real.to(dev, memory_format=fmt)  # the task's extra losses see it on the device too
        b.g_in = tuple(t.to(dev) if torch.is_tensor(t) else t for t in b.g_in)
        b.cond = b.cond.to(dev) if b.cond is not None else None

        def aug(x: torch.Tensor, n: int = len(idx)) -> torch.Tensor:
            return diff_augment(x, c.augment, gen, rows, n) if c.augment else x

        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            fake = task.G(*b.g_in)
            # D step
            r_logit, r_aux = task.D(aug(real), b.cond)
            f_logit, f_aux = task.D(aug(fake.detach()), b.cond)
            loss_d = F.softplus(f_logit).mean() + F.softplus(-r_logit).mean()
            extra_d, figs_d = task.d_extra(b, r_aux, f_aux)
            loss_d = loss_d + extra_d
        task.opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        distributed.average_gradients(d_params, world)
        task.opt_d.step()
        figs = {
            "loss_d": float(loss_d.detach()),
            "d_real": float(torch.sigmoid(r_logit.detach().float()).mean()),
            "d_fake": float(torch.sigmoid(f_logit.detach().float()).mean()),
            **figs_d,
        }
        d_acc = float(((r_logit.detach() > 0).float().mean() + (f_logit.detach() < 0).float().mean()) / 2)
        figs["d_accuracy"] = d_acc
        if c.r1_gamma > 0 and step % c.r1_every == 0:
            x = real.detach().requires_grad_(True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                logit, _ = task.D(x, b.cond)
            (grad,) = torch.autograd.grad(logit.float().sum(), x, create_graph=True)
            r1 = grad.float().square().sum(dim=(1, 2, 3)).mean()
            task.opt_d.zero_grad(set_to_none=True)
            (r1 * (c.r1_gamma / 2) * c.r1_every).backward()
            distributed.average_gradients(d_params, world)
            task.opt_d.step()
            figs["r1"] = float(r1.detach())
        # G step through the updated D, which gets no gradients of its own
        task.D.requires_grad_(False)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            g_logit, g_aux = task.D(aug(fake), b.cond)
            loss_g = F.softplus(-g_logit).mean()
            extra_g, figs_g = task.g_extra(b, fake, g_aux)
            loss_g = loss_g + extra_g
        task.opt_g.zero_grad(set_to_none=True)
        loss_g.float().backward()
        task.D.requires_grad_(True)
        distributed.average_gradients(g_params, world)
        task.opt_g.step()
        ema.update(g_ema, task.G, min(c.ema_beta, (1 + step) / (10 + step)))  # ramped up: early runs move
        figs.update({"loss_g": float(loss_g.detach()), **figs_g})
        for k, v in figs.items():
            sums[k] = sums.get(k, 0.0) + v
        n_sums += 1
        bar.set_postfix({k: f"{figs[k]:.3f}" for k in ("loss_d", "loss_g") if k in figs}, refresh=False)
        before = dog.reason
        reason = dog.check_losses(step + 1, {k: figs[k] for k in ("loss_d", "loss_g")}, d_acc)
        done = step + 1
        if done % c.log_every == 0 or done == c.steps:
            record = {"step": done, **{k: v / n_sums for k, v in sums.items()}, "seconds": time.perf_counter() - t0}
            history.append(record)
            if log is not None and world.main:
                log({k: v for k, v in record.items() if k != "step"}, done)
            sums, n_sums = {}, 0
        if done % c.sample_every == 0 or done == c.steps or (reason and not before):  # and when it first fires
            with torch.no_grad():
                samples = g_ema(*fixed)
                if done >= c.watchdog.warmup:  # the live G collapses first; the EMA lags it
                    reason = dog.check_samples(done, _live_samples(task.G, fixed)) or reason
            if grid is not None and world.main:
                grid(tile(to_uint8(samples)), done)
            if snapshot is not None and world.main:
                snapshot(g_ema, done)
        if reason and tag is not None and world.main:
            tag({"watchdog": reason, "watchdog_detail": dog.detail[:4000]})
            tag = None  # once
        if folder is not None and (done % c.checkpoint_every == 0 or done == c.steps):
            distributed.broadcast(task.G, world)  # batch-norm buffers drift per rank; rank 0's are kept
            if world.main:
                state = {"step": done, "history": history, "seconds": time.perf_counter() - t0, "watchdog": dog.state()}
                _save(folder, task, g_ema, gen, done, state, c.keep)
            distributed.barrier(world)
        if reason and c.watchdog.stop:
            watchdog_stop = True
            break
    task.finish(g_ema, torch.Generator().manual_seed(c.seed + 3))
    return GanResult(
        g_ema.eval(),
        done,
        stopped,
        watchdog_stop,
        dog.reason,
        dog.detail,
        time.perf_counter() - t0,
        history,
        "bf16" if amp else "fp32",
    )
