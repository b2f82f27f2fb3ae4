"""Auto-tags, measured: can a conditional generator learn from a collection nobody tagged, through the tagger?

    .venv/bin/python -m experiments.auto_tags                       # cpu profile, experiments/auto_tags.yaml
    .venv/bin/python -m experiments.auto_tags --profile smoke --seeds 1 --count 48   # a minute: the code path

The built-in set (tagged) is ingested beside a second generated set drawn in another style (`generated:<name>`,
synth/faces/style.py) whose tags are hidden (`groups: []`): the situation of a studio with one tagged collection and
one untagged. The tagger stage's own code (models/tagger/family.py) trains on what is tagged and auto-tags the rest,
trusting an auto-tag from its group's confidence floor; the hidden set's true tags stay in its source folder. Then:

- the tagger on the hidden part: macro-F1 of its readings against the hidden truth (every image), and the accuracy
  and share of the trusted auto-tags;
- DCGAN (the train@dcgan stage's model and scoring, its first size) trained twice per seed: `auto` (the hidden part
  conditioned on its trusted auto-tags, unknown elsewhere, as the pipeline does) and `truth` (on its true tags).
  Both are scored against the same references (validation and test images with their true tags), so the only
  difference is where the hidden part's conditions came from. The headline is `cond_accuracy_ratio` (auto / truth,
  per seed, mean ± std; the bar is 0.9) and `fd_tagger_change` (auto / truth - 1; within 10% or one seed std).

Everything lives under .cache/bench/auto_tags/<profile>/ (or BENCH_CACHE) with a scratch MLflow store: no alias of
the pipeline's store moves. Writes experiments/results/auto_tags-<profile>-<machine kind>.json. Each trained DCGAN is
kept (experiments/seeds.py's `trained_generator`), so a re-run re-scores without retraining. On the `cpu` profile:
the tagger stage (about 10 min) and six DCGAN runs (about 13 min each on an idle AVX-512 machine).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
from pathlib import Path

import numpy as np
import yaml

from core import checkpoint
from core.errors import BadInput, run_main
from core.names import ATTRIBUTES, GROUPS, index_of
from core.params import Params, load_params
from experiments import CACHE, ROOT, result_path, write_result

STEADY = 0.95  # the calibration's second headline: the fewest labels from which this share of draws meets the bar
ARMS = ("auto", "truth")


def read_config(path: Path, args) -> dict:
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if set(cfg) - {"hidden", "seeds", "calibration"} or not isinstance(cfg.get("hidden"), dict):
        raise BadInput(f"{path}: expected keys hidden (name, count, style), seeds and calibration")
    if args.count is not None:
        cfg["hidden"]["count"] = args.count
    if args.seeds is not None:
        cfg["seeds"] = cfg["seeds"][: args.seeds]
    return cfg


def study_params(params: Params, cfg: dict) -> Params:
    """The pipeline's params with two sources: the built-in set, tagged, and the hidden-style set, untagged."""
    raw = params.model_dump()
    h = cfg["hidden"]
    hidden = {"spec": f"generated:{h['name']}", "count": h["count"], "style": h.get("style"), "groups": []}
    raw["ingest"]["sources"] = [{"spec": "generated"}, hidden]
    return type(params).model_validate(raw)


def hidden_truth(params: Params, ingest_dir: Path) -> dict[str, np.ndarray]:
    """image id -> the true class per group, for every image of the hidden-style source (from its own tags.csv)."""
    from dataset.shards import read_manifest
    from dataset.sources import generated_dir

    entry = params.ingest.sources[1]
    with open(generated_dir(params, entry=entry) / "tags.csv", newline="", encoding="utf-8") as f:
        by_file = {r["file"]: r for r in csv.DictReader(f)}
    return {
        r["id"]: np.array([index_of(g, by_file[r["path"]][g]) for g in GROUPS], np.int64)
        for r in read_manifest(ingest_dir)
        if r["source"] == entry.spec
    }


def write_truth_labels(ingest_dir: Path, truth: dict[str, np.ndarray], out: Path) -> None:
    """A label file (the label stage's tags.csv form) with the tagged set's own tags and the hidden set's truth."""
    from dataset.shards import read_manifest

    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "source", *GROUPS])
        for r in read_manifest(ingest_dir):
            values = [ATTRIBUTES[g][c] for g, c in zip(GROUPS, truth[r["id"]])] if r["id"] in truth else None
            w.writerow([r["id"], r["source"], *(values or [r[g] for g in GROUPS])])


def tagger_on_hidden(tags_auto: Path, truth: dict[str, np.ndarray]) -> dict:
    """The tagger's readings of the hidden part against its truth: macro-F1 (every image), and the trusted ones'."""
    from models.tagger.pixel_baseline import macro_f1_by_group

    with open(tags_auto, newline="", encoding="utf-8") as f:
        rows = {r["id"]: r for r in csv.DictReader(f) if r["id"] in truth}
    ids = sorted(rows)
    y = np.stack([truth[i] for i in ids])
    pred = np.array([[index_of(g, rows[i][g]) for g in GROUPS] for i in ids], np.int64)
    trusted = np.array([[rows[i][f"trusted:{g}"] == "1" for g in GROUPS] for i in ids])
    by_group = macro_f1_by_group(y, pred)
    right = pred == y
    return {
        "hidden_images": len(ids),
        "macro_f1": float(np.mean(list(by_group.values()))),
        "macro_f1_by_group": by_group,
        "trusted_share": float(trusted.mean()),
        "trusted_accuracy": float(right[trusted].mean()) if trusted.any() else None,
        "trusted_accuracy_by_group": {
            g: float(right[trusted[:, k], k].mean()) if trusted[:, k].any() else None for k, g in enumerate(GROUPS)
        },
    }


def calibration(
    tags_auto: Path,
    truth: dict[str, np.ndarray],
    overall: dict[str, float | None],
    min_accuracy: float,
    cfg: dict,
    seed: int,
) -> dict:
    """How many labels of the hidden style its own floors need (models/tagger/trust.py). Per count N of the config's
    `calibration.labels`, `draws` times: N of the hidden set's training-split images, drawn at random, are labelled
    (their truth; the tagger trained on none of the hidden set, so these are as unseen as the validation images the
    pipeline draws from), each group's floor is chosen on them (evaluate.floor_entry, the pipeline's rule), and the
    auto-tags of the hidden set's validation and test images at or above it are scored against their truth: the
    trusted ones' accuracy (pooled over groups) and share. N = 0 is the borrowed floors (`overall`: group -> floor,
    chosen on the tagged style). The headlines, on *validation* (test is reported beside): the smallest N whose mean trusted
    accuracy reaches `min_accuracy`, and the smallest from which STEADY of the draws do (what `tagger.auto_min_labels`
    is chosen by)."""
    from core.names import GROUPS as G
    from models.tagger.evaluate import floor_entry

    with open(tags_auto, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["id"] in truth]

    def arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
        rs = [r for r in rows if r["split"] == split]
        conf = np.array([[float(r[f"c:{g}"]) for g in G] for r in rs]).reshape(-1, len(G))
        right = np.array([[index_of(g, r[g]) == truth[r["id"]][k] for k, g in enumerate(G)] for r in rs], bool)
        return conf, right.reshape(-1, len(G))

    pool, scored = arrays("train"), {s: arrays(s) for s in ("val", "test")}

    def score(floors: list[float | None], split: str) -> tuple[float | None, float]:
        conf, right = scored[split]
        mask = np.stack(
            [conf[:, k] >= f if f is not None else np.zeros(len(conf), bool) for k, f in enumerate(floors)], 1
        )
        return (float(right[mask].mean()) if mask.any() else None), float(mask.mean())

    def row(n: int, draws: list[list[float | None]]) -> dict:
        out = {"labels": n}
        for split, prefix in (("val", "val_"), ("test", "")):
            if not len(scored[split][0]):  # no hidden image in the split (a tiny run): nothing to score there
                out.update({f"{prefix}{k}": None for k in ("trusted_accuracy", "trusted_share")})
                out.update({f"{prefix}{k}": None for k in ("draws_at_bar", "draws_trusting_nothing")})
                continue
            accs, shares, empty = [], [], 0
            for floors in draws:
                acc, share = score(floors, split)
                shares.append(share)
                empty += acc is None
                accs += [acc] if acc is not None else []
            out[f"{prefix}trusted_accuracy"] = spread(accs)
            out[f"{prefix}trusted_share"] = spread(shares)
            out[f"{prefix}draws_at_bar"] = (sum(a >= min_accuracy for a in accs) + empty) / len(draws)
            out[f"{prefix}draws_trusting_nothing"] = empty / len(draws)
        return out

    c = cfg.get("calibration") or {}
    rng = np.random.default_rng(seed)
    table = [row(0, [[overall[g] for g in G]])]
    for n in (n for n in c.get("labels", []) if 0 < n <= len(pool[0])):
        picks = [rng.choice(len(pool[0]), n, replace=False) for _ in range(int(c.get("draws", 20)))]
        draws = [
            [floor_entry(pool[0][p, k], pool[1][p, k], min_accuracy)["floor"] for k in range(len(G))] for p in picks
        ]
        table.append(row(n, draws))
    reached = [
        t["labels"] for t in table if t["val_trusted_accuracy"] and t["val_trusted_accuracy"]["mean"] >= min_accuracy
    ]
    steady = [t["labels"] for t in table if t["labels"] and (t["val_draws_at_bar"] or 0) >= STEADY]
    return {
        "min_accuracy": min_accuracy,
        "hidden_pool_images": len(pool[0]),
        "hidden_val_images": len(scored["val"][0]),
        "hidden_test_images": len(scored["test"][0]),
        "by_labels": table,
        "labels_to_reach_bar": min(reached) if reached else None,
        "steady_share": STEADY,
        "labels_for_steady_bar": min(steady) if steady else None,
    }


def calibrate(params: Params, cfg: dict, work: Path, truth: dict[str, np.ndarray], overall: dict) -> dict:
    """calibration() on the study's tagger output under `work`, with the params' accuracy bar and seed."""
    tp = params.tagger
    return calibration(work / "tagger" / "tags_auto.csv", truth, overall, tp.auto_min_accuracy, cfg, params.seed)


def dcgan_arm(params: Params, paths: dict, refs: dict, extractor, seed: int, arm: str) -> dict:
    """DCGAN trained on `paths`' conditions with `seed` and scored on `refs` (the truth's references)."""
    from experiments.seeds import trained_generator
    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.net import Generator
    from models.dcgan.train import build

    p = params.dcgan
    size = p.sizes[0]
    data, record = family.load(params, paths)
    d = data["images"][size]
    key = checkpoint.key(p.model_dump(), size, seed, arm, training_digest(d["train"].images, d["train"].labels))
    kept = CACHE / f"bench-auto-tags-{key}"
    G, doc = trained_generator(
        kept, Generator.load, lambda: build(p, size, d["train"].images, d["train"].labels, seed), p, seed, "dcgan"
    )
    prior = ConditionPrior.fit(d["train"].labels)
    scores = family.score(extractor, refs, family.sampler(G, prior), params.seed, conditional=True)
    keys = ("fd_tagger", "cond_accuracy", "recall", "precision")
    return {
        **{k: scores[k] for k in keys},
        **{f"val_{k}": scores[f"val_{k}"] for k in keys},
        "conditions_by_origin": record["conditions_by_origin"],
        "steps_done": doc["steps_done"],
        "train_seconds": doc["train_seconds"],
    }


def training_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """What a DCGAN of the study trains on, as one digest: its images and the conditions it is given. A kept
    generator is found again whenever these are the same, whatever else the tagger's files say (tags_auto.csv names
    the registry version that wrote it, which a scratch store counts up on every run)."""
    import hashlib

    h = hashlib.sha256()
    for a in (images, labels):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "runs": values,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--profile", help="default: the params file's")
    ap.add_argument("--config", default=str(ROOT / "experiments" / "auto_tags.yaml"))
    ap.add_argument("--count", type=int, help="images of the hidden-style set (default: the config's)")
    ap.add_argument("--seeds", type=int, help="only the first N seeds of the config")
    ap.add_argument("--out", help="default: experiments/results/auto_tags-<profile>-<machine kind>.json")
    ap.add_argument(
        "--calibration-only",
        action="store_true",
        help="re-score the labels-per-style calibration from the kept tagger output into the existing result",
    )
    ap.add_argument(
        "--dcgan-only",
        action="store_true",
        help="the DCGAN part again on the kept tagger output: unfinished seeds train, kept generators re-score",
    )
    args = ap.parse_args()
    base = load_params(args.params, args.profile)
    cfg = read_config(Path(args.config), args)
    params = study_params(base, cfg)
    work = CACHE / "auto_tags" / params.profile
    if args.calibration_only:
        return calibration_only(params, cfg, work, args.out)
    if args.dcgan_only:
        return dcgan_only(params, cfg, work, args.out)
    shutil.rmtree(work / "tagger", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = (
        f"sqlite:///{work / 'mlflow.db'}"  # a scratch store: the pipeline's is untouched
    )

    from dataset.importer import ingest
    from dataset.sources import open_sources
    from models.tagger import family as tagger
    from models.tagger.extractor import load_extractor
    from stages import extractor as extractor_stage

    metrics = ingest(params, work / "ingest", open_sources(params))
    truth = hidden_truth(params, work / "ingest")
    figures = tagger.stage(params, {"data": work / "ingest", "labels": None, "pin": None}, work / "tagger")
    on_hidden = tagger_on_hidden(work / "tagger" / "tags_auto.csv", truth)
    calib = calibrate(params, cfg, work, truth, figures["auto_tags"]["floor_by_group"])
    pin = extractor_stage.run(work / "tagger", work / "extractor")
    extractor = load_extractor(work / "extractor" / "pin.json")
    head = {
        "profile": params.profile,
        "config": cfg,
        "images_by_source": metrics["images_by_source"],
        "extractor_version": pin["version"],
        "tagger": {
            "chosen": figures["chosen"],
            "tagged_part_val_macro_f1": figures[figures["chosen"]]["val_macro_f1"],
            "auto_tags": figures["auto_tags"],
            "on_hidden": on_hidden,
            "calibration": calib,
        },
    }
    write_truth_labels(work / "ingest", truth, work / "truth.csv")
    write_truth_labels(work / "ingest", {}, work / "auto.csv")  # the tagged set's own tags only: the rest auto
    doc = dcgan_seeds(params, cfg, work, extractor, head, args.out)
    if not cfg["seeds"]:
        return
    print(
        f"auto_tags: hidden-part macro-F1 {on_hidden['macro_f1']:.3f}; cond_accuracy ratio "
        f"{doc['cond_accuracy_ratio']['mean']:.3f} ± {doc['cond_accuracy_ratio']['std']:.3f}; fd_tagger change "
        f"{doc['fd_tagger_change']['mean']:+.3f} ± {doc['fd_tagger_change']['std']:.3f}"
    )


def calibration_only(params: Params, cfg: dict, work: Path, out: str | None) -> None:
    """Re-score the calibration into the result a finished run wrote, from the tagger output it kept under `work`."""
    path = ROOT / out if out else result_path("auto_tags", params.profile)
    if not path.exists() or not (work / "tagger" / "tags_auto.csv").exists():
        raise BadInput(f"{path} or {work / 'tagger'}: run the whole study first (python -m experiments.auto_tags)")
    doc = json.loads(path.read_text(encoding="utf-8"))
    truth = hidden_truth(params, work / "ingest")
    doc["tagger"]["calibration"] = calibrate(params, cfg, work, truth, doc["tagger"]["auto_tags"]["floor_by_group"])
    doc["config"] = cfg
    write_result(doc, "auto_tags", params.profile, out)
    c = doc["tagger"]["calibration"]
    print(
        f"auto_tags: labels of the hidden style for its own floors to reach the bar: {c['labels_to_reach_bar']} "
        f"(mean), {c['labels_for_steady_bar']} ({c['steady_share']:.0%} of draws)"
    )


def dcgan_seeds(
    params: Params, cfg: dict, work: Path, extractor, head: dict, out: str | None, write_head: bool = True
) -> dict:
    """The DCGAN part on the tagger output under `work`: both arms for each seed of `cfg` (a kept generator is
    re-scored, not retrained), the result written after the head (the tagger's figures; not when `write_head` is
    off, so that a re-run keeps the seeds the file holds until it has scored them again) and after every seed."""
    from models.dcgan import family as dcgan
    from models.metrics import generators
    from stages.train import PATHS

    base_paths = {**PATHS, "data": work / "ingest", "auto_tags": work / "tagger" / "tags_auto.csv"}
    base_paths["judge_tagger"] = work / "tagger" / "judge"
    paths = {"auto": {**base_paths, "labels": work / "auto.csv"}, "truth": {**base_paths, "labels": work / "truth.csv"}}
    truth_data, _ = dcgan.load(params, paths["truth"])
    d = truth_data["images"][params.dcgan.sizes[0]]
    refs = {
        s: generators.reference(
            extractor, d[s].images, d[s].labels, d["train"].images, params.dcgan.eval.samples, params.seed
        )
        for s in ("val", "test")
    }
    runs: dict[str, dict] = {arm: {} for arm in ARMS}
    doc = summarise(head, runs)
    if write_head:
        write_result(doc, "auto_tags", params.profile, out)  # the tagger's figures, before any seed
    for seed in cfg["seeds"]:
        for arm in ARMS:
            runs[arm][str(seed)] = dcgan_arm(params, paths[arm], refs, extractor, seed, arm)
            print(f"auto_tags: seed {seed} {arm}: {runs[arm][str(seed)]}")
        doc = summarise(head, runs)  # after every seed: an interrupted study keeps the seeds it finished
        write_result(doc, "auto_tags", params.profile, out)
    return doc


def dcgan_only(params: Params, cfg: dict, work: Path, out: str | None) -> None:
    """Run the DCGAN part again on the tagger output a finished or interrupted run kept under `work`, with the head
    (the tagger's figures) of the result it wrote: the seeds it had not finished train, the kept ones re-score."""
    path = ROOT / out if out else result_path("auto_tags", params.profile)
    needed = [work / "tagger" / "tags_auto.csv", work / "extractor" / "pin.json", work / "auto.csv", work / "truth.csv"]
    missing = [str(p) for p in needed if not p.exists()]
    if not path.exists() or missing:
        raise BadInput(f"{path} or {', '.join(missing) or 'its tagger output'}: run the whole study first")
    doc = json.loads(path.read_text(encoding="utf-8"))
    head = {k: doc[k] for k in ("profile", "config", "images_by_source", "extractor_version", "tagger")}
    head["config"] = cfg
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"  # the store the pin names a version of
    from models.tagger.extractor import load_extractor

    dcgan_seeds(params, cfg, work, load_extractor(work / "extractor" / "pin.json"), head, out, write_head=False)


def summarise(head: dict, runs: dict) -> dict:
    """The result: the tagger's figures, every run, and the headline ratios over the seeds done."""
    seeds = list(runs["truth"])
    ratio = [runs["auto"][s]["cond_accuracy"] / runs["truth"][s]["cond_accuracy"] for s in seeds]
    val_ratio = [runs["auto"][s]["val_cond_accuracy"] / runs["truth"][s]["val_cond_accuracy"] for s in seeds]
    change = [runs["auto"][s]["fd_tagger"] / runs["truth"][s]["fd_tagger"] - 1 for s in seeds]
    truth_fd = [runs["truth"][s]["fd_tagger"] for s in seeds]
    return {
        **head,
        "seeds_done": len(seeds),
        "runs": runs,
        "cond_accuracy_ratio": spread(ratio),
        "val_cond_accuracy_ratio": spread(val_ratio),
        "fd_tagger_change": spread(change),
        "fd_tagger_truth": spread(truth_fd),
        "bars": {
            "cond_accuracy_ratio": 0.9,
            "fd_tagger_change": "within 10% or one seed std of the truth arm's fd_tagger",
        },
    }


if __name__ == "__main__":
    run_main(main, "auto_tags")
