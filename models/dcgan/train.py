"""Train a DCGAN on ingested images with the adversarial engine; runnable alone, on one process or under torchrun.

    python -m models.dcgan.train --data data/ingest --size 32 --steps 2000 --out /tmp/dcgan            # one process
    torchrun --nproc-per-node 2 -m models.dcgan.train --data data/ingest --size 32 --steps 2000 --out /tmp/dcgan
    torchrun --nproc-per-node 8 -m models.dcgan.train ... --profile gpu     # GPUs: NCCL, one GPU per process

The pipeline's `train` stage (stages/train.py) calls `build` and `fit` with MLflow callbacks; this entry point trains
with the `dcgan` params of a profile and the source's own tags as conditions, no MLflow, and writes the EMA
generator's bundle to `--out` (rank 0). Checkpoints go to `--out/checkpoints` every `checkpoint_every` steps: run
the same command again after a crash (or `kill -9`) and it resumes where the newest checkpoint left off.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from core.names import FIXED, AttributeSchema
from core.params import DcganParams, DiscriminatorParams, load_params
from models.dcgan.net import Discriminator, Generator
from models.dcgan.task import DcganTask, ReaderRecipe
from models.engine import distributed, gan


def build(
    p: DcganParams, size: int, images: np.ndarray, labels: np.ndarray, seed: int, schema: AttributeSchema = FIXED
) -> DcganTask:
    """Networks (initialised from `seed`), Adam optimizers and the task over uint8 images [N, S, S, 3] and their
    conditions [N, groups of `schema`]."""
    torch.manual_seed(seed)
    G = Generator(size, p.nz, p.ngf, p.embed, p.cond_bn, schema)
    fused = {"fused": True} if torch.cuda.is_available() else {}
    opt_g = torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=p.betas, **fused)
    return task_with(G, opt_g, p.discriminator(), p.embed > 0, p.lr_d, p.betas, size, images, labels)


def task_with(
    G: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    d: DiscriminatorParams,
    conditional: bool,
    lr_d: float,
    betas: tuple[float, float],
    size: int,
    images: np.ndarray,
    labels: np.ndarray,
) -> DcganTask:
    """The DCGAN task around generator `G` (DCGAN's interface: `nz`, `conditional`, `schema`, `G(z, cond, soft)`):
    DCGAN's discriminator over G's attribute groups with its projection term, AC heads and reader (`d`), its AdamW,
    and the conditioning recipe. The discriminator is initialised from torch's current random state."""
    reader = d.reader.width if conditional else 0
    schema = G.schema
    D = Discriminator(size, d.ndf, conditional=conditional, batchnorm=d.batchnorm, reader=reader, schema=schema)
    fused = {"fused": True} if torch.cuda.is_available() else {}
    own = [q for name, q in D.named_parameters() if not name.startswith("reader.")]
    groups = [{"params": own, "weight_decay": 0.0}]  # AdamW without decay: Adam
    r = d.reader
    if D.reader is not None:  # the reader is a classifier: its own learning rate, Adam's usual betas, weight decay
        groups.append(
            {"params": list(D.reader.parameters()), "lr": r.lr, "betas": (0.9, 0.999), "weight_decay": r.weight_decay}
        )
    opt_d = torch.optim.AdamW(groups, lr=lr_d, betas=betas, **fused)
    factors = tuple(float(r.group_weights.get(g, 1.0)) for g in schema.names)
    recipe = ReaderRecipe(r.weight, r.flip, r.shift, r.label_smoothing, factors, r.pair_weight)
    return DcganTask(G, D, opt_g, opt_d, images, labels, d.cond_dropout, d.group_dropout, d.ac_weight, recipe)


def fit(task: DcganTask, config: gan.GanConfig, world: distributed.World, folder: Path | None, **callbacks):
    return gan.train(task, config, world=world, folder=folder, desc=f"dcgan-{task.G.config['size']}", **callbacks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/ingest", help="an ingest output folder (shards + manifest)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, help="default: dcgan.steps of the profile")
    ap.add_argument("--profile", help="params profile (default: params.yaml's)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--every-rank", action="store_true", help="each rank saves generator-rank<r> (rank agreement)")
    args = ap.parse_args()
    from dataset.shards import ImageShards

    params = load_params(args.params, args.profile)
    world = distributed.init()
    shards = ImageShards(args.data, args.size, "train")
    images, labels = shards.arrays()
    task = build(params.dcgan, args.size, images, labels, params.seed)
    out = Path(args.out)
    result = fit(task, gan.config(params.dcgan, params.seed, args.steps), world, out / "checkpoints")
    if world.main or args.every_rank:
        name = "generator" if world.main else f"generator-rank{world.rank}"
        result.g_ema.save(out / name, {"steps_done": result.steps_done, "watchdog": result.watchdog})
    if world.main:
        print(f"dcgan: {result.steps_done} steps in {result.seconds:.1f} s -> {out / 'generator'}")
    distributed.finish(world)


if __name__ == "__main__":
    main()
