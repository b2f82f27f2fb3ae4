"""Reader-guided sliders: does nudging a slider's latent with the generator's own reader make it move its attribute
and little else? Compared on validation only.

    .venv/bin/python -m experiments.guided_sliders                     # after `make pipeline` (or dvc repro train@dcgan)
    .venv/bin/python -m experiments.guided_sliders --data <clone>/data --family dcgan --only plain,keep_30
    -> experiments/results/guided-sliders-<profile>-<machine kind>.json

A slider moves one group's condition between its embeddings; z and the other groups stay, and yet the generator
draws other groups differently, which is what fails `control_success` (docs/artist.md). `Guide`
(models/dcgan/sliders.py) draws the moved image from a latent nudged, by a few Adam steps, so that the
discriminator's reader, trained with the generator, reads every other group as it read the start. The judge that
scores the sliders (the tagger stage's second seed) is never used to guide them. Each variant of
experiments/guided_sliders.yaml is scored by the train stage's rule on the stage's validation latents and conditions
(seed + 11, `<family>.sliders.val` of them), on the 32 px images, and on the page's 128 px anime-sr upscales where
`--page` is given and the run has the sr bundle.

Bundles: the train stage's generator (data/train/<family>/<family>-<size>, with the discriminator it was trained
against) and the judge (data/tagger/judge), from one pipeline run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml

from core.params import load_params
from experiments import ROOT, write_result
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Generator as DcganGenerator
from models.stylegan.conditional import load_generator
from models.tagger.extractor import load_judge

SETTINGS = ROOT / "experiments" / "guided_sliders.yaml"
LOADERS = {"dcgan": DcganGenerator.load, "stylegan": load_generator}


def variants(path: Path = SETTINGS) -> dict[str, sliders.Guide]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: sliders.Guide(**(v or {})) for name, v in doc["variants"].items()}


def score(folder: Path, family: str, params, judge, guide: sliders.Guide, show=None) -> dict:
    """Validation control_success of the bundle's sliders under `guide`, with the train stage's latents."""
    G = LOADERS[family](folder)
    reader = sliders.load_reader(folder)
    if reader is None and guide.steps:
        raise SystemExit(f"{folder}: no discriminator with a reader beside the generator; nothing can guide it")
    prior = ConditionPrior.load(folder / "conditions.safetensors")
    p = getattr(params, family).sliders
    t0 = time.perf_counter()
    val = sliders.control_success(G, prior, judge, p.val, params.seed + 11, show, reader, guide)
    seconds = time.perf_counter() - t0
    moves = p.val * sum(2 if sliders.two_sided(t, G.schema) else 1 for t in val)
    return {
        "val_control_success": round(float(np.mean(list(val.values()))), 4),
        "val_lowest": round(float(min(val.values())), 4),
        "val_control_success_by_tag": {k: round(v, 4) for k, v in val.items()},
        "seconds": round(seconds, 1),
        "ms_per_moved_image": round(1000 * seconds / moves, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=str(ROOT / "data"), help="the pipeline's outputs (train/, tagger/judge)")
    ap.add_argument("--family", action="append", choices=list(LOADERS), help="only these (repeatable)")
    ap.add_argument("--only", help="comma-separated variants of the settings file")
    ap.add_argument("--page", action="store_true", help="also read the page's anime-sr upscales")
    ap.add_argument("--out", help="result file (default: experiments/results/guided-sliders-<profile>-<machine>.json)")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml", args.profile)
    data = Path(args.data)
    judge = load_judge(data / "tagger/judge")
    chosen = variants()
    if args.only:
        chosen = {k: chosen[k] for k in args.only.split(",")}
    torch.manual_seed(params.seed)
    shows = {"32": None}
    if args.page:
        from models.sr.net import SrNet
        from models.sr.train import upscale

        net = SrNet.load(data / "train/sr" / f"sr-{params.sr.sizes[0]}")
        shows["page"] = lambda x: upscale(net, x)
    doc = {
        "what": "validation control_success of each family's sliders, plain and reader-guided (experiments/guided_sliders.yaml)",
        "profile": args.profile,
        "threads": torch.get_num_threads(),
        "families": {},
    }
    for family in args.family or list(LOADERS):
        size = getattr(params, family).sizes[0]
        folder = data / "train" / family / f"{family}-{size}"
        rows = doc["families"].setdefault(family, {"size": size, "variants": {}})["variants"]
        for name, guide in chosen.items():
            for route, show in shows.items():
                fig = score(folder, family, params, judge, guide, show)
                rows.setdefault(name, {"guide": asdict(guide)})[route] = fig
                print(f"{family} {name} {route}: {fig['val_control_success']} (lowest {fig['val_lowest']}), "
                      f"{fig['ms_per_moved_image']} ms a moved image", flush=True)  # fmt: skip
    write_result(doc, "guided-sliders", args.profile, args.out)


if __name__ == "__main__":
    main()
