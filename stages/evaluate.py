"""Stage `evaluate`: score this run's candidates beside the registry's champions, choose, promote, report.

    python -m stages.evaluate      # data/evaluate/ (comparison.json/.md, plots/), metrics/evaluate.json

For every registered model (anime-tagger, anime-posenet, anime-dcgan, anime-stylegan, anime-sr, anime-srgan,
anime-pose2sketch): the version this `dvc repro` trained (read from its stage's metrics file) and the version holding
`champion` are downloaded from the registry and scored by the same scorer (models/evaluate/scorers.py) on the same
validation and test data, sample count, seed and pinned extractor. models/evaluate/policy.py chooses on validation
(one primary metric per model, tie-breaks in order; never a worse model); models/promote.py moves `champion` to the
winner and `challenger` to the runner-up, recording who (`stage evaluate`) and why on the version.

The generator served by default is the better champion of anime-dcgan and anime-stylegan by validation fd_tagger
when both are at the same size (`serving.generator` in comparison.json). Its characters go through the anime-sr
champion as the page shows them (`sr_on_generated`: the extractor's agreement per group between the native and the
upscaled image, and docs/sr_on_generated.png).

In MLflow, each model gets an `evaluate` run in its family's experiment: the candidate's figures under the training
runs' names (`val_fd_tagger`, `fd_tagger`, ...), the champion's under `champion/...`, the decision as tags, and
`versions.md`, the table of every registered version's recorded figures (the registry's history is not a DVC
input, so it lives there, not in the DVC metrics). The DVC metrics (metrics/evaluate.json) describe this run.

This module names the inputs and outputs and writes; models/evaluate/ computes: compare.py (score, decide, promote;
the served generator), upscaled.py (sr_on_generated), plots.py (the `dvc plots` files), report.py (comparison.md,
the DVC metrics, the MLflow runs).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from core import tracking
from core.atomic import atomic_path, write_bytes, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from core.rounding import rounded
from models.engine.plots import png
from models.evaluate import scorers
from models.evaluate.compare import candidate_version, evaluate_model, serving_generator
from models.evaluate.plots import write_plots
from models.evaluate.report import comparison_markdown, dvc_metrics, log_to_mlflow
from models.evaluate.upscaled import sr_on_generated
from models.ruler.read import load_ruler
from models.tagger.extractor import PIN, load_extractor
from stages.train import PATHS, RULER

OUT = Path("data/evaluate")
METRICS = Path("metrics/evaluate.json")
SR_SHEET = Path("docs/sr_on_generated.png")  # the served generator's characters, native / bicubic / anime-sr
# model -> (its stage's metrics file, the keys to this run's version in it, MLflow experiment)
CANDIDATES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "anime-tagger": ("metrics/tagger.json", ("tagger", "chosen_version"), "tagger"),
    "anime-posenet": ("metrics/pose.json", ("pose", "posenet", "version"), "posenet"),
    "anime-dcgan": ("metrics/dcgan.json", ("dcgan", "dcgan", "version"), "dcgan"),
    "anime-stylegan": ("metrics/stylegan.json", ("stylegan", "stylegan", "version"), "stylegan"),
    "anime-sr": ("metrics/sr.json", ("sr", "sr", "version"), "sr"),
    "anime-srgan": ("metrics/sr.json", ("sr", "srgan", "version"), "sr"),
    "anime-pose2sketch": ("metrics/pose2sketch.json", ("pose2sketch", "pose2sketch", "version"), "pose2sketch"),
}


def run(params: Params, out: Path, models: list[str] | None = None, pin: str = PIN, ruler: Path = RULER) -> dict:
    tracking.preflight()
    try:
        extractor = load_extractor(pin)
        extractor.ruler = load_ruler(ruler)  # every feature figure read a second time (fd_ssl, ...)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    ctx = scorers.Context(params, PATHS, extractor)
    inputs = [str(PATHS[k]) for k in ("data", "labels", "render", "posenet")]
    records: dict = {}
    with tempfile.TemporaryDirectory() as td, atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for model in models or list(CANDIDATES):
            r = evaluate_model(model, candidate_version(*CANDIDATES[model][:2]), ctx, Path(td))
            if r is None:
                print(f"evaluate: {model}: no candidate (its stage has not run); skipped")
                continue
            records[model] = r
        for model, r in records.items():  # after every choice: the tables show the aliases as they now are
            log_to_mlflow(params, model, CANDIDATES[model][2], r, inputs)
        serving = serving_generator(records)
        upscaled, sheet = sr_on_generated(records, serving, ctx)
        write_plots(records, tmp / "plots", ctx)  # reads the candidates' downloaded bundles (the PR curve)
        for r in records.values():
            for who in ("candidate", "champion_before"):
                if r[who]:
                    r[who].pop("folder", None)  # a temporary download
        doc = rounded(
            {
                "models": records,
                "serving": serving,
                "sr_on_generated": upscaled,
                "extractor_version": extractor.version,
                "ruler_version": extractor.ruler.version,
                "profile": params.profile,
            }
        )
        write_json(tmp / "comparison.json", doc)
        (tmp / "comparison.md").write_text(comparison_markdown(records, serving))
    if sheet is not None:
        write_bytes(SR_SHEET, png(sheet))
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    ap.add_argument("--model", action="append", choices=list(CANDIDATES), help="only these (repeatable)")
    args = ap.parse_args()
    doc = run(load_params(args.params), Path(args.out), args.model)
    write_json(args.metrics, dvc_metrics(doc))
    for model, r in doc["models"].items():
        print(
            f"evaluate: {model}: candidate v{r['candidate']['version']}, champion v{r['champion']} ({r['decision']}: {r['reason']})"
        )
    print(f"evaluate: served generator {doc['serving']['generator']} ({doc['serving']['why']})")


if __name__ == "__main__":
    run_main(main, "evaluate")
