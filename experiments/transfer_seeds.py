"""Seed spread of DCGAN's transfer comparison: fine-tune against from-scratch on one tag, with several training seeds.

    .venv/bin/python -m experiments.transfer_seeds                       # seeds 1234 1235 1236 on this checkout's data
    .venv/bin/python -m experiments.transfer_seeds --root ../other-checkout --seeds 1234 1235

The train@dcgan stage runs the comparison once, with the pipeline's seed: `dcgan.transfer.steps` steps on the
training images of `dcgan.transfer.tag`, once from the stage's own DCGAN (its bundle under `data/train/dcgan/`, G and
D) and once from scratch, each scored by KID of `dcgan.transfer.samples` generated images against the tag's
validation and test images, with a bootstrap interval, and the floor (the tag's real training images) at the same
size. One seed says whether the fine-tune is ahead on that seed; this study says whether it is ahead beyond the
seeds' spread. Only the training seed moves (the fine-tune's steps and batches, the scratch run's initial weights
too); the source DCGAN, the references, the generated draws and the bootstrap are the stage's, so that seed
`params.seed` reproduces the stage's figures up to float order.

It reads `root`'s pipeline outputs (run `make pipeline` there first) and writes
`experiments/results/transfer_seeds-<profile>-<machine kind>.json`: every seed's KID of both arms (tagger space and
the second ruler's), the floor, and per split the gap (scratch minus fine-tune: positive when fine-tuning is ahead) as
mean ± sample std over the seeds. The decision figure is the validation gap; test is reported beside it. Each trained
generator is kept under .cache/bench/ (a re-run re-scores it) and nothing goes to MLflow: a study is not a release.
About 3 minutes per seed for the `cpu` profile's 400 steps on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from core import checkpoint
from core.errors import BadInput, run_main
from core.hashing import file_digest
from core.params import load_params
from experiments import CACHE, ROOT, read_store_of, write_result

ARMS = ("transfer", "transfer_scratch")
KEYS = ("kid_tagger", "kid_tagger_low", "kid_tagger_high", "kid_ssl", "kid_ssl_low", "kid_ssl_high")


def spread(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "runs": values,
    }


def source_bundle(root: Path, size: int) -> Path:
    """The stage's DCGAN of `size` (G and D): the fine-tune's starting point."""
    folder = root / "data" / "train" / "dcgan" / f"dcgan-{size}"
    if not (folder / "discriminator.safetensors").exists():
        raise BadInput(f"{folder}: no DCGAN with its discriminator there; run `make pipeline` in {root} first")
    return folder


def fine_tune_task(params, size: int, data, init: Path | None):
    """The task the stage trains for one arm: a fresh DCGAN with `params.seed`, its G and D then replaced by the
    source bundle's for the fine-tune (the stage's models/dcgan/family._train_one)."""
    from models.dcgan.train import build
    from models.engine import bundle

    task = build(params.dcgan, size, data.images, data.labels, params.seed, data.schema)
    if init is not None:
        bundle.load_weights(task.G, init)
        task.D.load_state_dict(bundle.load_tensors(init / "discriminator.safetensors"))
    return task


def gaps(runs: dict[str, dict]) -> dict:
    """Per split and space: scratch minus fine-tune KID per seed, mean ± std; and how many seeds have the fine-tune's
    interval wholly below the scratch run's KID (the stage's reading of one seed)."""
    out: dict = {}
    for prefix in ("val_", ""):
        for space in ("tagger", "ssl"):
            key = f"{prefix}kid_{space}"
            if not all(key in r["transfer"] for r in runs.values()):
                continue
            diffs = [r["transfer_scratch"][key] - r["transfer"][key] for r in runs.values()]
            ahead = sum(r["transfer"][f"{key}_high"] < r["transfer_scratch"][key] for r in runs.values())
            out[key] = {"gap": spread(diffs), "seeds_fine_tune_ahead": ahead, "seeds": len(runs)}
    return out


def run(root: Path, seeds: list[int], profile: str | None) -> dict:
    import numpy as np

    from experiments.auto_tags import training_digest
    from experiments.seeds import trained_generator
    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.net import Generator
    from models.metrics import generators
    from models.ruler.read import load_ruler
    from models.tagger.extractor import load_extractor
    from stages.train import PATHS, RULER

    read_store_of(root)
    params = load_params(root / "params.yaml", profile)
    p, t = params.dcgan, params.dcgan.transfer
    if not t.tag:
        raise BadInput("dcgan.transfer.tag is empty: there is no comparison to spread")
    size = p.sizes[0]
    d = family.load(params, {k: root / v for k, v in PATHS.items()})[0]["images"][size]
    short = family.transfer_shortfall(t.tag, d)
    if short is not None:
        raise BadInput(short)
    group, value = t.tag.split("=")
    sub = {s: family._subset(d[s], group, value) for s in ("train", "val", "test")}
    extractor = load_extractor(pinned=str(root / "data/extractor/pin.json"))
    extractor.ruler = load_ruler(root / RULER)
    refs = {
        s: generators.reference(
            extractor, sub[s].images, sub[s].labels, sub["train"].images, p.eval.samples, params.seed, sub[s].schema
        )
        for s in ("val", "test")
    }
    init = source_bundle(root, size)
    source = [file_digest(init / f) for f in ("model.safetensors", "discriminator.safetensors")]
    steps_p = p.model_copy(update={"steps": t.steps})
    trained_on = training_digest(sub["train"].images, sub["train"].labels)
    prior = ConditionPrior.fit(sub["train"].labels)
    runs: dict[str, dict] = {}
    for seed in seeds:
        seeded = params.model_copy(update={"seed": seed})
        runs[str(seed)] = {}
        for role in ARMS:
            start = init if role == "transfer" else None
            key = checkpoint.key(steps_p.model_dump(), size, seed, role, trained_on, source if start else None)
            G, doc = trained_generator(
                CACHE / f"bench-transfer-{key}",
                Generator.load,
                lambda start=start, seeded=seeded: fine_tune_task(seeded, size, sub["train"], start),
                steps_p,
                seed,
                f"dcgan {role}",
            )
            sample = family._unconditional(family.sampler(G, prior))
            scores = generators.held_out_kid(extractor, refs, sample, t.samples, params.seed)
            runs[str(seed)][role] = {
                **{f"{pre}{k}": scores[f"{pre}{k}"] for pre in ("", "val_") for k in KEYS if f"{pre}{k}" in scores},
                "steps_done": doc["steps_done"],
                "train_seconds": doc["train_seconds"],
            }
            print(f"transfer_seeds: seed {seed} {role}: {runs[str(seed)][role]}")
    n = min(t.samples, len(sub["train"].images))
    floor = generators.held_out_kid(extractor, refs, family._real_draws(sub["train"].images), n, params.seed)
    return {
        "profile": params.profile,
        "tag": t.tag,
        "steps": t.steps,
        "samples": t.samples,
        "images": {s: len(sub[s].images) for s in sub},
        "source": str(init.relative_to(root)),
        "seeds": seeds,
        "runs": runs,
        "floor": {k: v for k, v in floor.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        "gaps": gaps(runs),
        "device": _device(),
        "mean_train_seconds": float(np.mean([r[a]["train_seconds"] for r in runs.values() for a in ARMS])),
    }


def _device() -> str:
    from core import machine

    return machine.describe()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(ROOT), help="the checkout whose pipeline outputs (data/) to read")
    ap.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: the params' seed and the next two)")
    ap.add_argument("--profile", help="default: the params file's")
    ap.add_argument("--out", help="default: experiments/results/transfer_seeds-<profile>-<machine kind>.json")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    seeds = args.seeds or [load_params(root / "params.yaml", args.profile).seed + i for i in range(3)]
    doc = run(root, seeds, args.profile)
    write_result(doc, "transfer_seeds", doc["profile"], args.out)
    for key, g in doc["gaps"].items():
        gap = g["gap"]
        print(
            f"transfer_seeds: {key} scratch - fine-tune: {gap['mean']:.4f} ± {gap['std']:.4f} over {g['seeds']} seeds; "
            f"the fine-tune's interval below scratch on {g['seeds_fine_tune_ahead']}"
        )


if __name__ == "__main__":
    run_main(main, "transfer_seeds")
