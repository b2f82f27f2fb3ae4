"""Stage `tagger`: train the attribute classifiers, calibrate per-tag thresholds, auto-tag every image
(models/tagger/family.py).

    python -m stages.tagger      # data/tagger/, metrics/tagger.json, MLflow experiment `tagger`, model `anime-tagger`
    python -m stages.tagger --pin 3 --why "..."    # tag with registered version 3 instead of training (tagger.pin.json)
    python -m stages.tagger --unpin --why "..."    # train again

Three models on the ingest split, each an MLflow run in experiment `tagger` and a version of `anime-tagger`: `cnn`
(the TaggerNet; a store's first one becomes the extractor, pinned by the `extractor` stage), `baseline` (HOG +
colour + logistic regression) and `judge` (the CNN with another seed: the independent judge of the attribute-slider
test). Labels come from `data/label/tags.csv` (the `label` stage); thresholds are calibrated on validation; the
better of cnn and baseline on validation macro-F1 is alias `challenger` and writes `tags_auto.csv`. With a pinned
tagger (tagger.pin.json, models/tagger/pinned.py: for collections with no tags to train on) nothing is trained: the
pinned version auto-tags every image.

metrics/tagger.json = {tagger: {cnn: {...}, judge: {...}, hog_baseline: {...}, floor: {...}, chosen, chosen_version,
data: {...}}}
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import run_main
from core.params import Params, load_params
from models.tagger import family, pinned
from models.tagger.net import MODEL

INGEST = Path("data/ingest")  # the ingest stage's output (stages/ingest.OUT)
LABELS = Path("data/label/tags.csv")  # the label stage's (stages/label.OUT)
PIN = pinned.PIN  # committed: the registered tagger that tags instead of a trained one, or none

OUT = Path("data/tagger")
METRICS = Path("metrics/tagger.json")


def run(params: Params, data_dir: Path, out: Path, labels: Path | None = LABELS, pin: Path | None = PIN) -> dict:
    """Train, choose and auto-tag. `labels`: the label stage's tags.csv (None: the manifest's own tags); `pin`: the
    tagger pin file (None: never pinned)."""
    return family.stage(params, {"data": data_dir, "labels": labels, "pin": pin}, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--labels", default=str(LABELS), help="tags.csv of the label stage ('' : the manifest's tags)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    ap.add_argument("--pin-file", default=str(PIN))
    move = ap.add_mutually_exclusive_group()
    move.add_argument("--pin", metavar="VERSION", help="tag with this registered version (or alias) from now on")
    move.add_argument("--unpin", action="store_true", help="train a tagger again from now on")
    ap.add_argument("--why", default="", help="with --pin / --unpin: why (recorded in the pin)")
    args = ap.parse_args()
    if args.pin or args.unpin:
        pin = pinned.set_pin(args.pin, args.why, Path(args.pin_file))
        print(f"tagger: {'pinned to ' + MODEL + ' v' + pin['version'] if pin['version'] else 'unpinned'} "
              f"({args.pin_file}; the next dvc repro re-runs the tagger stage and what follows)")  # fmt: skip
        return
    params = load_params(args.params)
    labels = Path(args.labels) if args.labels else None
    metrics = run(params, Path(args.data), Path(args.out), labels, Path(args.pin_file))
    write_json(args.metrics, {"tagger": metrics})
    print(f"tagger: {family.summary(metrics)}")


if __name__ == "__main__":
    run_main(main, "tagger")
