"""How D's reader should learn (params.yaml `dcgan.reader`): the reader alone, trained as it is in D's step, on the
validation split only.

    .venv/bin/python -m experiments.reader_recipe          # every recipe, ~4 min each here
    .venv/bin/python -m experiments.reader_recipe --only plain,tagger

The recipes are experiments/reader_recipe.yaml's; the results go to
experiments/results/dcgan-reader-recipe-cpu-<machine kind>.json.

The reader (models/dcgan/net.py: a `TaggerNet` of `dcgan.reader.width` at the DCGAN's first size, no dropout) is trained
on the committed `data/ingest` training shard with the rows' own tags, batch `dcgan.batch`, Adam(W) at
`dcgan.reader.lr` with betas (0.9, 0.999), for `dcgan.steps` steps (what it gets in one DCGAN training), and its
accuracy per attribute group is read on the validation images every 2,000 steps. Each recipe differs only in how it
learns: flips, a random shift, weight decay, label smoothing, class weights, dropout. G follows what the reader
reads, so a reader that memorises the training images (high accuracy on them, chance on validation) guides G
towards cues that do not generalise, and the tagger that scores G does not see them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from dataset.shards import ImageShards
from experiments import ROOT, result_path
from models.dcgan.task import ReaderRecipe, reader_view
from models.tagger.net import TaggerNet

RECIPES_FILE = ROOT / "experiments" / "reader_recipe.yaml"


def load_recipes(path: Path = RECIPES_FILE) -> dict[str, dict]:
    """{recipe name: keyword arguments of `train_reader`}, from the study's settings file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["recipes"]


RECIPES = load_recipes()


def train_reader(
    x: np.ndarray,
    y: np.ndarray,
    vx: np.ndarray,
    vy: np.ndarray,
    width: int,
    lr: float,
    batch: int,
    steps: int,
    seed: int,
    flip: bool = False,
    shift: int = 0,
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    dropout: float = 0.0,
    class_weights: bool = False,
    group_weights: dict[str, float] | None = None,
) -> dict[int, dict[str, float]]:
    """{step: {group: validation accuracy}} every 2,000 steps (and at the last)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    view = ReaderRecipe(1.0, flip, shift)
    images = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(y.astype(np.int64))
    val = torch.from_numpy(vx.transpose(0, 3, 1, 2).copy()).float() / 255
    net = TaggerNet(width, x.shape[1], dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)
    weights = {}
    for k, g in enumerate(GROUPS):
        counts = np.bincount(y[:, k][y[:, k] >= 0], minlength=len(ATTRIBUTES[g])).astype(float)
        balanced = counts.sum() / (len(counts) * np.maximum(counts, 1))
        weights[g] = torch.tensor(balanced, dtype=torch.float32) if class_weights else None
    log = {}
    for step in range(1, steps + 1):
        idx = torch.randint(len(images), (batch,), generator=gen)
        xb = reader_view(images[idx].float() / 255, view, gen, slice(None), batch)  # D's step's own augmentation
        out, yb = net(xb), labels[idx]
        loss = sum(
            (group_weights or {}).get(g, 1.0)
            * F.cross_entropy(out[g], yb[:, k], weight=weights[g], ignore_index=-1, label_smoothing=label_smoothing)
            for k, g in enumerate(GROUPS)
        ) / len(GROUPS)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 2000 == 0 or step == steps:
            net.eval()
            with torch.no_grad():
                o = net(val)
            net.train()
            known = {g: vy[:, k] >= 0 for k, g in enumerate(GROUPS)}
            log[step] = {
                g: round(float((o[g].argmax(1).numpy() == vy[:, k])[known[g]].mean()), 3) for k, g in enumerate(GROUPS)
            }
    return log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default=str(RECIPES_FILE), help="default: experiments/reader_recipe.yaml")
    ap.add_argument("--only", help="comma-separated recipe names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=str(ROOT / "data" / "ingest"))
    ap.add_argument("--out", help="default: experiments/results/dcgan-reader-recipe-cpu-<machine kind>.json")
    args = ap.parse_args()
    recipes = load_recipes(Path(args.recipes))
    out = Path(args.out) if args.out else result_path("dcgan-reader-recipe", "cpu")
    torch.set_num_threads(2)
    p = load_params(ROOT / "params.yaml", "cpu").dcgan
    x, y = ImageShards(args.data, p.sizes[0], "train").arrays()
    vx, vy = ImageShards(args.data, p.sizes[0], "val").arrays()
    names = args.only.split(",") if args.only else list(recipes)
    results = {}
    for name in names:
        t0 = time.perf_counter()
        log = train_reader(x, y, vx, vy, p.reader.width, p.reader.lr, p.batch, p.steps, args.seed, **recipes[name])
        last = log[max(log)]
        results[name] = {
            "recipe": recipes[name],
            "val_accuracy_by_step": log,
            "val_accuracy": last,
            "val_mean": round(float(np.mean(list(last.values()))), 3),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(name, json.dumps(results[name]["val_accuracy"]), "mean", results[name]["val_mean"], flush=True)
        doc = {"split": "val", "width": p.reader.width, "steps": p.steps, "batch": p.batch, "recipes": results}
        out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
