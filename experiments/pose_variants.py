"""The posenet variant table, reproducible: each variant of experiments/pose_variants.yaml trained and scored on
validation.

    .venv/bin/python -m experiments.pose_variants        # every variant, the active profile, the pipeline's seed
    .venv/bin/python -m experiments.pose_variants --only chosen joints_only

A variant is a set of overrides of params.yaml's `pose` section; each is validated like params.yaml, trained exactly
as the pose stage trains (experiments/seeds.py `trained_posenet`: the one training loop, kept under .cache/bench/ so
a re-run re-scores without retraining) and scored on validation alone, as models/pose/evaluate.py scores it. Only
validation figures are computed and written, to `experiments/results/pose-variants-<profile>-<machine kind>.json`:
the table chooses settings, so the test split is never read (tests/experiments/test_pose_variants.py runs the study
with a pose set that refuses it). About 8 minutes per variant on 2 cores for the `cpu` profile (the `chosen` one is
free after `python -m experiments.seeds --only pose`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from core.atomic import write_json
from core.errors import BadInput
from core.params import Params, ParamsError, load_params
from experiments import ROOT, result_path

VARIANTS = ROOT / "experiments" / "pose_variants.yaml"
VALIDATION = ("val_pck_0_05", "val_pck_0_05_by_kind", "val_retrieval_top1", "val_retrieval_candidates")  # posenet's


def with_overrides(params: Params, name: str, overrides: dict) -> Params:
    """params with `pose` overridden, validated like params.yaml (an unknown key or a bad value is exit 2)."""
    if not isinstance(overrides, dict):
        raise ParamsError(f"{VARIANTS.name}: {name}: expected a mapping of pose keys to values")
    from pydantic import ValidationError

    try:
        pose = type(params.pose).model_validate({**params.pose.model_dump(), **overrides})
    except ValidationError as err:
        raise ParamsError(f"{VARIANTS.name}: {name}: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None
    return params.model_copy(update={"pose": pose})


def score(params: Params, seed: int, render_dir: Path) -> dict:
    """Validation figures of posenet (retrieval re-ranked by `pose.retrieval`) and of the joints-only retrieval, for
    one variant, computed as the pose stage's scorer (models/pose/evaluate.py) computes them but from the validation
    split alone: the test split is never read (the scorer itself computes test beside validation, so it is not
    called here)."""
    import numpy as np

    from core.names import POSE_KINDS
    from experiments.seeds import trained_posenet
    from models.metrics.pck import pck
    from models.pose.evaluate import QUERY_SALT, replaced_sticks
    from models.pose.net import embed_images, predict
    from models.pose.retrieval import RetrievalIndex, embed_joints, retrieval_top1
    from synth.pose.poseset import PoseSet

    ps = PoseSet(render_dir)
    net, epochs_done, seconds = trained_posenet(params, seed, render_dir)
    val = {k: ps.split("val", k) for k in POSE_KINDS}
    preds = {k: predict(net, x) for k, (x, _) in val.items()}
    found = {k: pck(preds[k], val[k][1], ps.size) for k in POSE_KINDS}
    ids = [ps.meta[i]["id"] for i in ps.rows("val")]
    # the validation queries: its stick figures drawn anew at another pose's size and place (the scorer's stream)
    queries = replaced_sticks(val["stick"][1], ps.size, seed, QUERY_SALT["val"])[1]

    def top1(index: np.ndarray, query: np.ndarray, **how) -> float:  # query i's own candidate is row i
        return round(float(retrieval_top1(RetrievalIndex(index, ids), query, np.arange(len(query)), **how)), 4)

    r = params.pose.retrieval  # the reference the index returns, as the pose stage scores it
    known = val["projection"][1] if r.joints == "rendered" else preds["projection"]
    how = {"query_joints": predict(net, queries), "index_joints": known, "k": r.k, "weight": r.weight}
    return {
        "posenet": {  # the keys of VALIDATION
            "val_pck_0_05": round(float(np.mean([found[k] for k in POSE_KINDS])), 4),
            "val_retrieval_top1": top1(embed_images(net, val["projection"][0]), embed_images(net, queries), **how),
            "val_pck_0_05_by_kind": {k: round(float(v), 4) for k, v in found.items()},
            "val_retrieval_candidates": len(ids),
        },
        "joints_embedding": {
            "val_retrieval_top1": top1(embed_joints(preds["projection"]), embed_joints(predict(net, queries)))
        },
        "epochs_done": epochs_done,
        "train_seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="default: the profile of params.yaml")
    ap.add_argument("--variants", default=str(VARIANTS))
    ap.add_argument("--only", nargs="+", help="variant names (default: all)")
    ap.add_argument("--render", default="data/render")
    ap.add_argument("--out", help="default: experiments/results/pose-variants-<profile>-<machine kind>.json")
    args = ap.parse_args()
    params = load_params(args.params, args.profile)
    try:
        variants = yaml.safe_load(Path(args.variants).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"{args.variants}: {err}") from None
    unknown = set(args.only or []) - set(variants)
    if unknown:
        raise BadInput(f"{args.variants}: no variant {', '.join(sorted(unknown))}; there are {', '.join(variants)}")
    chosen = {n: with_overrides(params, n, o or {}) for n, o in variants.items() if not args.only or n in args.only}
    out = Path(args.out) if args.out else result_path("pose-variants", params.profile)
    doc = {"profile": params.profile, "seed": params.seed, "split": "val", "variants": {}}
    if out.exists():  # --only re-scores some variants and keeps the others
        old = json.loads(out.read_text())
        if (old.get("profile"), old.get("seed")) == (params.profile, params.seed):
            doc["variants"] = {n: v for n, v in old.get("variants", {}).items() if n in variants}
    for name, p in chosen.items():
        t0 = time.perf_counter()
        doc["variants"][name] = {"overrides": variants[name] or {}, **score(p, params.seed, Path(args.render))}
        print(f"pose-variants: {name}: {doc['variants'][name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        write_json(out, doc)
    print(f"pose-variants: wrote {out}")


if __name__ == "__main__":
    from core.errors import run_main

    run_main(main, "pose-variants")
