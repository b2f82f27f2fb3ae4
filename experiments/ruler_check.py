"""Is each feature space a ruler? Both rulers rank the same models on validation.

    .venv/bin/python -m experiments.ruler_check       # after `dvc repro train@dcgan` (its upstream: ingest ... ruler)
    .venv/bin/python -m experiments.ruler_check --root ../other-checkout --early 450,1500

A feature space is only a ruler if it ranks what is known to be ordered in that order. Known, on the train@dcgan
stage's data at its first size:

- the **floor** (training images in place of generated ones) is closer to the split than any generator;
- the **final DCGAN** is closer than the **PCA-Gaussian baseline** (a Gaussian over pixel principal components);
- an **early** DCGAN (the same run's EMA generator at the first sample grid after a tenth of its steps, or at
  `--early` steps, multiples of `sample_every`) is farther than the final one.

The study trains DCGAN once with the stage's settings and seed on the stage's own training data and conditions
(models/dcgan/family.load), keeping the EMA generator at each early step (the engine's `snapshot`, with the exact
batch-norm statistics the end of training computes), fits the PCA-Gaussian baseline as the stage fits it, and scores
all of them, and the floor, on the **validation** split in both spaces: the pinned extractor's (`fd_tagger`,
`kid_tagger`, `precision`, `recall`) and the second ruler's (`fd_ssl`, ...; data/ruler). It never computes a test
figure. For each space and figure it records the order and whether it is the known one, and where the two spaces
order the models differently. The verdict that decides is the Fréchet distance's (`fd_keeps_the_known_orders`):
precision alone rewards a set that covers little of the real one (an early generator, a blurry baseline), so it need
not keep these orders, and the other figures are reported beside. Writes experiments/results/ruler_check-<profile>-<machine kind>.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from core import machine
from core.errors import run_main
from core.params import load_params
from experiments import CACHE, ROOT, read_store_of, write_result

# lower is better for the distances, higher for the manifold estimates; a model's figure per space
FIGURES = {
    "tagger": {"fd": "fd_tagger", "kid": "kid_tagger", "precision": "precision", "recall": "recall"},
    "ssl": {"fd": "fd_ssl", "kid": "kid_ssl", "precision": "precision_ssl", "recall": "recall_ssl"},
}
LOWER_IS_BETTER = {"fd": True, "kid": True, "precision": False, "recall": False}
KNOWN = ("floor", "final", "pca_gaussian")  # best first


def known_orders(early: list[str]) -> list[tuple[str, str]]:
    """The pairs (better, worse) that a ruler must order so: floor before final before PCA, each later step before
    every earlier one."""
    steps = ["final", *reversed(early)]  # the latest first
    pairs = [("floor", "final"), ("final", "pca_gaussian")]
    pairs += [(steps[i], steps[j]) for i in range(len(steps)) for j in range(i + 1, len(steps))]
    return pairs


def verdicts(models: dict[str, dict], early: list[str]) -> dict:
    """Per space and figure: the models from best to worst, each known pair held or not, and the pairs that the two
    spaces order differently."""
    out: dict = {"order": {}, "holds": {}, "disagree": {}}
    for names in FIGURES.values():
        for kind, figure in names.items():
            sign = 1 if LOWER_IS_BETTER[kind] else -1
            ranked = sorted(models, key=lambda m: sign * models[m][f"val_{figure}"])
            out["order"][figure] = ranked
            out["holds"][figure] = {
                f"{a} < {b}": sign * models[a][f"val_{figure}"] < sign * models[b][f"val_{figure}"]
                for a, b in known_orders(early)
            }
    names = list(models)
    for kind in LOWER_IS_BETTER:
        a_fig, b_fig = FIGURES["tagger"][kind], FIGURES["ssl"][kind]
        sign = 1 if LOWER_IS_BETTER[kind] else -1
        flips = []
        for i, x in enumerate(names):
            for y in names[i + 1 :]:
                first = sign * (models[x][f"val_{a_fig}"] - models[y][f"val_{a_fig}"])
                second = sign * (models[x][f"val_{b_fig}"] - models[y][f"val_{b_fig}"])
                if first * second < 0:
                    flips.append(f"{x} / {y}")
        out["disagree"][kind] = flips
    out["every_known_order_holds"] = {
        space: all(all(out["holds"][f].values()) for f in names.values()) for space, names in FIGURES.items()
    }
    # the headline: the Fréchet distance (precision alone rewards a set that covers little, so it need not keep them)
    out["fd_keeps_the_known_orders"] = {
        space: all(out["holds"][names["fd"]].values()) for space, names in FIGURES.items()
    }
    return out


def _val(scores: dict) -> dict:
    """The feature figures of both spaces, as validation figures."""
    return {f"val_{f}": round(float(scores[f]), 4) for names in FIGURES.values() for f in names.values()}


def scored(extractor, ref, images: np.ndarray, seed: int) -> dict:
    from models.metrics import generators

    return _val(generators.unconditional_scores(extractor, ref, images, seed))


def run(root: Path, early_steps: list[int] | None, profile: str | None, ruler: Path | None = None) -> dict:
    """The study on `root`'s data; `ruler`: another trained ruler folder than root's data/ruler (one of several
    compared: the kept DCGAN run is scored again, not retrained)."""
    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.family import sampler
    from models.dcgan.pca import PcaGaussian
    from models.metrics import generators
    from models.ruler.read import load_ruler
    from models.tagger.extractor import load_extractor
    from stages.train import PATHS, RULER

    read_store_of(root)
    params = load_params(root / "params.yaml", profile)
    p, seed = params.dcgan, params.seed
    size = p.sizes[0]
    every = p.sample_every  # the engine's grid, where a snapshot is taken: the run itself is the stage's
    early_steps = early_steps or [every * max(1, -(-p.steps // 10 // every))]  # a tenth, up to the next grid
    if any(not 0 < s < p.steps or s % every for s in early_steps):
        raise SystemExit(f"ruler_check: early steps {early_steps} must be multiples of {every} below {p.steps}")
    data = family.load(params, {k: root / v for k, v in PATHS.items()})[0]["images"][size]
    extractor = load_extractor(pinned=str(root / "data/extractor/pin.json"))
    ruler = ruler or root / RULER
    extractor.ruler = load_ruler(ruler)
    record = json.loads((ruler / "ruler.json").read_text())
    x, y = data["train"].images, data["train"].labels
    ref = generators.reference(extractor, data["val"].images, data["val"].labels, x, p.eval.samples, seed)
    n = len(ref.images)

    final, kept, seconds = generators_of_the_run(p, size, x, y, seed, early_steps)
    prior = ConditionPrior.fit(y)
    models = {"floor": _val(generators.floor_scores(extractor, ref, x, seed))}  # the stage's real-vs-real floor
    models["final"] = scored(extractor, ref, sampler(final, prior)(n, None, seed), seed)
    for step in sorted(kept):
        models[f"step_{step}"] = scored(extractor, ref, sampler(kept[step], prior)(n, None, seed), seed)
    full = PcaGaussian.fit(x, max(p.eval.pca_components), seed)
    by_k = {k: generators.unconditional_scores(extractor, ref, full.truncate(k).sample(n, seed), seed)["fd_tagger"]
            for k in p.eval.pca_components}  # fmt: skip
    best = min(by_k, key=lambda k: (by_k[k], k))  # as the stage chooses it: validation fd_tagger
    models["pca_gaussian"] = {**scored(extractor, ref, full.truncate(best).sample(n, seed), seed), "components": best}
    early = [f"step_{s}" for s in sorted(kept)]
    return {
        "profile": params.profile,
        "machine": machine.kind(),
        "size": size,
        "steps": p.steps,
        "early_steps": sorted(kept),
        "seed": seed,
        "images": n,
        "extractor_version": extractor.version,
        "ruler_version": extractor.ruler.version,
        "ruler": {**extractor.ruler.net.config, **{k: record.get(k) for k in ("epochs_done", "loss", "pair_found")}},
        "train_seconds": round(seconds, 1),
        "models": models,
        **verdicts(models, early),
    }


def generators_of_the_run(p, size: int, x: np.ndarray, y: np.ndarray, seed: int, early_steps: list[int]):
    """(the final EMA generator, {early step: its EMA generator then}, training seconds) of one DCGAN run of `p` on
    (x, y). Kept under .cache/bench/ruler_check/<digest of the settings, seed, steps and training data> (BENCH_CACHE),
    so scoring with another ruler or extractor does not train again."""
    from core import checkpoint
    from core.atomic import atomic_path, write_json
    from experiments.auto_tags import training_digest
    from models.dcgan.net import Generator
    from models.dcgan.train import build, fit
    from models.engine import distributed, gan

    key = checkpoint.key(p.model_dump(mode="json"), size, seed, sorted(early_steps), training_digest(x, y))
    folder = CACHE / "ruler_check" / key
    if (folder / "run.json").exists():
        run = json.loads((folder / "run.json").read_text())
        kept = {s: Generator.load(folder / f"step_{s}") for s in early_steps}
        return Generator.load(folder / "final"), kept, run["train_seconds"]
    task = build(p, size, x, y, seed)
    kept: dict[int, torch.nn.Module] = {}

    def snapshot(g_ema: torch.nn.Module, step: int) -> None:
        if step in early_steps:
            g = copy.deepcopy(g_ema)
            task.finish(g, torch.Generator().manual_seed(seed + 3))  # what the end of training does to the EMA G
            kept[step] = g.eval()

    t0 = time.perf_counter()
    result = fit(task, gan.config(p, seed), distributed.World(0, 1, torch.device("cpu")), None, snapshot=snapshot)
    seconds = round(time.perf_counter() - t0, 1)
    missing = sorted(set(early_steps) - set(kept))
    if missing or result.steps_done < p.steps or result.stopped_by_budget:
        raise SystemExit(f"ruler_check: the run reached step {result.steps_done}; no snapshot at {missing}")
    with atomic_path(folder) as tmp:
        result.g_ema.save(tmp / "final", {"seed": seed})
        for s, g in kept.items():
            g.save(tmp / f"step_{s}", {"seed": seed, "step": s})
        write_json(tmp / "run.json", {"train_seconds": seconds, "steps_done": result.steps_done})
    return result.g_ema, kept, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(ROOT), help="the checkout whose data/ and MLflow store to read")
    ap.add_argument("--early", help="comma-separated early steps (default: a tenth of the run)")
    ap.add_argument("--profile", help="default: the params file's")
    ap.add_argument("--ruler", help="a trained ruler folder (default: the root's data/ruler)")
    ap.add_argument("--out", help="default: experiments/results/ruler_check-<profile>-<machine kind>.json")
    args = ap.parse_args()
    early = [int(s) for s in args.early.split(",")] if args.early else None
    doc = run(Path(args.root).resolve(), early, args.profile, Path(args.ruler).resolve() if args.ruler else None)
    path = write_result(doc, "ruler_check", doc["profile"], args.out)
    for space, ok in doc["every_known_order_holds"].items():
        fd = "FD keeps every known order" if doc["fd_keeps_the_known_orders"][space] else "FD breaks a known order"
        print(f"ruler_check: {space}: {fd}; {'every figure keeps them' if ok else 'another figure breaks one'}")
    print(f"-> {path}")


if __name__ == "__main__":
    run_main(main, "ruler_check")
