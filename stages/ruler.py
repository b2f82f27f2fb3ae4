"""Stage `ruler`: train the second ruler, a self-supervised encoder (models/ruler/), on the ingest's training split.

    python -m stages.ruler      # data/ruler/ (bundle + ruler.json), metrics/ruler.json, MLflow experiment `ruler`

Every generator figure read in a feature space (FD, KID, precision, recall) is read twice: in the pinned tagger's
features (`fd_tagger`, ...) and in this encoder's (`fd_ssl`, ...). The encoder reads no tag and serves no training
loss, reader or judge, so a generator cannot have learnt what it attends to (models/ruler/net.py says how it differs).
It trains only when its inputs change (the training images, its code, the `ruler` params): DVC keeps it otherwise, so
figures read months apart in it stay comparable, and each records the weights' digest it was read with
(`ruler_version`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.hashing import file_digest
from core.params import Params, load_params
from models.engine.record import run_record
from models.ruler.read import RECORD
from models.ruler.train import train

DATA = Path("data/ingest")  # the ingest stage's output
OUT = Path("data/ruler")
METRICS = Path("metrics/ruler.json")


def training_images(params: Params, data: Path) -> np.ndarray:
    """The training split at the ruler's size (it must be one of the ingested sizes)."""
    from dataset.shards import ImageShards

    size = params.ruler.size
    if size not in params.ingest.sizes:
        raise BadInput(f"ruler.size {size} is not an ingested size ({params.ingest.sizes}): set one of them")
    try:
        return ImageShards(data, size, "train").arrays()[0]
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the ingest stage first (dvc repro ingest)") from None


def run(params: Params, data: Path = DATA, out: Path = OUT) -> dict:
    """Train, save the bundle with its record, log the run; returns the figures of metrics/ruler.json."""
    images = training_images(params, data)
    p = params.ruler
    inputs = [str(data)]
    name = "ruler-" + checkpoint.key(p.model_dump(), params.seed, [tracking.dvc_md5(i) for i in inputs])
    with tracking.start_run("ruler", params, "ruler", ["ruler"], inputs, "ruler"):
        res = train(images, p, params.seed, name, log=tracking.log_metrics)
        last = res.history[-1] if res.history else {}
        figures = {
            "train_images": len(images),
            "feature_dim": res.net.feature_dim,
            "loss": round(float(last.get("loss", float("nan"))), 4),
            "loss_first_epoch": round(float(res.history[0]["loss"]), 4) if res.history else None,
            "pair_found": round(float(last.get("pair_found", float("nan"))), 4),
            **run_record(res, round(res.seconds, 1), p.size),
        }
        with atomic_path(out) as tmp:
            res.net.save(tmp, {"seed": params.seed})
            figures["weights_sha256"] = file_digest(tmp / "model.safetensors")
            write_json(tmp / RECORD, {**figures, "history": res.history})
        tracking.log_metrics({k: v for k, v in figures.items() if isinstance(v, (int, float))})
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    figures = run(load_params(args.params), Path(args.data), Path(args.out))
    write_json(args.metrics, {"ruler": {"ruler": figures}})
    print(
        f"ruler: {figures['epochs_done']} epoch(s) on {figures['train_images']} images, loss {figures['loss']}, "
        f"pair found {figures['pair_found']:.1%}, {figures['train_seconds']} s"
    )


if __name__ == "__main__":
    run_main(main, "ruler")
