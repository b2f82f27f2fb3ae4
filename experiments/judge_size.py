"""Which images should the slider test's judge learn from? The judge at the size it reads, compared on validation.

    .venv/bin/python -m experiments.judge_size                        # after `make pipeline` (or dvc repro tagger)
    .venv/bin/python -m experiments.judge_size --data <clone>/data --dcgan <clone>/data/train/dcgan/dcgan-32
    -> experiments/results/judge-size-<profile>-<machine kind>.json

The judge (the tagger stage's second seed, data/tagger/judge) learns from the ingest's 64 px shard and reads the
generators' 32 px images enlarged to 64 (docs/artist.md: it reads glasses, smile and blush on real 32 px images far
worse than on 64 px ones, and a perfect slider scores about 0.69 under it). Here the same network, recipe and seed
learn from each shard of experiments/judge_size.yaml (`tagger.size` stays the network's input; a smaller shard is
enlarged to it as the judge enlarges what it reads), its thresholds calibrated on that shard's validation split.
Each judge is then read three ways, none of which touches a test split or a generator's training:

- macro-F1 per group on the real validation images at 32 px and at 64 px (thresholds of its own shard);
- the slider ceiling at 32 px: the renderer's one-attribute changes (experiments/slider_ceiling.py's characters);
- with `--dcgan <bundle>`, that generator's sliders on the train stage's validation latents (seed + 11).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from core.names import GROUPS
from core.params import load_params
from dataset.shards import ImageShards
from experiments import ROOT, result_path, write_result
from experiments import slider_ceiling as ceiling_study
from experiments.guided_sliders import Guide, score
from models.tagger import evaluate
from models.tagger.extractor import Tagger
from models.tagger.labels import labels_for, read_tags
from models.tagger.net import predict_proba
from models.tagger.train import train_cnn

SETTINGS = ROOT / "experiments" / "judge_size.yaml"


def split(data: Path, tags: dict, size: int, name: str, labelled_only: bool) -> tuple[np.ndarray, np.ndarray]:
    d = ImageShards(data / "ingest", size, name)
    x, _ = d.arrays()
    y, _ = labels_for(d.ids, tags)
    keep = np.flatnonzero((y >= 0).any(axis=1)) if labelled_only else np.arange(len(y))
    return x[keep], y[keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=str(ROOT / "data"), help="the pipeline's outputs (ingest/, label/tags.csv)")
    ap.add_argument("--dcgan", help="a DCGAN bundle whose sliders to score on validation under each judge")
    ap.add_argument("--n", type=int, help="characters of the ceiling (default: experiments/slider_ceiling.yaml's)")
    ap.add_argument("--only", help="comma-separated judges of the settings file (the result file keeps the others)")
    ap.add_argument("--out", help="result file (default: experiments/results/judge-size-<profile>-<machine>.json)")
    args = ap.parse_args()
    settings = yaml.safe_load(SETTINGS.read_text())
    judges, low_size = settings["judges"], int(settings["low_size"])
    if args.only:
        judges = {k: judges[k] for k in args.only.split(",")}
    params = load_params(ROOT / "params.yaml", args.profile)
    tp, data = params.tagger, Path(args.data)
    tags = read_tags(data / "label" / "tags.csv")
    val = {s: split(data, tags, s, "val", False) for s in sorted({low_size, tp.size})}
    ceiling = yaml.safe_load((ROOT / "experiments/slider_ceiling.yaml").read_text())
    starts, truth, moved = ceiling_study.pairs(params, args.n or ceiling["n"], ceiling["seed"])
    seed = params.seed + tp.judge_seed_offset
    doc = {
        "what": "the slider test's judge trained on each recipe: validation macro-F1 and the 32 px slider ceiling",
        "profile": args.profile,
        "seed": seed,
        "low_size": low_size,
        "judges": {},
    }
    for name, spec in judges.items():
        t0 = time.perf_counter()
        x, y = split(data, tags, int(spec["shard"]), "train", True)
        res = train_cnn(x, y, tp, seed, low_res=float(spec.get("low_res", 0.0)), low_size=low_size)
        trained = {"train_images": len(x), "epochs_done": res.epochs_done, "train_seconds": round(res.seconds, 1)}
        probs = {s: predict_proba(res.net, xs) for s, (xs, _) in val.items()}
        for cal in spec["calibrate"]:
            thresholds = evaluate.calibrate(probs[cal], val[cal][1])
            judge = Tagger(res.net, thresholds, f"judge-{name}", None)
            row = {"spec": spec, "calibrated_at": cal, **trained}
            for s, (_, ys) in val.items():
                rep = evaluate.report(probs[s], ys, thresholds)
                row[f"val_macro_f1_{s}px"] = round(rep["macro_f1"], 4)
                row[f"val_macro_f1_by_group_{s}px"] = {g: round(v, 4) for g, v in rep["macro_f1_by_group"].items()}
            c = ceiling_study.ceiling(judge, starts, truth, moved, ceiling_study.route(str(low_size)))
            row["ceiling"], row["ceiling_lowest"] = c["ceiling"], c["lowest"]
            row["ceiling_by_tag"], row["ceiling_accuracy_on_starts"] = c["ceiling_by_tag"], c["accuracy_on_starts"]
            if args.dcgan:
                row["dcgan_val"] = score(Path(args.dcgan), "dcgan", params, judge, Guide())
            row["seconds"] = round(time.perf_counter() - t0, 1)
            doc["judges"][f"{name}@{cal}"] = row
            print(f"judge {name}, thresholds at {cal} px: val macro-F1 {low_size} px {row[f'val_macro_f1_{low_size}px']}, "
                  f"{tp.size} px {row[f'val_macro_f1_{tp.size}px']}, ceiling {row['ceiling']}"
                  + (f", dcgan val {row['dcgan_val']['val_control_success']}" if args.dcgan else ""), flush=True)  # fmt: skip
    doc["groups"] = list(GROUPS)
    path = ROOT / args.out if args.out else result_path("judge-size", args.profile)
    if args.only and path.exists():  # a run of some judges keeps the others' rows of the result file
        doc["judges"] = {**json.loads(path.read_text())["judges"], **doc["judges"]}
    write_result(doc, "judge-size", args.profile, args.out)


if __name__ == "__main__":
    main()
