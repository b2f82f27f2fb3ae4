"""How posenet's retrieval returns a reference, chosen on validation: the embedding's nearest projection, or the
embedding's k nearest put in order by their joints (models/pose/retrieval.py `rerank`), for each k, weight and
source of the projections' joints in experiments/retrieval_rerank.yaml.

    .venv/bin/python -m experiments.retrieval_rerank          # the pose stage's posenet (data/pose) and pose sets

Queries are the validation stick figures drawn anew, as the pose stage's scorer draws them (`replaced_sticks`,
validation's stream); their joints are posenet's reading of the query image. The projections' joints are either
posenet's reading of each projection image (`predicted`: the index from the images alone) or the joints the render
stage projected them from (`rendered`: what a library of 3D-model projections knows of each one). Each setting is
scored twice: among the validation projections alone (as `val_retrieval_top1` is), and among as many candidates as
the test split has, the validation projections joined by training projections drawn at random as distractors (more
candidates means more near-identical poses, which is where top-1 is lost); the second chooses. Only validation
queries are asked; the test split is never read. Result: `experiments/results/retrieval-rerank-<profile>-<machine
kind>.json`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from core.atomic import write_json
from core.errors import BadInput
from core.params import load_params
from experiments import ROOT, result_path

SETTINGS = ROOT / "experiments" / "retrieval_rerank.yaml"
SOURCES = ("predicted", "rendered")


def settings(path: Path) -> dict:
    """{k: [...], weight: [...], joints: [...]} from the settings file, checked."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"{path}: {err}") from None
    ks, weights, sources = doc.get("k"), doc.get("weight"), doc.get("joints", list(SOURCES))
    if not (isinstance(ks, list) and ks and all(isinstance(k, int) and k >= 1 for k in ks)):
        raise BadInput(f"{path}: k: expected a list of whole numbers >= 1")
    if not (isinstance(weights, list) and weights and all(isinstance(w, int | float) and w >= 0 for w in weights)):
        raise BadInput(f"{path}: weight: expected a list of numbers >= 0")
    if not (isinstance(sources, list) and set(sources) <= set(SOURCES) and sources):
        raise BadInput(f"{path}: joints: expected some of {', '.join(SOURCES)}")
    return {"k": ks, "weight": [float(w) for w in weights], "joints": sources}


def study(net, ps, seed: int, grid: dict, distractors: int) -> dict:
    """Every setting's validation figures among validation's candidates (`val_*`) and among `distractors` more
    (`val_*_at_test_size`), with the baseline (the embedding's nearest, k 1) first."""
    from models.pose.evaluate import QUERY_SALT, replaced_sticks
    from models.pose.net import embed_images, predict
    from models.pose.retrieval import RetrievalIndex, retrieval_pose, retrieval_top1

    images, joints = ps.split("val", "projection")
    n = len(images)
    ids = [ps.meta[i]["id"] for i in ps.rows("val")]
    _, queries = replaced_sticks(ps.split("val", "stick")[1], ps.size, seed, QUERY_SALT["val"])
    q_emb, q_joints = embed_images(net, queries), predict(net, queries)
    t_images, t_joints = ps.split("train", "projection")
    pick = np.sort(np.random.default_rng([seed, 0x7E7]).choice(len(t_images), min(distractors, len(t_images)), False))
    t_ids = [ps.meta[i]["id"] for i in ps.rows("train")]
    sets = {  # (index, the projections' true joints, their joints per source)
        "": (
            RetrievalIndex(embed_images(net, images), ids),
            joints,
            {"rendered": joints, "predicted": predict(net, images)},
        ),
    }
    t_x = t_images[pick]
    all_joints = np.concatenate([joints, t_joints[pick]])
    sets["_at_test_size"] = (
        RetrievalIndex(
            np.concatenate([sets[""][0].embeddings, embed_images(net, t_x)]), ids + [t_ids[i] for i in pick]
        ),
        all_joints,
        {"rendered": all_joints, "predicted": np.concatenate([sets[""][2]["predicted"], predict(net, t_x)])},
    )
    truth = np.arange(n)

    def figures(**how) -> dict:
        out = {}
        for suffix, (index, pose_joints, _) in sets.items():
            how_here = {**how, "index_joints": sets[suffix][2][how["index_joints"]]} if how else {}
            out[f"val_retrieval_top1{suffix}"] = retrieval_top1(index, q_emb, truth, **how_here)
            pose = retrieval_pose(index, q_emb, pose_joints, joints, ps.size, **how_here)
            out.update({f"val_{k}{suffix}": v for k, v in pose.items()})
            out[f"val_retrieval_candidates{suffix}"] = len(index.ids)
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}

    rows = [{"k": 1, "weight": 0.0, "joints": None, **figures()}]
    for source in grid["joints"]:
        for k in grid["k"]:
            if k == 1:
                continue
            for w in grid["weight"]:
                how = {"query_joints": q_joints, "index_joints": source, "k": k, "weight": w}
                rows.append({"k": k, "weight": w, "joints": source, **figures(**how)})
    return {"rows": rows, "queries": n, "distractors": len(pick)}


def chosen(rows: list[dict]) -> dict:
    """The setting of highest pose-level top-1 at the test split's candidate count, then exact top-1 there, then the
    simplest (smaller k, smaller weight, rendered joints after predicted ones)."""
    return max(
        rows,
        key=lambda r: (
            r["val_retrieval_pose_top1_at_test_size"],
            r["val_retrieval_top1_at_test_size"],
            -r["k"],
            -r["weight"],
            r["joints"] != "rendered",
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="default: the profile of params.yaml")
    ap.add_argument("--settings", default=str(SETTINGS))
    ap.add_argument("--pose", default="data/pose", help="the pose stage's bundle (posenet)")
    ap.add_argument("--render", default="data/render")
    ap.add_argument("--distractors", type=int, help="training projections added (default: test's count - val's)")
    ap.add_argument("--out", help="default: experiments/results/retrieval-rerank-<profile>-<machine kind>.json")
    args = ap.parse_args()
    params = load_params(args.params, args.profile)
    grid = settings(Path(args.settings))
    from models.pose.net import PoseNet
    from synth.pose.poseset import PoseSet

    try:
        ps = PoseSet(args.render)
        net = PoseNet.load(args.pose)
    except (OSError, ValueError) as err:
        raise BadInput(f"run `dvc repro pose` first: {err}") from None
    count = params.render.count
    extra = args.distractors if args.distractors is not None else max(count.test - count.val, 0)
    t0 = time.perf_counter()
    found = study(net, ps, params.seed, grid, extra)
    best = chosen(found["rows"])
    out = Path(args.out) if args.out else result_path("retrieval-rerank", params.profile)
    doc = {"profile": params.profile, "seed": params.seed, "split": "val", "settings": grid, **found, "chosen": best}
    write_json(out, doc)
    base = found["rows"][0]
    for label, r in (("embedding alone", base), ("chosen", best)):
        print(
            f"retrieval-rerank: {label} (k {r['k']}, weight {r['weight']:g}, joints {r['joints']}): pose-level top-1 "
            f"{r['val_retrieval_pose_top1_at_test_size']} among {r['val_retrieval_candidates_at_test_size']}, "
            f"{r['val_retrieval_pose_top1']} among {r['val_retrieval_candidates']}; exact "
            f"{r['val_retrieval_top1_at_test_size']} / {r['val_retrieval_top1']}"
        )
    print(f"retrieval-rerank: wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    from core.errors import run_main

    run_main(main, "retrieval-rerank")
