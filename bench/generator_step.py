"""Generator families' training speed at the `cpu` profile: seconds a step and images a second, against DCGAN.

    .venv/bin/python bench/generator_step.py          # 5 rounds: bench/results/generator-step-cpu-<machine kind>.json
    .venv/bin/python bench/generator_step.py --rounds 3 --steps 10 --out /tmp/gen-step.json

Each contestant is built as the train stage (or experiments/stylegan_routes.py) builds it, from params.yaml's `cpu`
profile at its first size (32 px), on the same synthetic uint8 images and labels, and trained by the adversarial
engine (models/engine/gan.py) with everything the profile turns on (R1, EMA, DiffAugment, D's reader):

  dcgan              models/dcgan/train.build: the `dcgan` section, in fp32
  dcgan_bf16         the same with bf16 autocast (what `amp: native` runs on a CPU with AVX-512 BF16 or AMX)
  stylegan           models/stylegan/conditional.build: the `stylegan` section (the conditional generator, DCGAN's D),
                     in fp32; stylegan_bf16 with bf16 autocast
  cond_base32, ...   the same with the generator settings of each variant of experiments/stylegan_routes.yaml and
                     the dcgan section's D and schedule, named as there, in fp32 unless the variant sets `amp`

`--profile gpu --size 64 --device cuda` (on a GPU machine: it needs torch, numpy, PyYAML and pydantic alone) builds
`dcgan`, `dcgan_bf16`, `stylegan` and `stylegan_bf16` from the `gpu` profile's sections at that size instead, and
names the result after the size and the GPU (bench/results/generator-step-gpu-64-H100.json); the route variants are the `cpu`
profile's and are not built there.

In every round the contestants run in turn, each `steps` timed steps after `warmup` untimed ones; a step's time is
the gap between two consecutive steps' log calls, so setup, sample grids and the end of a run are not timed. The figure is the median over rounds of each
contestant's time a step and its ratio to DCGAN's in the same round; images a second are the batch over the time a
step. Nothing else should run on the machine meanwhile: two processes on two cores slow each other's steps many
times over, not by half (thread oversubscription).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import machine  # noqa: E402
from core.names import ATTRIBUTES, GROUPS  # noqa: E402
from core.params import load_params  # noqa: E402
from models.engine import distributed, gan  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def contestants(rows: int = 512, seed: int = 0, profile: str = "cpu", size: int | None = None) -> dict:
    """{name: (build() -> task, engine config of `steps`, batch)} for `profile`, at `size` (default: the dcgan
    section's first size). The StyleGAN route variants are the `cpu` profile's (experiments/stylegan_routes.yaml) and
    are built for it alone."""
    from models.dcgan.train import build as build_dcgan
    from models.stylegan import conditional

    params = load_params(REPO / "params.yaml", profile)
    d, s = params.dcgan, params.stylegan
    rng = np.random.default_rng(seed)
    size = size or d.sizes[0]
    images = rng.integers(0, 256, (rows, size, size, 3), dtype=np.uint8)
    labels = np.stack([rng.integers(-1, len(ATTRIBUTES[g]), rows) for g in GROUPS], axis=1)

    def cfg(section, amp: str):  # the section's engine settings at a fixed precision (`off`: fp32)
        return lambda n: dataclasses.replace(gan.config(section, seed, n), amp=amp)

    out = {
        "dcgan": (lambda: build_dcgan(d, size, images, labels, seed), cfg(d, "off"), d.batch),
        "dcgan_bf16": (lambda: build_dcgan(d, size, images, labels, seed), cfg(d, "bf16"), d.batch),
        "stylegan": (lambda: conditional.build(s, size, images, labels, seed), cfg(s, "off"), s.batch),
        "stylegan_bf16": (lambda: conditional.build(s, size, images, labels, seed), cfg(s, "bf16"), s.batch),
    }
    if profile != "cpu":
        return out
    from experiments.gan_variants import style_params  # imports the stages (MLflow): the cpu routes only

    routes = yaml.safe_load((REPO / "experiments" / "stylegan_routes.yaml").read_text())["variants"]
    for name, v in routes.items():
        sp = style_params(s, d, v["style"])
        amp = v.get("dcgan", {}).get("amp", "off")
        out[name] = (lambda sp=sp: conditional.build(sp, size, images, labels, seed), cfg(d, amp), d.batch)
    return out


def timed(build, config, steps: int, warmup: int, device: str = "cpu") -> float:
    """Seconds a step: the median time between consecutive steps' log calls (the engine logs every step here, and
    draws no sample grid but the last), over the `steps` after `warmup` untimed ones, from a fresh build."""
    stamps: list[float] = []
    n = warmup + steps
    cfg = dataclasses.replace(config(n), log_every=1, sample_every=n)
    world = distributed.World(0, 1, torch.device(device))
    gan.train(build(), cfg, world=world, folder=None, log=lambda _figures, _step: stamps.append(time.perf_counter()))
    gaps = np.diff(stamps[warmup - 1 :]) if warmup else np.diff(stamps)
    return float(np.median(gaps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--only", help="comma-separated contestants (dcgan is always run: the baseline)")
    ap.add_argument("--profile", default="cpu", help="the params profile whose sections are built (default cpu)")
    ap.add_argument("--size", type=int, help="px (default: the profile's first dcgan size)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    ap.add_argument("--out")
    args = ap.parse_args()
    every = contestants(profile=args.profile, size=args.size)
    asked = args.only.split(",") if args.only else list(every)
    unknown = [n for n in asked if n not in every]
    if unknown:
        sys.exit(
            print(f"generator_step: no contestant {unknown[0]}; they are {', '.join(every)}", file=sys.stderr) or 2
        )
    names = ["dcgan"] + [n for n in asked if n != "dcgan"]
    per: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        got = {}
        for n in names:
            build, config, _ = every[n]
            got[n] = timed(build, config, args.steps, args.warmup, args.device)
            per[n].append(got[n])
            ratios[n].append(got[n] / got["dcgan"])
        print(f"round {r + 1}: " + ", ".join(f"{n} {got[n]:.3f} s" for n in names), flush=True)
    dev = torch.device(args.device)
    kind = (machine.gpu_kind(torch.cuda.get_device_name(dev)) or "cuda") if dev.type == "cuda" else machine.kind()
    doc = {
        "machine": kind,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "profile": args.profile,
        "size": args.size or load_params(REPO / "params.yaml", args.profile).dcgan.sizes[0],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "rounds": args.rounds,
        "steps": args.steps,
        "warmup": args.warmup,
        "contestants": {
            n: {
                "batch": every[n][2],
                "seconds_per_step": round(statistics.median(per[n]), 4),
                "images_per_second": round(every[n][2] / statistics.median(per[n]), 1),
                "ratio_to_dcgan": round(statistics.median(ratios[n]), 3),
                "rounds_seconds_per_step": [round(x, 4) for x in per[n]],
            }
            for n in names
        },
    }
    sized = f"-{args.size}" if args.size else ""
    out = (
        Path(args.out) if args.out else REPO / "bench" / "results" / f"generator-step-{args.profile}{sized}-{kind}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    for n, c in doc["contestants"].items():
        print(f"{n:<22} {c['seconds_per_step']:.3f} s/step  {c['images_per_second']:>7} img/s  x{c['ratio_to_dcgan']}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
