"""Stage `tagger`: train the attribute classifiers, calibrate per-tag thresholds, auto-tag every image
(models/tagger/family.py).

    python -m stages.tagger      # data/tagger/, metrics/tagger.json, MLflow experiment `tagger`, model `anime-tagger`

Three models on the ingest split, each an MLflow run in experiment `tagger` and a version of `anime-tagger`: `cnn`
(the TaggerNet; a store's first one becomes the extractor, pinned by the `extractor` stage), `baseline` (HOG +
colour + logistic regression) and `judge` (the CNN with another seed: the independent judge of the attribute-slider
test). Labels come from `data/label/tags.csv` (the `label` stage); thresholds are calibrated on validation; the
better of cnn and baseline on validation macro-F1 is alias `challenger` and writes `tags_auto.csv`.

metrics/tagger.json = {tagger: {cnn: {...}, judge: {...}, hog_baseline: {...}, floor: {...}, chosen, chosen_version,
data: {...}}}
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import run_main
from core.params import Params, load_params
from models.tagger import family

INGEST = Path("data/ingest")  # the ingest stage's output (stages/ingest.OUT)
LABELS = Path("data/label/tags.csv")  # the label stage's (stages/label.OUT)

OUT = Path("data/tagger")
METRICS = Path("metrics/tagger.json")


def run(params: Params, data_dir: Path, out: Path, labels: Path | None = LABELS) -> dict:
    """Train, choose and auto-tag. `labels`: the label stage's tags.csv (None: the manifest's own tags)."""
    return family.stage(params, {"data": data_dir, "labels": labels}, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(INGEST))
    ap.add_argument("--labels", default=str(LABELS), help="tags.csv of the label stage ('' : the manifest's tags)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = run(params, Path(args.data), Path(args.out), Path(args.labels) if args.labels else None)
    write_json(args.metrics, {"tagger": metrics})
    print(f"tagger: {family.summary(metrics)}")


if __name__ == "__main__":
    run_main(main, "tagger")
