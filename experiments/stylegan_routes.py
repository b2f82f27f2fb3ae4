"""StyleGAN's routes to sliders that steer, compared on the validation split.

    .venv/bin/python -m experiments.stylegan_routes              # experiments/results/stylegan-routes-cpu-<kind>.json
    .venv/bin/python -m experiments.stylegan_routes --only cond_base32 --steps 4500

The pipeline's StyleGAN was unconditional: its own residual discriminator, sliders fitted afterwards as linear
directions in W. On two cores it showed about a quarter of DCGAN's images a second, and its samples and sliders
lagged DCGAN's far behind. The routes here keep its generator (mapping network, modulated and demodulated
convolutions, skip toRGB) and change the rest: the condition enters the mapping network as in StyleGAN2-ADA
(models/stylegan/conditional.py), and the DCGAN task trains it, with the discriminator whose reader made DCGAN's
conditions work; the sliders are then DCGAN's, moves along the class embeddings. The pipeline has since adopted
`cond_base16` (params.yaml's `stylegan` section); a variant here is the `stylegan` section with its `style` settings
and the `dcgan` section's discriminator and schedule (experiments/gan_variants.style_params).

Each variant (experiments/stylegan_routes.yaml) is trained with the pipeline's seed on the committed `data/ingest`
shard and scored exactly as experiments/gan_variants.py scores DCGAN's variants: validation only, the stage's
scoring seeds, the pinned extractor and the judge (run the pipeline first). It never computes a test figure. The
result file also carries, for comparison, the validation figures of the committed pipeline record's StyleGAN and
DCGAN and the PCA-Gaussian baseline (metrics/stylegan.json, metrics/dcgan.json) and their training time a step.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from core import machine
from core.params import load_params
from experiments import ROOT, result_path
from experiments.gan_variants import run_variant

RECORD_KEYS = ("fd_tagger", "precision", "recall", "control_success")


def record(metrics: Path) -> dict:
    """The committed record's validation figures of both generator families and of the PCA-Gaussian baseline, as
    the reference rows."""
    out = {}
    for family in ("stylegan", "dcgan"):
        path = metrics / f"{family}.json"
        if not path.exists():
            continue
        doc = json.loads(path.read_text())[family]
        h = doc[family]
        row = {f"val_{k}": h.get(f"val_{k}") for k in RECORD_KEYS}
        row["steps"] = h["steps_done"]
        row["seconds_per_step"] = round(h["train_seconds"] / max(h["steps_done"], 1), 4)
        out[family] = row
        if "pca_gaussian" in doc:
            out["pca_gaussian"] = {f"val_{k}": doc["pca_gaussian"].get(f"val_{k}") for k in RECORD_KEYS[:3]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=str(ROOT / "experiments" / "stylegan_routes.yaml"))
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seed", type=int, help="training seed (default: the pipeline's); scoring seeds stay the stage's")
    ap.add_argument("--data", default=str(ROOT / "data" / "ingest"))
    ap.add_argument("--pin", default=str(ROOT / "data" / "extractor" / "pin.json"))
    ap.add_argument("--metrics", default=str(ROOT / "metrics"), help="the pipeline record's metrics (reference rows)")
    ap.add_argument("--out", help="default: experiments/results/stylegan-routes-cpu-<machine kind>.json")
    args = ap.parse_args()
    spec = yaml.safe_load(Path(args.variants).read_text())
    steps = args.steps or spec["steps"]
    names = args.only.split(",") if args.only else list(spec["variants"])
    out = Path(args.out) if args.out else result_path("stylegan-routes", "cpu")
    doc = json.loads(out.read_text()) if out.exists() else {"split": "val", "variants": {}}
    doc["record"] = record(Path(args.metrics))
    for name in names:
        v = spec["variants"][name]
        entry = {"style": v["style"], "dcgan_overrides": v.get("dcgan", {}), "steps": steps}
        entry["date"] = time.strftime("%Y-%m-%d")
        if args.seed is not None:
            entry["seed"] = args.seed
        entry.update(run_variant(v.get("dcgan", {}), steps, Path(args.data), Path(args.pin), args.seed, v["style"]))
        entry["device"] = f"cpu {machine.kind()}, {torch.get_num_threads()} threads"
        seed = args.seed if args.seed is not None else load_params(ROOT / "params.yaml", "cpu").seed
        key = name if args.seed is None and steps == spec["steps"] else f"{name}@{steps}steps,seed{seed}"
        doc["variants"][key] = entry
        print(name, json.dumps({k: entry[k] for k in entry if k.startswith("val_") and "by" not in k}), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1) + "\n")  # after every variant: a run cut short keeps the rest


if __name__ == "__main__":
    main()
