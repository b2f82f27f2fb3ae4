"""Stage `train`: the generator families, one DVC `foreach` item each (dvc.yaml), each its own params section.

    python -m stages.train --family dcgan                    # data/train/dcgan/, metrics/dcgan.json, docs/dcgan_samples.png
    python -m stages.train --family stylegan                 # anime-stylegan and its attribute sliders
    python -m stages.train --family sr                       # anime-sr and anime-srgan (models/sr/)
    python -m stages.train --family pose2sketch              # anime-pose2sketch (models/pose2sketch/)
    torchrun --nproc-per-node 2 -m stages.train --family dcgan   # data parallel (gloo on CPU, NCCL on GPUs)

This module only maps a family name to its module (models/<family>/family.py) and writes what it returns. The
contract a family module gives is models/family.py's `Family` protocol: `SECTION` (its params section), `INPUTS`,
`load(params, paths)` (its data, and what to record of it), `run(params, data, extractor, inputs, out, world, units)`
(train, score on validation and test against the pinned extractor, register through `units`; its figures),
`sheet(out)` (the uncurated contact sheet for the docs, from fixed seeds) and `summary(figures)` (one line); adding
one: docs/adding-a-family.md. It writes bundles to `data/train/<family>/`, figures to `metrics/<family>.json`
({<family>: {<model>: {...}, <baseline>: {...}, floor: {...}}}) and the sheet to `docs/<family>_samples.png`. A
change to one family's params section (`data/params/<section>.json`) or code re-runs that family only.

Each registered model is a unit (core/tracking.Units): when an attempt fails after registering some of them (the
tracking server went away between two sizes: exit 75, and the flow retries), the retry takes those from the
registry, bundle, figures and contact-sheet data, and trains only the rest; a finished stage marks its versions done.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from core import tracking
from core.atomic import atomic_path, write_bytes, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from core.rounding import rounded
from models.engine import distributed
from models.engine.plots import png
from models.ruler.read import load_ruler
from models.tagger.extractor import PIN, load_extractor
from serve import pyfunc

PATHS = {
    "data": Path("data/ingest"),  # stages/ingest.OUT
    "labels": Path("data/label/tags.csv"),  # stages/label.OUT
    "auto_tags": Path("data/tagger/tags_auto.csv"),  # stages/tagger.OUT
    "extra_tags": Path("data/tagger/tags_extra.csv"),  # annotators' extra groups: each image's best tag
    "extra_heads": Path("data/tagger/extra"),  # which extra groups have a tagger head, and their values
    "judge_tagger": Path("data/tagger/judge"),  # the tagger of another seed: perceptual losses, slider judging
    "render": Path("data/render"),  # stages/render.OUT: stick figure / sketch / projection pairs
    "posenet": Path("data/pose"),  # stages/pose.OUT: posenet and its retrieval index
}
# per family (dvc.yaml's train item ${key}): its bundles, its figures, its contact sheet
OUT = "data/train/{family}"
METRICS = "metrics/{family}.json"
SHEET = "docs/{family}_samples.png"
FAMILIES = {
    "dcgan": "models.dcgan.family",
    "stylegan": "models.stylegan.family",
    "sr": "models.sr.family",
    "pose2sketch": "models.pose2sketch.family",
}


RULER = Path("data/ruler")  # stages/ruler.OUT: the second ruler, read beside the extractor


def run(params: Params, name: str, paths: dict[str, Path], out: Path, pin: str, ruler: Path = RULER) -> dict | None:
    """Train family `name`; returns its figures (rank 0; None on the other ranks of a torchrun). Every feature
    figure is read in the pinned extractor's space and in `ruler`'s (`fd_ssl`, ...)."""
    family = importlib.import_module(FAMILIES[name])
    world = distributed.init()
    if world.main:
        tracking.preflight()
    data, record = family.load(params, paths)
    inputs = [str(paths[k]) for k in family.INPUTS]  # its lineage in MLflow, and its checkpoints' key
    extractor = None
    if world.main:
        try:
            extractor = load_extractor(pin)
            extractor.ruler = load_ruler(ruler)
        except FileNotFoundError as err:
            raise BadInput(str(err)) from None
    if not world.main:
        family.run(params, data, extractor, inputs, out, world, None)
        distributed.finish(world)
        return None
    units = tracking.Units(params, f"train@{name}", inputs, pyfunc.log_model)  # each version also a pyfunc
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        figures = family.run(params, data, extractor, inputs, tmp, world, units)
        sheet = family.sheet(tmp)
    write_bytes(Path(SHEET.format(family=name)), png(sheet))
    distributed.finish(world)
    units.complete()
    figures["extractor_version"] = extractor.version
    figures["ruler_version"] = extractor.ruler.version
    figures["data"] = record
    return rounded(figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", required=True, choices=sorted(FAMILIES))
    ap.add_argument("--params", default="params.yaml")
    for key, default in PATHS.items():
        ap.add_argument(f"--{key.replace('_', '-')}", default=str(default))
    ap.add_argument("--pin", default=PIN, help="the pinned extractor (the extractor stage's pin.json)")
    ap.add_argument("--ruler", default=str(RULER), help="the second ruler (the ruler stage's output)")
    ap.add_argument("--out", help="default: data/train/<family>")
    ap.add_argument("--metrics", help="default: metrics/<family>.json")
    args = ap.parse_args()
    params = load_params(args.params)
    out = Path(args.out or OUT.format(family=args.family))
    paths = {key: Path(getattr(args, key)) for key in PATHS}
    figures = run(params, args.family, paths, out, args.pin, Path(args.ruler))
    if figures is None:
        return
    write_json(args.metrics or METRICS.format(family=args.family), {args.family: figures})
    print(f"train {args.family}: {importlib.import_module(FAMILIES[args.family]).summary(figures)}")


if __name__ == "__main__":
    run_main(main, "train")
