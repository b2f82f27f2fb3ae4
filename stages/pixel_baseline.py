"""Stage `pixel_baseline`: macro-F1 of a linear model on raw pixels over the held-out test split.

    python -m stages.pixel_baseline     # metrics/pixel_baseline.json, and an MLflow run in experiment `tagger`

The measure that the data set is not trivial (the generated set must stay below 0.85). Each group's C is chosen on
validation; metrics/pixel_baseline.json = {pixel_baseline: {pixel_linear: {macro_f1, val_macro_f1, ...}}}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import write_json
from core.errors import BadInput, run_main
from core.params import load_params
from dataset.shards import ImageShards
from models.tagger.pixel_baseline import fit_predict, macro_f1_by_group

INGEST = Path("data/ingest")  # the ingest stage's output (stages/ingest.OUT)

METRICS = Path("metrics/pixel_baseline.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    p = params.pixel_baseline
    tracking.preflight()
    try:
        train, val, test = (ImageShards(args.data, p.size, split) for split in ("train", "val", "test"))
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    if len(train) < 2 or len(test) < 1:
        raise BadInput(f"{args.data}: {len(train)} train and {len(test)} test images; expected at least 2 and 1")
    x_train, y_train = train.arrays()
    if len(x_train) > p.max_train:
        pick = np.sort(np.random.default_rng(params.seed).choice(len(x_train), p.max_train, replace=False))
        x_train, y_train = x_train[pick], y_train[pick]
    x_val, y_val = val.arrays()
    x_test, y_test = test.arrays()
    with tracking.start_run(
        "tagger", params, "pixel_baseline", ["pixel_baseline"], [args.data], run_name="pixel-baseline"
    ):
        t0 = time.perf_counter()
        pred, pred_val, chosen, grid = fit_predict(
            x_train, y_train, x_val, y_val, x_test, p.C, p.max_iter, params.seed, p.widen
        )
        per_group = macro_f1_by_group(y_test, pred)
        per_group_val = macro_f1_by_group(y_val, pred_val)
        model = {
            # None where no group has a label (an untagged source before any annotation)
            "macro_f1": round(float(np.mean(list(per_group.values()))), 4) if per_group else None,
            "val_macro_f1": round(float(np.mean(list(per_group_val.values()))), 4) if per_group_val else None,
            "macro_f1_by_group": {k: round(v, 4) for k, v in per_group.items()},
            "val_macro_f1_by_group": {k: round(v, 4) for k, v in per_group_val.items()},
            "C_by_group": chosen,
            "C_interior_by_group": {g: v["interior"] for g, v in grid.items()},  # else the widened grid ran out
            "C_tried_by_group": {g: v["tried"] for g, v in grid.items()},
            "train_images": len(x_train),
            "test_images": len(x_test),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        metrics = {"pixel_linear": model}
        tracking.log_metrics(model)  # the run is the model: its figures under their own names
    write_json(args.metrics, {"pixel_baseline": metrics})
    print(
        f"pixel_baseline: macro-F1 val {model['val_macro_f1']}, test {model['macro_f1']} on {len(x_test)} test "
        f"images {model['macro_f1_by_group']}"
    )


if __name__ == "__main__":
    run_main(main, "pixel_baseline")
