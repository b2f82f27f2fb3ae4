"""DCGAN settings compared on the validation split: how `params.yaml`'s `dcgan` section was chosen.

    .venv/bin/python -m experiments.gan_variants  # experiments/results/dcgan-variants-cpu-<machine kind>.json
    .venv/bin/python -m experiments.gan_variants --only default,reader_16 --steps 1500
    .venv/bin/python -m experiments.gan_variants --only reader_24 --steps 6000 --seed 1235   # full length, another seed

Each variant is the `cpu` profile's `dcgan` section with a few overrides (experiments/gan_variants.yaml), trained with
the pipeline's seed (or `--seed`) on the committed `data/ingest` shard at the first of `dcgan.sizes`, conditioned as
the stage conditions it (the `label` stage's tags, the tagger's auto-tags where an image has none), and scored on
the **validation** split only against the pinned extractor, with the stage's scoring seeds (run the pipeline
first). It never computes a test figure. Steps are the same for every variant (`--steps`, default the yaml's),
shorter than the pipeline's, so the table ranks settings rather than predicting the final figures; a run at other
steps or with `--seed` is kept under `<variant>@<steps>steps,seed<seed>,<machine kind>` beside the yaml-length
results (`AVX2-AMD`, `AVX512-Intel`: torch picks other kernels on each kind, and the runs differ).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from core import machine
from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from experiments import ROOT, merged, result_path
from models.dcgan import family, sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.family import sampler
from models.dcgan.train import build, fit
from models.engine import distributed, gan
from models.metrics import generators as evaluate
from models.tagger.extractor import load_extractor
from stages.train import PATHS


def run_variant(
    overrides: dict, steps: int, data: Path, pin: Path, seed: int | None = None, style: dict | None = None
) -> dict:
    """One variant trained with `seed` (default: the pipeline's) on the stage's own training data and conditions
    (models/dcgan/family.load: the `label` stage's tags, the tagger's auto-tags where an image has none), scored on
    validation as the stage scores it. `style`: the conditional StyleGAN generator's settings
    (models/stylegan/conditional.py) in place of DCGAN's generator (experiments/stylegan_routes.py)."""
    params = load_params(ROOT / "params.yaml", "cpu")
    p = type(params.dcgan).model_validate(merged(params.dcgan.model_dump(), overrides))  # validated again
    size = p.sizes[0]
    seed = params.seed if seed is None else seed
    paths = {**{k: ROOT / v for k, v in PATHS.items()}, "data": data}
    data = family.load(params.model_copy(update={"dcgan": p}), paths)[0]
    x, y = data["images"][size]["train"].images, data["images"][size]["train"].labels
    if style is None:
        task = build(p, size, x, y, seed)
    else:
        from models.stylegan import conditional

        task = conditional.build(style_params(params.stylegan, p, style), size, x, y, seed)
    t0 = time.perf_counter()
    result = fit(task, gan.config(p, seed, steps), distributed.World(0, 1, torch.device("cpu")), None)
    seconds = time.perf_counter() - t0
    return {
        **validation_figures(result.g_ema, p, data, pin),
        "seconds_per_step": round(seconds / max(result.steps_done, 1), 4),
        "watchdog": result.watchdog,
        "settings": p.model_dump(mode="json"),  # what it trained with, whatever params.yaml says later
    }


def validation_figures(G, p, data: dict, pin: Path) -> dict:
    """A trained generator `G` (DCGAN's interface), scored on validation as the train@dcgan stage scores it: the
    pinned extractor's figures against the validation images, `cond_accuracy` per group and per value, and the
    sliders' `control_success` with the judge of `data` (models/dcgan/family.load), at the first of `p.sizes`."""
    params = load_params(ROOT / "params.yaml", "cpu")
    d = data["images"][p.sizes[0]]
    x, y, vx, vy = d["train"].images, d["train"].labels, d["val"].images, d["val"].labels
    extractor = load_extractor(pinned=str(pin))
    ref = evaluate.reference(extractor, vx, vy, x, p.eval.samples, params.seed)
    sample = sampler(G, ConditionPrior.fit(y))
    scores = evaluate.unconditional_scores(extractor, ref, sample(len(ref.images), None, params.seed), params.seed)
    scores.update(evaluate.conditional_scores(extractor, ref, sample, params.seed + 1))
    keep = ("fd_tagger", "precision", "recall", "ndb_ratio", "msssim_diversity", "tag_tv", "cond_accuracy")
    out = {f"val_{k}": round(scores[k], 4) for k in keep}
    out["val_cond_accuracy_by_group"] = {g: round(v, 3) for g, v in scores["cond_accuracy_by_group"].items()}
    out["val_cond_vs_tagger_by_group"] = {g: round(v, 3) for g, v in scores["cond_vs_tagger_by_group"].items()}
    out["val_cond_accuracy_by_value"] = by_value(extractor, ref, sample, params.seed + 1)
    out.update(slider_figures(G, ConditionPrior.fit(y), data["judge"], p.sliders.val, params.seed + 11))
    return out


def style_params(stylegan, dcgan, style: dict):
    """The `stylegan` section (core/params.StyleganParams) of a StyleGAN route variant: the generator's settings and
    Adam from `style` (z_dim, w_dim, mapping, base, cap, embed, lr_g, betas_g), the discriminator, its conditioning
    and the training schedule from the `dcgan` section `dcgan`, as experiments/stylegan_routes.yaml defines them."""
    from core.params import GanEngineParams

    engine = {k: getattr(dcgan, k) for k in GanEngineParams.model_fields}
    merged_ = {**stylegan.model_dump(), **engine, "discriminator": dcgan.discriminator().model_dump(), **style}
    return type(stylegan).model_validate(merged_)


def slider_figures(G, prior: ConditionPrior, judge, n: int, seed: int) -> dict:
    """The stage's validation `control_success` (the same latents, conditions and judge), and where moves fail:
    per group, the share of the starts whose judge reading is the condition they were drawn with, and the share of
    the other sliders' crossing moves that changed this group's reading."""
    scores = sliders.control_success(G, prior, judge, n, seed)
    z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
    cond = sliders.conditions_for(prior, n, seed)
    start = sliders._reads(G, judge, z, cond, {}, None)
    null = torch.tensor([len(ATTRIBUTES[g]) for g in GROUPS])
    agree = {
        g: round(float(np.mean(start[known, i] == cond.numpy()[known, i])), 3)
        for i, g in enumerate(GROUPS)
        if (known := cond[:, i].numpy() != int(null[i])).any()
    }
    changed = {g: [0, 0] for g in GROUPS}  # [changed, crossing moves of other groups' sliders]
    for name, g, k in evaluate.slider_tags():
        col = GROUPS.index(g)
        for sign in (1.0, -1.0) if sliders.two_sided(name) else (1.0,):
            moved = sliders._reads(G, judge, z, cond, {name: sign}, None)
            crossed = (
                (start[:, col] != k) & (moved[:, col] == k) if sign > 0 else (start[:, col] == k) & (moved[:, col] != k)
            )
            for i, other in enumerate(GROUPS):
                if i != col:
                    changed[other][0] += int((crossed & (moved[:, i] != start[:, i])).sum())
                    changed[other][1] += int(crossed.sum())
    return {
        "val_control_success": round(float(np.mean(list(scores.values()))), 4),
        "val_control_success_by_tag": {t: round(v, 3) for t, v in scores.items()},
        "val_slider_start_agreement_by_group": agree,
        "val_slider_changed_by_group": {g: round(a / b, 3) for g, (a, b) in changed.items() if b},
    }


def by_value(extractor, ref: evaluate.Reference, sample: evaluate.Sampler, seed: int) -> dict:
    """Where a group's misses fall: per requested value, the share of samples read as asked (the same samples as
    `cond_accuracy`'s), with the tagger's own share on the real images of that value beside."""
    _, reads = extractor.read(sample(len(ref.labels), ref.labels, seed))
    out: dict = {}
    for k, g in enumerate(GROUPS):
        asked = ref.labels[:, k]
        out[g] = {
            name: {
                "n": int((asked == v).sum()),
                "generated": round(float(np.mean(reads[g][asked == v] == v)), 3),
                "real": round(float(np.mean(ref.reads[g][asked == v] == v)), 3),
            }
            for v, name in enumerate(ATTRIBUTES[g])
            if (asked == v).any()
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=str(ROOT / "experiments" / "gan_variants.yaml"))
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--steps", type=int)
    ap.add_argument(
        "--seed", type=int, help="training seed (default: the pipeline's); the scoring seeds stay the stage's"
    )
    ap.add_argument("--data", default=str(ROOT / "data" / "ingest"))
    ap.add_argument("--pin", default=str(ROOT / "data" / "extractor" / "pin.json"))
    ap.add_argument("--out", help="default: experiments/results/dcgan-variants-cpu-<machine kind>.json")
    args = ap.parse_args()
    spec = yaml.safe_load(Path(args.variants).read_text())
    steps = args.steps or spec["steps"]
    names = args.only.split(",") if args.only else list(spec["variants"])
    out = Path(args.out) if args.out else result_path("dcgan-variants", "cpu")
    # a run of some variants (--only) keeps the others' earlier results
    doc = json.loads(out.read_text()) if out.exists() else {"split": "val", "variants": {}}
    for name in names:
        entry = {"overrides": spec["variants"][name] or {}, "steps": steps, "date": time.strftime("%Y-%m-%d")}
        if args.seed is not None:
            entry["seed"] = args.seed
        entry.update(run_variant(spec["variants"][name] or {}, steps, Path(args.data), Path(args.pin), args.seed))
        entry["device"] = f"cpu {machine.kind()}, {torch.get_num_threads()} threads"  # it trains on the CPU
        if args.seed is None and steps == spec["steps"]:
            key = name
        else:  # another length or seed: kept beside the yaml-length result, named by both and by the machine kind
            seed = args.seed if args.seed is not None else load_params(ROOT / "params.yaml", "cpu").seed
            key = f"{name}@{steps}steps,seed{seed},{machine.kind()}"
        doc["variants"][key] = entry
        print(name, json.dumps(entry), flush=True)
        # after every variant: a long run cut short keeps what it measured
        out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
