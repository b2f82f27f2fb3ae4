"""The StyleGAN2-style family of the `train` stage (`python -m stages.train --family stylegan`).

For each size of `stylegan.sizes` (32 in `cpu`; the first is the headline), in MLflow experiment `stylegan`:
`anime-stylegan`, the conditional generator (models/stylegan/conditional.py: StyleGAN2-ADA's conditional mapping,
modulated synthesis) trained by the engine against DCGAN's discriminator with DCGAN's conditioning
(models/stylegan/conditional.build: the DCGAN task, its projection term, AC heads and reader), on the ingest shard
with the same conditions as DCGAN (the `label` stage's tags, the tagger's auto-tags where an image has none). The
route was chosen on validation over the unconditional StyleGAN (experiments/stylegan_routes.py).

It is scored as DCGAN is (models/dcgan/family.score: fd_tagger, kid_tagger, precision, recall, ndb_ratio,
msssim_diversity, tag_tv, cond_accuracy; validation and test, N = `stylegan.samples`) and its sliders are DCGAN's
kind (models/dcgan/sliders.py: one per tag, the condition's embedding moved towards the tag, and with it w):
`control_success` per tag on `stylegan.sliders.val` and `.test` latents and conditions, judged by the judge tagger.

The bundle is DCGAN's kind: the generator (model.safetensors, config.json with `conditional`), the training
conditions (conditions.safetensors), the discriminator (for fine-tuning) and sliders.json (the test
control_success per slider, the ranges), so the service steers it as it steers DCGAN.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from core import checkpoint, tracking
from core.params import Params
from models.dcgan import family as dcgan_family
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.engine import distributed, gan, tracked
from models.engine.gan import to_uint8
from models.engine.plots import UnitPlots
from models.engine.record import run_record
from models.metrics import generators
from models.stylegan import conditional
from models.stylegan.conditional import MODEL, ConditionalGenerator
from models.tagger.extractor import Tagger

SECTION = "stylegan"
INPUTS = dcgan_family.INPUTS  # DCGAN's data, conditions and judge (keys of stages/train.PATHS)
SECTIONS = [SECTION]


def load(params: Params, paths: dict[str, Path]) -> tuple[dict, dict]:
    """({"images": {size: {split: SplitData}}, "judge": the judge tagger}, what to record): DCGAN's data
    (models/dcgan/family.load_conditioned) at the sizes of `stylegan.sizes`."""
    return dcgan_family.load_conditioned(paths, params.stylegan.sizes)


def run(
    params: Params,
    data: dict,
    extractor: Tagger,
    inputs: list[str],
    out: Path,
    world: distributed.World,
    units: tracking.Units,
) -> dict:
    import mlflow

    p = params.stylegan
    figures: dict = {}
    for i, size in enumerate(p.sizes):
        d = data["images"][size]
        key = checkpoint.key(p.model_dump(), size, params.seed, [tracking.dvc_md5(x) for x in inputs])
        folder = checkpoint.ROOT / "gan" / f"stylegan-{size}-{key}"
        unit = f"stylegan-{size}"
        if not world.main:  # under torchrun: the same training in step with rank 0, which alone scores and registers
            if not distributed.share(False, world):
                task = conditional.build(p, size, d["train"].images, d["train"].labels, params.seed, d["train"].schema)
                gan.train(task, gan.config(p, params.seed), world=world, folder=folder)
            continue
        section = "stylegan" if i == 0 else f"stylegan_{size}"
        kept = units.earlier(unit, MODEL, out)
        if distributed.share(kept is not None, world):
            figures[section] = kept
            continue
        refs = {
            s: generators.reference(
                extractor, d[s].images, d[s].labels, d["train"].images, p.samples, params.seed, d[s].schema
            )
            for s in ("val", "test")
        }
        with tracking.start_run("stylegan", params, "train", SECTIONS, inputs, run_name=unit):
            mlflow.set_tags({"role": "stylegan", "size": str(size)})
            t0 = time.perf_counter()
            task = conditional.build(p, size, d["train"].images, d["train"].labels, params.seed, d["train"].schema)
            plots = UnitPlots(out / tracking.PLOTS, unit)
            result = tracked.train(task, gan.config(p, params.seed), world=world, folder=folder, desc=unit, plots=plots)
            seconds = time.perf_counter() - t0
            G = result.g_ema
            prior = ConditionPrior.fit(d["train"].labels)
            sample = dcgan_family.sampler(G, prior)
            scores = dcgan_family.score(extractor, refs, sample, params.seed, True, G.schema, data["judge"])
            scores.update(dcgan_family.slider_scores(p.sliders, params.seed, G, prior, data["judge"]))
            dcgan_family.log_scores(scores)
            bundle_dir = out / unit
            dcgan_family.save(task, result, prior, bundle_dir, "stylegan", {"extractor_version": extractor.version})
            dcgan_family.save_sliders(bundle_dir, scores["control_success_by_tag"], G.schema)
            files = []
            if i == 0:
                np.save(out / "sheet.npy", _sheet(G, prior, params.seed))
                files.append(out / "sheet.npy")
            kept = {**scores, **run_record(result, seconds, size)}
            tags = {"role": "stylegan", "size": str(size)}
            kept["version"] = units.register(unit, MODEL, bundle_dir, kept, files, tags, plots.stored())
            checkpoint.clear_states(folder)
        figures[section] = kept
    return figures


SHEET_SLIDERS = ("hair_color=blonde", "hair_length=long", "glasses=yes", "smile=yes")


@torch.no_grad()
def _sheet(G: ConditionalGenerator, prior: ConditionPrior, seed: int) -> np.ndarray:
    """48 uncurated samples (fixed seeds, conditions drawn from the training prior), then one row per slider of
    SHEET_SLIDERS: a fixed latent and condition with the slider moved across its range in 8 steps."""
    rows = [dcgan_family.sampler(G, prior)(48, None, seed + 5)]
    G.eval()
    z = torch.randn(1, G.nz, generator=torch.Generator().manual_seed(seed + 6))
    cond = sliders.conditions_for(prior, 1, seed + 6, G.schema)
    ranges = sliders.ranges(G.schema)
    for name in SHEET_SLIDERS:
        low, high = ranges[name]
        moved = [
            to_uint8(G(z, cond, sliders.soft_condition(cond, {name: float(a)}, G.schema)))
            for a in np.linspace(low, high, 8)
        ]
        rows.append(np.concatenate(moved))
    return np.concatenate(rows)


def sheet(out: Path) -> np.ndarray:
    from synth.sheet import tile

    return tile(np.load(out / "sheet.npy"), cols=8, zoom=2)


def summary(figures: dict) -> str:
    h = figures["stylegan"]
    return (
        f"test fd_tagger {h['fd_tagger']}, precision {h['precision']}, recall {h['recall']}, tag_tv {h['tag_tv']}, "
        f"cond_accuracy {h['cond_accuracy']}, control_success {h['control_success']} "
        f"(val {h['val_control_success']}); version {h['version']}"
    )
