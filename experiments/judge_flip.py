"""Should the slider test's judge read each image with its mirror? Compared on validation.

    .venv/bin/python -m experiments.judge_flip                # after `make pipeline`
    .venv/bin/python -m experiments.judge_flip --data <clone>/data --dcgan <clone>/data/train/dcgan/dcgan-32 \
        --stylegan <clone>/data/train/stylegan/stylegan-32
    -> experiments/results/judge-flip-<profile>-<machine kind>.json

Every attribute the judge reads is left-right symmetric and the tagger CNN learns with flips, so the mean of its
probabilities for an image and for its mirror is a reading of the same drawing with less of the noise of one view.
`control_success` asks the judge to read five unmoved groups as before a move (docs/artist.md), which a noisy read
fails even where the drawing kept them: a steadier read should lift the renderer's perfect sliders (the ceiling,
experiments/slider_ceiling.py) and a generator's sliders alike. Here the pipeline's own judge (data/tagger/judge,
no retraining) is read each way of experiments/judge_flip.yaml, its thresholds calibrated on validation with that
read, and scored on what the judge is for, none of it a test split:

- macro-F1 per group on the real validation images at 32 px and at 64 px;
- the slider ceiling on each route (the renderer's one-attribute changes);
- with `--dcgan` / `--stylegan`, those bundles' sliders on the train stage's validation latents (seed + 11).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from core.names import GROUPS
from core.params import load_params
from experiments import ROOT, write_result
from experiments import slider_ceiling as ceiling_study
from experiments.guided_sliders import Guide, score
from experiments.judge_size import split
from models.tagger import evaluate
from models.tagger.extractor import Tagger, load_judge
from models.tagger.labels import read_tags
from models.tagger.net import predict_proba

SETTINGS = ROOT / "experiments" / "judge_flip.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=str(ROOT / "data"), help="the pipeline's outputs (ingest/, label/, tagger/judge)")
    ap.add_argument("--dcgan", help="a DCGAN bundle whose sliders to score on validation under each read")
    ap.add_argument("--stylegan", help="a StyleGAN bundle, likewise")
    ap.add_argument("--n", type=int, help="characters of the ceiling (default: experiments/slider_ceiling.yaml's)")
    ap.add_argument("--out", help="result file (default: experiments/results/judge-flip-<profile>-<machine>.json)")
    args = ap.parse_args()
    settings = yaml.safe_load(SETTINGS.read_text())
    params = load_params(ROOT / "params.yaml", args.profile)
    data, low, cal = Path(args.data), int(settings["low_size"]), int(settings["calibrate"])
    judge = load_judge(data / "tagger" / "judge")
    if judge.flip:
        raise SystemExit(f"{data / 'tagger/judge'} already reads with its mirror; this study starts from a plain one")
    tags = read_tags(data / "label" / "tags.csv")
    val = {s: split(data, tags, s, "val", False) for s in sorted({low, cal, params.tagger.size})}
    ceiling = yaml.safe_load((ROOT / "experiments/slider_ceiling.yaml").read_text())
    starts, truth, moved = ceiling_study.pairs(params, args.n or ceiling["n"], ceiling["seed"])
    bundles = {f: Path(b) for f, b in (("dcgan", args.dcgan), ("stylegan", args.stylegan)) if b}
    doc = {
        "what": "the pipeline's judge read plainly or with each image's mirror: validation macro-F1, the slider "
        "ceiling, and generators' validation sliders",
        "profile": args.profile,
        "calibrated_at": cal,
        "bundles": {f: str(b) for f, b in bundles.items()},
        "reads": {},
    }
    for name, spec in settings["reads"].items():
        t0 = time.perf_counter()
        flip = bool(spec["flip"])
        probs = {s: predict_proba(judge.net, xs, flip=flip) for s, (xs, _) in val.items()}
        thresholds = evaluate.calibrate(probs[cal], val[cal][1])
        reader = Tagger(judge.net, thresholds, f"judge-{name}", judge.extra, flip=flip)
        row: dict = {"spec": spec, "thresholds_as_stage": thresholds == judge.thresholds}
        for s, (_, ys) in val.items():
            rep = evaluate.report(probs[s], ys, thresholds)
            row[f"val_macro_f1_{s}px"] = round(rep["macro_f1"], 4)
            row[f"val_macro_f1_by_group_{s}px"] = {g: round(v, 4) for g, v in rep["macro_f1_by_group"].items()}
        for route in settings["routes"]:
            c = ceiling_study.ceiling(reader, starts, truth, moved, ceiling_study.route(route))
            row[f"ceiling_{route}"] = {k: c[k] for k in ("ceiling", "lowest", "ceiling_by_tag", "accuracy_on_starts")}
        for family, folder in bundles.items():
            row[f"{family}_val"] = score(folder, family, params, reader, Guide())
        row["seconds"] = round(time.perf_counter() - t0, 1)
        doc["reads"][name] = row
        print(f"read {name}: val macro-F1 {low} px {row[f'val_macro_f1_{low}px']}, {cal} px {row[f'val_macro_f1_{cal}px']}"
              + "".join(f", ceiling {r} {row[f'ceiling_{r}']['ceiling']}" for r in settings["routes"])
              + "".join(f", {f} val {row[f'{f}_val']['val_control_success']}" for f in bundles), flush=True)  # fmt: skip
    doc["groups"] = list(GROUPS)
    write_result(doc, "judge-flip", args.profile, args.out)


if __name__ == "__main__":
    main()
