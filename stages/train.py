"""Stage `train`: the generator families, one DVC `foreach` item each (dvc.yaml), each its own params section.

    python -m stages.train --family dcgan                    # data/train/dcgan/, metrics/dcgan.json, docs/dcgan_samples.png
    torchrun --nproc-per-node 2 -m stages.train --family dcgan   # data parallel (gloo on CPU, NCCL on GPUs)

This module only maps a family name to its training function (models/<family>/family.py) and writes its outputs.
Every family reads the ingest shards, the `label` stage's tags with the tagger's auto-tags as fallback conditions,
and the pinned extractor that scores it; it writes its bundles to `data/train/<family>/`, its figures to
`metrics/<family>.json` ({<family>: {<model>: {...}, <baseline>: {...}, floor: {...}}}) and an uncurated sample
grid from fixed seeds to `docs/<family>_samples.png` for the README. A change to one family's params section
(`data/params/<family>.json`) re-runs that family only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_bytes, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from dataset.shards import ImageShards
from models.engine import distributed
from models.gan import evaluate
from models.gan import family as dcgan_family
from models.gan.conditions import conditions, read_auto_tags
from models.tagger.extractor import PIN, load_reader
from models.tagger.labels import read_tags
from synth.sheet import tile

INGEST = Path("data/ingest")  # stages/ingest.OUT
LABELS = Path("data/label/tags.csv")  # stages/label.OUT
AUTO_TAGS = Path("data/tagger/tags_auto.csv")  # stages/tagger.OUT

FAMILIES = {"dcgan": dcgan_family.run}


def _round(d):
    if isinstance(d, dict):
        return {k: _round(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


def load_data(params: Params, sizes: list[int], data_dir: Path, labels: Path, auto_tags: Path) -> tuple[dict, dict]:
    """({size: {split: SplitData}}, counts of conditions by origin)."""
    try:
        tags, auto = read_tags(labels), read_auto_tags(auto_tags)
        out: dict[int, dict] = {}
        counts: dict[str, int] = {}
        for size in sizes:
            out[size] = {}
            for split in ("train", "val", "test"):
                shards = ImageShards(data_dir, size, split)
                y, c = conditions(shards.ids, tags, auto)
                out[size][split] = dcgan_family.SplitData(shards.arrays()[0], y)
                if size == sizes[0]:
                    counts.update({f"{split}_{k}": v for k, v in c.items()})
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    for split, d in out[sizes[0]].items():
        if len(d.images) < 8:  # k-nearest-neighbour precision/recall (k = 3) and the NDB bins need a few
            raise BadInput(f"{data_dir}: the {split} split has {len(d.images)} images; a generator needs at least 8")
    return out, counts


def grid_png(samples: np.ndarray) -> bytes:
    """An uncurated 8-column grid of uint8 [N, S, S, 3] as PNG bytes, enlarged 2x for the README."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(tile(samples, cols=8, zoom=2), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def run(params: Params, name: str, data_dir: Path, labels: Path, auto_tags: Path, out: Path, pin: str) -> dict | None:
    """Train family `name`; returns its figures (rank 0; None on the other ranks of a torchrun)."""
    section = getattr(params, name)
    world = distributed.init()
    if world.main:
        tracking.preflight()
    data, counts = load_data(params, section.sizes, data_dir, labels, auto_tags)
    inputs = [str(data_dir), str(labels), str(auto_tags)]
    judge = None
    if world.main:
        try:
            net, version, thresholds = load_reader(pinned=pin)
            judge = evaluate.Judge(net, thresholds, version)
        except FileNotFoundError as err:
            raise BadInput(str(err)) from None
    if not world.main:
        FAMILIES[name](params, data, judge, inputs, out, world)
        distributed.finish(world)
        return None
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        figures = FAMILIES[name](params, data, judge, inputs, tmp, world)
        samples = np.load(tmp / f"samples-{section.sizes[0]}.npy")
    write_bytes(Path("docs") / f"{name}_samples.png", grid_png(samples))
    distributed.finish(world)
    figures["extractor_version"] = judge.version
    figures["data"] = {"train_images": len(data[section.sizes[0]]["train"].images), "conditions_by_origin": counts}
    return _round(figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", required=True, choices=sorted(FAMILIES))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--labels", default=str(LABELS))
    ap.add_argument("--auto-tags", default=str(AUTO_TAGS))
    ap.add_argument("--pin", default=PIN, help="the pinned extractor (the extractor stage's pin.json)")
    ap.add_argument("--out", help="default: data/train/<family>")
    ap.add_argument("--metrics", help="default: metrics/<family>.json")
    args = ap.parse_args()
    params = load_params(args.params)
    out = Path(args.out or f"data/train/{args.family}")
    figures = run(params, args.family, Path(args.data), Path(args.labels), Path(args.auto_tags), out, args.pin)
    if figures is None:
        return
    write_json(args.metrics or f"metrics/{args.family}.json", {args.family: figures})
    head = figures[args.family]
    print(
        f"train {args.family}: test fd_tagger {head['fd_tagger']} (pca_gaussian {figures['pca_gaussian']['fd_tagger']},"
        f" floor {figures['floor']['fd_tagger']}), precision {head['precision']}, recall {head['recall']}, "
        f"tag_tv {head['tag_tv']}, cond_accuracy {head['cond_accuracy']}; version {head['version']}"
    )


if __name__ == "__main__":
    run_main(main, "train")
