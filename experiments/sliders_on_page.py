"""The sliders as the page shows them: `control_success` read on the 4x upscales the artist sees.

    .venv/bin/python -m experiments.sliders_on_page                  # after `make pipeline`
    ANIME_MLFLOW_STORE=<clone>/mlruns .venv/bin/python -m experiments.sliders_on_page --data <clone>/data
    .venv/bin/python -m experiments.sliders_on_page --seeds 1234 1235 1236   # DCGAN over the seed study's seeds
    .venv/bin/python -m experiments.sliders_on_page --seeds 1234 1235 1236 --truncation 0.7   # at the page's psi
    -> experiments/results/sliders-on-page-<profile>-<machine kind>.json (a run updates what it scored, keeps the rest)

The train stage scores each family's sliders on its 32 px images (`control_success` in metrics/dcgan.json and
metrics/stylegan.json): the judge tagger, trained at 64 px, reads them enlarged by repetition. The page shows every
character through anime-sr at 128 px. Here the same sliders, the same latents, conditions and seeds as the train
stage's validation and test figures, are read on those upscales (`control_success(..., show=upscale)`), so that
each figure differs from the stage's in one thing only: what the judge is shown. experiments/slider_ceiling.py gives
the ceiling of each route (the renderer's own one-attribute changes read the same ways).

With `--seeds`, DCGAN's sliders are read the same way for each training seed of the seed study (experiments/seeds.py
keeps the generators it trains; params' seed is the pipeline's own bundle), with their mean and sample std: the
spread over seeds of the figure the page shows, beside the study's spread of the stage's 32 px figure.

With `--truncation psi`, every image (start and moved) is drawn at that truncation, as the service draws it
(`Generator.forward`'s psi: DCGAN shrinks z towards 0, the conditional StyleGAN pulls w towards its mean w); the
page draws its characters at PAGE_PSI unless the artist moves its truncation slider. The latents are the same draws,
so a figure at psi differs from the psi 1 one in that alone. Those figures go under `truncation.<psi>` of the result
file, each with the 32 px reading beside the page's.

Bundles: the train stage's (data/train/dcgan/dcgan-<size>, data/train/stylegan/stylegan-<size>, data/train/sr/sr-<size>)
and the judge (data/tagger/judge), all from the same pipeline run; the figures for the stage's own route are copied
from metrics/ beside them for the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from core.params import load_params
from experiments import ROOT, result_path, write_result
from models.dcgan import sliders as dcgan_sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Generator as DcganGenerator
from models.sr.net import SrNet
from models.sr.train import upscale
from models.stylegan import sliders as stylegan_sliders
from models.stylegan.conditional import load_generator
from models.stylegan.task import latents
from models.tagger.extractor import load_judge

PAGE_PSI = 0.7  # the page's default truncation (serve/static/index.html's #truncation slider; tested)


def _figures(val: dict, test: dict) -> dict:
    return {
        "control_success": round(float(np.mean(list(test.values()))), 4),
        "control_success_by_tag": {k: round(v, 4) for k, v in test.items()},
        "val_control_success": round(float(np.mean(list(val.values()))), 4),
        "val_control_success_by_tag": {k: round(v, 4) for k, v in val.items()},
    }


def dcgan(folder: Path, params, judge, show, psi: float = 1.0) -> dict:
    """DCGAN's sliders with the train stage's latents and conditions (models/dcgan/family.py: seed + 11, + 12)."""
    G = DcganGenerator.load(folder)
    cond = folder / "conditions.safetensors"
    prior = ConditionPrior.load(cond) if cond.exists() else None
    p, seed = params.dcgan.sliders, params.seed
    val = dcgan_sliders.control_success(G, prior, judge, p.val, seed + 11, show, psi=psi)
    test = dcgan_sliders.control_success(G, prior, judge, p.test, seed + 12, show, psi=psi)
    return _figures(val, test)


def stylegan(folder: Path, params, judge, show, psi: float = 1.0) -> dict:
    """The conditional StyleGAN's sliders as DCGAN's, with the train stage's latents and conditions
    (models/stylegan/family.py: seed + 11, + 12); a bundle of the unconditional route: its kept directions in W with
    that stage's latents and noise."""
    G = load_generator(folder)
    if G.conditional:
        prior = ConditionPrior.load(folder / "conditions.safetensors")
        p, seed = params.stylegan.sliders, params.seed
        val = dcgan_sliders.control_success(G, prior, judge, p.val, seed + 11, show, psi=psi)
        test = dcgan_sliders.control_success(G, prior, judge, p.test, seed + 12, show, psi=psi)
        return _figures(val, test)
    if psi != 1.0:
        raise SystemExit(f"{folder}: a version of the unconditional route; its sliders are scored at psi 1 only")
    names = json.loads((folder / "sliders.json").read_text())["tags"]
    arrays = load_file(str(folder / "sliders.safetensors"))
    directions = {n: arrays["directions"][i].numpy() for i, n in enumerate(names)}
    sigma = {n: float(arrays["sigma"][i]) for i, n in enumerate(names)}
    s, seed = params.stylegan.sliders, params.seed
    ws_val, ws_test = latents(G, s.val, seed + 11), latents(G, s.test, seed + 12)
    val = stylegan_sliders.control_success(G, judge, ws_val, directions, sigma, seed + 21, show)
    test = stylegan_sliders.control_success(G, judge, ws_test, directions, sigma, seed + 22, show)
    return _figures(val, test)


FAMILIES = {"dcgan": dcgan, "stylegan": stylegan}


def dcgan_seeds(seeds: list[int], params, data: Path, judge, show, psi: float = 1.0) -> dict:
    """DCGAN's sliders on the page for each training seed of the seed study (experiments/seeds.py), then their mean
    and sample std: params' seed is the pipeline's own bundle, another seed the generator that study kept for it
    (`kept_dcgan`, trained on the same data). Every seed's sliders use the train stage's latents and conditions and
    the bundle's condition prior, which the stage fits on the training labels exactly as the study does. At `psi`
    < 1 each seed is also read on its 32 px images at that truncation (`size_32`), beside the page's reading."""
    from experiments.seeds import kept_dcgan, spread

    bundle = data / "train" / "dcgan" / f"dcgan-{params.dcgan.sizes[0]}"
    prior = ConditionPrior.load(bundle / "conditions.safetensors")
    p, seed0 = params.dcgan.sliders, params.seed
    runs = []
    for seed in seeds:
        folder = bundle if seed == seed0 else kept_dcgan(params, seed, data / "ingest")
        if not (folder / "model.safetensors").exists():
            raise SystemExit(
                f"no DCGAN of seed {seed} at {folder}: run `python -m experiments.seeds --only dcgan` first"
            )
        G = DcganGenerator.load(folder)
        t0 = time.perf_counter()
        val = dcgan_sliders.control_success(G, prior, judge, p.val, seed0 + 11, show, psi=psi)
        test = dcgan_sliders.control_success(G, prior, judge, p.test, seed0 + 12, show, psi=psi)
        runs.append({"seed": seed, "from": str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder),
                     **_figures(val, test), "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        if psi != 1.0:
            small_val = dcgan_sliders.control_success(G, prior, judge, p.val, seed0 + 11, psi=psi)
            small_test = dcgan_sliders.control_success(G, prior, judge, p.test, seed0 + 12, psi=psi)
            runs[-1]["size_32"] = _figures(small_val, small_test)
        print(f"dcgan seed {seed}: page {runs[-1]['control_success']} [val {runs[-1]['val_control_success']}]",
              flush=True)  # fmt: skip
    out = {"runs": runs, "spread": spread([_lowest(r) for r in runs])}
    if psi != 1.0:
        out["spread_32"] = spread([_lowest(r["size_32"]) for r in runs])
    return out


def _lowest(figures: dict) -> dict:
    """The mean and the lowest slider, on test and validation, of one reading's figures."""
    return {
        "control_success": figures["control_success"],
        "control_success_min": min(figures["control_success_by_tag"].values()),
        "val_control_success": figures["val_control_success"],
        "val_control_success_min": min(figures["val_control_success_by_tag"].values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=str(ROOT / "data"), help="the pipeline's outputs (train/, tagger/judge)")
    ap.add_argument("--metrics", default=str(ROOT / "metrics"), help="the same run's metrics folder")
    ap.add_argument("--family", action="append", choices=list(FAMILIES), help="only these (repeatable; none: both)")
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="DCGAN's training seeds of experiments/seeds.py (params' seed: the pipeline's bundle); alone, without "
        "--family, only these",
    )
    ap.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        metavar="PSI",
        help=f"draw every image at this truncation in (0, 1] (the page's default: {PAGE_PSI}); 1: none, the stage's",
    )
    ap.add_argument("--out", help="result file (default: experiments/results/sliders-on-page-<profile>-<machine>.json)")
    args = ap.parse_args()
    psi = args.truncation
    if not 0.0 < psi <= 1.0:
        ap.error(f"--truncation {psi}: expected a psi in (0, 1]")
    params = load_params(ROOT / "params.yaml", args.profile)
    data, metrics = Path(args.data), Path(args.metrics)
    judge = load_judge(data / "tagger/judge")
    sr_size = params.sr.sizes[0]
    net = SrNet.load(data / "train/sr" / f"sr-{sr_size}")
    torch.set_grad_enabled(False)
    out = ROOT / args.out if args.out else result_path("sliders-on-page", args.profile)
    doc = json.loads(out.read_text()) if out.exists() else {}  # a run of some families keeps the others' figures
    doc.update(
        {
            "what": "control_success of each family's sliders, read by the judge on the anime-sr upscales the page "
            "shows",
            "upscaler": f"train/sr/sr-{sr_size}",
        }
    )
    # psi 1: the stage's latents as they are; another psi: its own section, the 32 px reading at that psi beside
    into = doc if psi == 1.0 else doc.setdefault("truncation", {}).setdefault(f"{psi:g}", {"psi": psi})
    into.setdefault("families", {})
    for family in args.family or ([] if args.seeds else list(FAMILIES)):
        size = getattr(params, family).sizes[0]
        folder = data / "train" / family / f"{family}-{size}"
        t0 = time.perf_counter()
        page = FAMILIES[family](folder, params, judge, lambda x: upscale(net, x), psi)
        stage = json.loads((metrics / f"{family}.json").read_text())[family][family]
        into["families"][family] = {
            "size": size,
            "page": page,
            "version": stage.get("version"),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if psi == 1.0:  # the train stage's figures: the judge on the 32 px images
            into["families"][family]["stage"] = {k: stage.get(k) for k in page}
        else:
            into["families"][family]["size_32"] = FAMILIES[family](folder, params, judge, None, psi)
        print(f"{family} at psi {psi:g}: page {page['control_success']} [val {page['val_control_success']}], "
              f"stage {stage.get('control_success')}", flush=True)  # fmt: skip
    if args.seeds:
        into["dcgan_seeds"] = dcgan_seeds(args.seeds, params, data, judge, lambda x: upscale(net, x), psi)
    write_result(doc, "sliders-on-page", args.profile, str(out))


if __name__ == "__main__":
    main()
