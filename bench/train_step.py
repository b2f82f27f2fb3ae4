"""DCGAN-64 training speed: ms per step and images/s of the adversarial engine against a plain eager loop.

    .venv/bin/python bench/train_step.py                       # 7 rounds, bench/results/train-step-<device>-<kind>.json
    .venv/bin/python bench/train_step.py --rounds 9 --steps 12 --out /tmp/bench.json
    .venv/bin/python bench/train_step.py --only engine,project --out bench/results/train-step-cpu-avx2.json

In every round, interleaved, at batch 64 and 64 px, on the same thread count and the same in-memory images:

  (a) plain    the PyTorch DCGAN example's loop and networks (ngf = ndf = 64, nz = 100, BCE on a sigmoid output,
               Adam 2e-4, beta1 0.5): D on real, D on fake.detach(), step D; D on fake, step G
  (b) engine   models/engine/gan.py on the same networks and optimizer settings (the sigmoid folded into the
               logistic loss), with the engine features listed in the output that do not change the maths
               (channels-last, D frozen in the G step, gradients set to None, ...), no R1, no EMA ramp, no augmentation
  (b') engine_bf16  (b) with bf16 autocast (`amp: bf16`): measures whether `amp: auto` is right to leave it off on
               the CPU
  (c) project  the engine with the project's own `dcgan` params at 64 px (conditional networks, D's reader, R1,
               EMA, DiffAugment), built as the train stage builds them (models/dcgan/train.build), as in params.yaml

Only the steps are timed (after `warmup` untimed steps per round): setup, sample grids and the end-of-run batch-norm
recalibration are not. The figure is the median over rounds of the per-round time ratio against (a). It imports
only torch, numpy, pydantic (the params model) and the repository's models/ and core/, so it runs on a bare GPU
machine too (the device is in the output).

The output names the machine kind it ran on (`machine_kind`): on the CPU core/machine.py's kind (`AVX512-AMD`,
`AVX2-AMD`, `AVX512-Intel`: torch picks other kernels on each, so the timings differ), on a GPU the GPU's name; the
default file name carries it: `train-step-cpu-AVX512-AMD.json`, `train-step-gpu-NVIDIA-H200.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import machine  # noqa: E402
from core.params import DcganParams  # noqa: E402
from models.dcgan.net import Discriminator, Generator  # noqa: E402
from models.dcgan.task import DcganTask  # noqa: E402
from models.dcgan.train import build  # noqa: E402
from models.engine import distributed, gan  # noqa: E402
from models.engine.watchdog import WatchdogConfig  # noqa: E402

SIZE, BATCH, NZ = 64, 64, 100


class ExampleG(nn.Module):  # pytorch/examples dcgan/main.py, verbatim layers
    def __init__(self, ngf: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z):
        return self.main(z)


class ExampleD(nn.Module):
    def __init__(self, ndf: int = 64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def plain_loop(images: torch.Tensor, steps: int, warmup: int, device: torch.device) -> float:
    """(a): seconds per step of the example's loop."""
    torch.manual_seed(0)
    netG, netD = ExampleG().to(device), ExampleD().to(device)
    crit = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            t0 = time.perf_counter()
        idx = torch.randint(len(images), (BATCH,), generator=gen)
        real = images[idx].to(device).float().div_(127.5).sub_(1.0)
        netD.zero_grad()
        label = torch.full((BATCH,), 1.0, device=device)
        errD_real = crit(netD(real), label)
        errD_real.backward()
        noise = torch.randn(BATCH, NZ, 1, 1, generator=gen).to(device)
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = crit(netD(fake.detach()), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = crit(netD(fake), label)
        errG.backward()
        optG.step()
    sync(device)
    return (time.perf_counter() - t0) / steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


ENGINE_SAME = {  # (b): the example's maths on the engine
    "r1_gamma": 0.0, "r1_every": 1, "ema_beta": 0.0, "augment": (), "amp": "auto", "channels_last": True,
}  # fmt: skip


def engine_loop(
    images: np.ndarray, steps: int, warmup: int, device: torch.device, project: dict | None, amp: str = "auto"
) -> float:
    """(b) when `project` is None, else (c) with the project's dcgan params: seconds per step, steps only."""
    torch.manual_seed(0)
    labels = np.random.default_rng(0).integers(0, 2, (len(images), 6))
    if project is None:
        G, D = Generator(SIZE, NZ, 64, 0), Discriminator(SIZE, 64, conditional=False)
        lr, betas, extra = 2e-4, (0.5, 0.999), {**ENGINE_SAME, "amp": amp}
        fused = {"fused": True} if device.type == "cuda" else {}
        task = DcganTask(
            G, D, torch.optim.Adam(G.parameters(), lr, betas=betas, **fused),
            torch.optim.Adam(D.parameters(), lr, betas=betas, **fused), images, labels, 0.0, 0.0, 0.0,
        )  # fmt: skip
    else:  # the networks, optimizers and task exactly as the train stage builds them (D's reader included)
        p = DcganParams.model_validate(project)
        task = build(p, SIZE, images, labels, 0)
        extra = {k: getattr(p, k) for k in ("r1_gamma", "r1_every", "ema_beta", "amp", "channels_last")}
        extra["augment"] = tuple(p.augment)
    stamps: list[float] = []

    def log(_: dict, step: int) -> None:
        sync(device)
        stamps.append(time.perf_counter())

    config = gan.GanConfig(
        steps=warmup + steps, batch=BATCH, seed=0, checkpoint_every=10**9, keep=1, sample_every=10**9, log_every=1,
        max_minutes=1e9, watchdog=WatchdogConfig(False, 10**9, 1.0, 0.0, 10**9), **extra,
    )  # fmt: skip
    gan.train(task, config, world=distributed.World(0, 1, device), log=log)
    return (stamps[-1] - stamps[warmup - 1]) / steps


VARIANTS = ("engine", "engine_bf16", "project")  # timed beside (a) in every round


def machine_kind(device: torch.device) -> str:
    """What the timings depend on: the GPU's name, or on the CPU core/machine.py's kind (e.g. `AVX512-AMD`)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else machine.kind()


def default_out(device: torch.device) -> Path:
    """bench/results/train-step-<cpu|gpu>-<machine kind>.json (the kind with anything but letters, digits and
    dashes made a dash)."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", machine_kind(device)).strip("-")
    return Path(__file__).parent / "results" / f"train-step-{'gpu' if device.type == 'cuda' else 'cpu'}-{label}.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--params", default=str(Path(__file__).resolve().parent.parent / "params.yaml"))
    ap.add_argument(
        "--only",
        help="comma-separated variants beside (a): engine, engine_bf16, project (default all); on a CPU without "
        "AVX-512 one bf16 step takes over a minute, so time it apart with --rounds 1 --steps 1",
    )
    ap.add_argument("--out")
    args = ap.parse_args()
    chosen = args.only.split(",") if args.only else list(VARIANTS)
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        ap.error(f"--only: no variant {', '.join(sorted(unknown))} (variants: {', '.join(VARIANTS)})")
    import yaml

    project = yaml.safe_load(Path(args.params).read_text())["dcgan"]  # the cpu (top-level) values
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    images = np.random.default_rng(0).integers(0, 256, (2048, SIZE, SIZE, 3), dtype=np.uint8)
    images_t = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    loops = {
        "engine": lambda: engine_loop(images, args.steps, args.warmup, device, None),
        "engine_bf16": lambda: engine_loop(images, args.steps, args.warmup, device, None, amp="bf16"),
        "project": lambda: engine_loop(images, args.steps, args.warmup, device, project),
    }
    times: dict[str, list[float]] = {"plain": [], **{k: [] for k in chosen}}
    for r in range(args.rounds):
        times["plain"].append(plain_loop(images_t, args.steps, args.warmup, device))  # (a) runs in every round
        for k in chosen:
            times[k].append(loops[k]())
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in times.items()), flush=True)
    rounds = {k: [t / a for t, a in zip(times[k], times["plain"])] for k in chosen}
    ratio = {k: statistics.median(v) for k, v in rounds.items()}
    kind = machine_kind(device)  # the instruction set picks torch's kernels: each kind times differently
    name = kind if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {kind}"
    result = {
        "device": f"{device.type}: {name}",
        "machine_kind": kind,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": BATCH,
        "size": SIZE,
        "rounds": args.rounds,
        "timed_steps_per_round": args.steps,
        "ms_per_step_median": {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()},
        "images_per_s_median": {k: round(BATCH / statistics.median(v), 1) for k, v in times.items()},
        "ratio_vs_plain_median": {k: round(v, 3) for k, v in ratio.items()},
        "ratio_vs_plain_per_round": {k: [round(x, 3) for x in v] for k, v in rounds.items()},
        "engine_features_b": {**ENGINE_SAME, "d_frozen_in_g_step": True, "zero_grad_set_to_none": True},
        "project_settings_c": {k: project[k] for k in sorted(project) if k not in ("transfer", "eval", "watchdog")},
    }
    print(json.dumps(result, indent=1))
    out = Path(args.out) if args.out else default_out(device)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
