"""Active learning, measured: does pushing the most uncertain images first (the sync's order) pay?

    .venv/bin/python -m experiments.active_learning             # cpu profile, experiments/active_learning.yaml: ~20 min
    .venv/bin/python -m experiments.active_learning --profile smoke --per-round 10 --rounds 1 --random-rounds 2 --seeds 1

The generated set is ingested with the groups of `hidden` left out (`ingest.groups`: the groups the source shows),
so the tagger knows them from nobody. A private Label Studio server (its own data dir and port on 127.0.0.1,
stopped at the end, on Ctrl-C and on SIGTERM) receives the tasks; a simulated annotator answers them through its API
with the generator's hidden truth, each group wrong with probability `error_rate` (the same image gets the same
answers in both arms). Each seed runs two arms with the same N per round:

- round 0: N random training images (nothing is uncertain yet about a group the tagger has never seen); both arms
  push the same images and get the same answers, so round 0 is trained once and reused (checked: the same labels);
- each later round: push N training images in the arm's order (`label.order`: `uncertainty`, the sync's default,
  or `random`), the annotator labels them, pull, the `label` stage, retrain the tagger on what is known (`model:`
  `baseline`, the tagger's scikit-learn model, seconds per round; or `cnn`, the tagger CNN with `tagger:` of the
  yaml over the params, e.g. a few epochs: measured, 3 epochs learn nothing of the hidden groups from a few hundred
  labels, docs/reports/).

What is scored after each round: macro-F1 of the hidden groups on the test split (thresholds calibrated on the
validation split's true values; the same for both arms). The headline is how many labels random order needs to
reach what uncertainty order reaches after `rounds` rounds (linear between rounds; ">" when it never does within
`random_rounds`). Writes experiments/results/active-learning-<profile>-<machine kind>.json and
docs/active_learning.png. Nothing goes to the pipeline's MLflow store or data: everything lives under
.cache/bench/active_learning/ (or BENCH_CACHE).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from core.atomic import write_json
from core.errors import BadInput
from core.names import ATTRIBUTES, GROUPS
from core.params import Params, load_params
from experiments import CACHE, ROOT, result_path

DOCS = ROOT / "docs"
SPLITS = ("train", "val", "test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_config(path: Path, args) -> dict:
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = {"hidden", "model", "per_round", "rounds", "random_rounds", "error_rate", "seeds", "tagger"}
    if set(cfg) - known:
        raise BadInput(f"{path}: unknown keys {sorted(set(cfg) - known)}; expected {sorted(known)}")
    for key in ("per_round", "rounds", "random_rounds", "seeds"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = value
    bad = [g for g in cfg.get("hidden", []) if g not in GROUPS]
    if not cfg.get("hidden") or bad:
        raise BadInput(f"{path}: hidden: {cfg.get('hidden')}: expected one or more groups of {list(GROUPS)}")
    if cfg.get("model") not in ("baseline", "cnn"):
        raise BadInput(f"{path}: model: {cfg.get('model')!r}: expected baseline or cnn")
    if cfg["random_rounds"] < cfg["rounds"]:
        raise BadInput(f"{path}: random_rounds ({cfg['random_rounds']}) must be at least rounds ({cfg['rounds']})")
    return cfg


def bench_params(params: Params, cfg: dict, seed: int, order: str) -> Params:
    """The pipeline's params with the bench's settings: groups shown, tasks per push, push order, short tagger."""
    raw = params.model_dump()
    raw["seed"] = seed
    raw["ingest"]["groups"] = [g for g in GROUPS if g not in cfg["hidden"]]
    raw["label"].update({"tag_tasks": cfg["per_round"], "pose_tasks": 0, "order": order})
    raw["tagger"].update(cfg.get("tagger") or {})
    return type(params).model_validate(raw)


def hidden_truth(params: Params, ingest_dir: Path) -> dict[str, dict[str, str]]:
    """image id -> every group's true value, from the generated source's own tags.csv (what ingest was not shown)."""
    from dataset.shards import read_manifest
    from dataset.sources import generated_dir

    with open(generated_dir(params) / "tags.csv", newline="", encoding="utf-8") as f:
        by_file = {r["file"]: r for r in csv.DictReader(f)}
    out = {}
    for r in read_manifest(ingest_dir):
        t = by_file[r["path"]]
        out[r["id"]] = {g: t[g] for g in GROUPS}
    return out


class Annotator:
    """Answers every group of a tag task with the truth, each group wrong with probability `error_rate` (a uniformly
    drawn other value); the answers for one image depend only on (seed, image), so both arms get the same ones."""

    def __init__(self, truth: dict[str, dict[str, str]], error_rate: float, seed: int):
        self.truth, self.error_rate, self.seed = truth, error_rate, seed

    def answer(self, ref: str) -> dict[str, str]:
        rng = np.random.default_rng([self.seed, int(ref[:15], 16)])
        out = {}
        for g in GROUPS:
            value = self.truth[ref][g]
            if rng.random() < self.error_rate:
                others = [v for v in ATTRIBUTES[g] if v != value]
                value = others[int(rng.integers(len(others)))]
            out[g] = value
        return out

    def label_new_tasks(self, ls, project: int) -> int:
        """Annotate every task of `project` that has no annotation yet, through the API; returns how many."""
        from labeling.formats import choice_results

        done = 0
        for t in ls.tasks.list(project=project, fields="all"):
            if not t.total_annotations:
                ls.annotations.create(id=t.id, result=choice_results(self.answer(str(t.data["ref_id"]))))
                done += 1
        return done


class Data:
    """The ingested images of each split (the tagger's size), their ids and true labels [N, groups]."""

    def __init__(self, ingest_dir: Path, size: int, truth: dict[str, dict[str, str]]):
        from core.names import index_of
        from dataset.shards import ImageShards, read_manifest

        rows = {r["id"]: r for r in read_manifest(ingest_dir)}
        self.x, self.ids, self.y, self.rows = {}, {}, {}, {}
        for s in SPLITS:
            shards = ImageShards(ingest_dir, size, s)
            self.x[s], _ = shards.arrays()
            self.ids[s] = list(shards.ids)
            self.rows[s] = [rows[i] for i in self.ids[s]]
            self.y[s] = np.array([[index_of(g, truth[i][g]) for g in GROUPS] for i in self.ids[s]], np.int64)
        self._features: dict[str, np.ndarray] = {}

    def features(self, split: str) -> np.ndarray:
        """The baseline tagger's HOG + colour features of a split, computed once."""
        from models.tagger import baseline

        if split not in self._features:
            self._features[split] = baseline.features(self.x[split])
        return self._features[split]


def _fit_cnn(params: Params, data: Data, y: np.ndarray):
    """The tagger CNN (models/tagger/train.py) on every training image with what is known of it; probabilities."""
    from models.tagger.net import predict_proba
    from models.tagger.train import train_cnn

    known = np.flatnonzero((y >= 0).any(axis=1))
    res = train_cnn(data.x["train"][known], y[known], params.tagger, params.seed)
    return lambda split: predict_proba(res.net, data.x[split])


def _fit_baseline(params: Params, data: Data, y: np.ndarray, hidden: list[str]):
    """The tagger's scikit-learn model (models/tagger/baseline.py: HOG + colour, one logistic regression per group,
    C chosen on validation). Its groups are independent models, so only the hidden groups are fitted: the shown
    groups' 6,000 labels would change nothing that is scored and cost most of the time."""
    from models.tagger import baseline

    bp = params.tagger.baseline
    y = np.where(np.isin(np.arange(len(GROUPS)), [GROUPS.index(g) for g in hidden])[None, :], y, -1)
    model = baseline.fit(data.features("train"), y, data.features("val"), data.y["val"], bp.C, bp.max_iter, params.seed)
    return lambda split: model.probabilities_from_features(data.features(split))


def train_and_score(params: Params, data: Data, tags_csv: Path, cfg: dict, auto_out: Path | None) -> dict:
    """Retrain the tagger (`model` of the yaml) on what tags.csv knows of the training images; score the hidden
    groups on test with thresholds from the validation split; write tags_auto.csv for the next push."""
    from models.tagger import evaluate, roles
    from models.tagger.labels import labels_for, read_tags

    hidden = cfg["hidden"]
    t0 = time.perf_counter()
    y, _ = labels_for(data.ids["train"], read_tags(tags_csv))
    fit = _fit_cnn if cfg["model"] == "cnn" else lambda p, d, yy: _fit_baseline(p, d, yy, hidden)
    probabilities = fit(params, data, y)
    seconds = time.perf_counter() - t0
    thresholds = evaluate.calibrate(probabilities("val"), data.y["val"])
    test = evaluate.report(probabilities("test"), data.y["test"], thresholds)
    if auto_out is not None:  # the uncertainty of the next push (labeling/candidates.py reads tags_auto.csv)
        roles.write_auto_tags(auto_out, data.rows["train"], probabilities("train"), thresholds, {}, "bench")
    cols = [GROUPS.index(g) for g in hidden]
    return {
        "labels_hidden_train": int((y[:, cols] >= 0).any(axis=1).sum()),
        "hidden_macro_f1": round(float(np.mean([test["macro_f1_by_group"][g] for g in hidden])), 4),
        "hidden_macro_f1_by_group": {g: round(test["macro_f1_by_group"][g], 4) for g in hidden},
        "train_seconds": round(seconds, 1),
    }


def run_arm(srv, ls, params0: Params, cfg: dict, seed: int, order: str, data: Data, annotator, work: Path, round0):
    """One arm of one seed: round 0 then `rounds` (uncertainty) or `random_rounds` (random) rounds."""
    from labeling.client import find_project
    from labeling.pull import pull
    from labeling.push import push
    from stages import label

    for kind in ("tags", "pose"):  # a fresh project per arm: nothing of the other arm is in the queue
        project = find_project(ls, kind)
        if project is not None:
            ls.projects.delete(id=project.id)
    arm = work / f"seed{seed}-{order}"
    shutil.rmtree(arm, ignore_errors=True)
    exports, labels, auto = arm / "exports", arm / "label", arm / "tags_auto.csv"
    exports.mkdir(parents=True)
    rounds = cfg["rounds"] if order == "uncertainty" else cfg["random_rounds"]
    curve, total = [], 0
    for r in range(rounds + 1):
        p = bench_params(params0, cfg, seed, "random" if r == 0 else order)
        t0 = time.perf_counter()
        pushed = push(
            srv,
            p,
            work / "docs",
            arm / "no-render",
            work / "ingest",
            auto,
            tag_splits=("train",),
            projects=exports.parent / "projects.json",
        )
        project = pushed["tags"]["project"]
        labelled = annotator.label_new_tasks(ls, project)
        pull(srv, exports)
        label.run(p, exports, work / "ingest", arm / "no-render", labels)
        tags_csv = (labels / "tags.csv").read_bytes()
        if r == 0 and round0.get("tags_csv") == tags_csv:
            point = dict(round0["point"])  # the same labels and seed: the same tagger (training is deterministic)
            shutil.copyfile(round0["auto"], auto)
        else:
            point = train_and_score(p, data, labels / "tags.csv", cfg, auto)
            if r == 0:
                round0.update(tags_csv=tags_csv, point=point, auto=arm / "tags_auto-round0.csv")
                shutil.copyfile(auto, round0["auto"])
        total += labelled
        point.update(round=r, labels=total)
        point["round_seconds"] = round(time.perf_counter() - t0, 1)
        curve.append(point)
        print(f"active-learning: seed {seed} {order} round {r}: {point}", flush=True)
    return curve


def labels_to_reach(curve: list[dict], target: float) -> float | None:
    """The number of labels at which `curve` first reaches `target` (linear between rounds); None if it never does."""
    prev = None
    for pt in curve:
        if pt["hidden_macro_f1"] >= target:
            if prev is None or pt["hidden_macro_f1"] == prev["hidden_macro_f1"]:
                return float(pt["labels"])
            frac = (target - prev["hidden_macro_f1"]) / (pt["hidden_macro_f1"] - prev["hidden_macro_f1"])
            return round(prev["labels"] + frac * (pt["labels"] - prev["labels"]), 1)
        prev = pt
    return None


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    n = min(len(c) for c in curves)
    return [
        {
            "labels": curves[0][i]["labels"],
            "hidden_macro_f1": round(statistics.fmean(c[i]["hidden_macro_f1"] for c in curves), 4),
            "hidden_macro_f1_std": round(statistics.stdev(c[i]["hidden_macro_f1"] for c in curves), 4)
            if len(curves) > 1
            else 0.0,
        }
        for i in range(n)
    ]


def summarise(cfg: dict, arms: dict[int, dict[str, list[dict]]]) -> dict:
    k = cfg["rounds"]
    per_seed = {}
    for seed, a in arms.items():
        target = a["uncertainty"][k]["hidden_macro_f1"]
        per_seed[str(seed)] = {
            "uncertainty_labels": a["uncertainty"][k]["labels"],
            "uncertainty_hidden_macro_f1": target,
            "random_labels_to_reach": labels_to_reach(a["random"], target),
        }
    mean = {order: mean_curve([a[order] for a in arms.values()]) for order in ("uncertainty", "random")}
    target = mean["uncertainty"][k]["hidden_macro_f1"]
    needed = labels_to_reach(mean["random"], target)
    return {
        "after_rounds": k,
        "uncertainty_labels": mean["uncertainty"][k]["labels"],
        "uncertainty_hidden_macro_f1": target,
        "random_labels_to_reach": needed,  # None: random order never got there within random_rounds
        "random_labels_max": mean["random"][-1]["labels"],
        "labels_ratio": round(needed / mean["uncertainty"][k]["labels"], 2) if needed else None,
        "mean_curves": mean,
        "per_seed": per_seed,
    }


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    colours = {"uncertainty": "tab:red", "random": "tab:blue"}
    for arms in doc["curves"].values():
        for order, curve in arms.items():
            xs, ys = [p["labels"] for p in curve], [p["hidden_macro_f1"] for p in curve]
            ax.plot(xs, ys, color=colours[order], alpha=0.3, lw=1, marker=".")
    for order, curve in doc["summary"]["mean_curves"].items():
        xs, ys = [p["labels"] for p in curve], [p["hidden_macro_f1"] for p in curve]
        ax.plot(xs, ys, color=colours[order], lw=2.2, marker="o", label=f"{order} order (mean of seeds)")
    s = doc["summary"]
    ax.axhline(s["uncertainty_hidden_macro_f1"], color="grey", ls=":", lw=1)
    ax.set_xlabel("images labelled in Label Studio")
    ax.set_ylabel(f"test macro-F1 of the hidden groups\n({', '.join(doc['config']['hidden'])})")
    need = s["random_labels_to_reach"]
    need_text = f"{need:.0f}" if need else f"> {s['random_labels_max']}"
    ax.set_title(f"Uncertainty order: {s['uncertainty_labels']} labels; random order needs {need_text}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="default: the profile of params.yaml")
    ap.add_argument("--config", default=str(ROOT / "experiments" / "active_learning.yaml"))
    ap.add_argument("--per-round", dest="per_round", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--random-rounds", dest="random_rounds", type=int)
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--labelstudio-data", help="a migrated Label Studio data dir to copy (skips its 35 s init)")
    ap.add_argument("--out", help="default: experiments/results/active-learning-<profile>-<machine kind>.json")
    ap.add_argument("--plot", help="default: docs/active_learning.png (cpu profile) or next to --out")
    args = ap.parse_args()
    params = load_params(args.params, args.profile)
    cfg = read_config(Path(args.config), args)
    work = CACHE / "active_learning" / params.profile
    shutil.rmtree(work, ignore_errors=True)
    (work / "docs" / "labeling").mkdir(parents=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"  # a scratch store: no champion, no alias

    from dataset.importer import ingest
    from dataset.sources import open_sources
    from labeling import server
    from labeling.client import Server

    t_start = time.perf_counter()
    p = bench_params(params, cfg, cfg["seeds"][0], "random")
    ingest(p, work / "ingest", open_sources(p))
    truth = hidden_truth(p, work / "ingest")
    data = Data(work / "ingest", p.tagger.size, truth)

    if args.labelstudio_data:  # its admin: LABEL_STUDIO_USERNAME, _PASSWORD and _API_KEY from the environment
        server.copy_data_dir(Path(args.labelstudio_data), work / "labelstudio")
        creds = server.credentials(work / "no-env-file", create=False)
    else:
        creds = server.Credentials("bench@example.com", secrets.token_urlsafe(18), secrets.token_hex(20))
    port = free_port()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM stops the server as Ctrl-C does
    proc = server.start(port, work / "labelstudio", work / "docs", creds, log=work / "labelstudio.log")
    try:
        srv = Server(f"http://127.0.0.1:{port}", creds.token)
        srv.check()
        ls = srv.client()
        curves = {}
        for seed in cfg["seeds"]:
            annotator = Annotator(truth, cfg["error_rate"], seed)
            round0: dict = {}
            curves[seed] = {
                order: run_arm(srv, ls, params, cfg, seed, order, data, annotator, work, round0)
                for order in ("uncertainty", "random")
            }
    finally:
        server.stop(proc)
    doc = {
        "profile": params.profile,
        "config": cfg,
        "images_by_split": {s: len(data.ids[s]) for s in SPLITS},
        "summary": summarise(cfg, curves),
        "curves": {str(s): c for s, c in curves.items()},
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    out = Path(args.out) if args.out else result_path("active-learning", params.profile)
    write_json(out, doc)
    figure = (
        Path(args.plot)
        if args.plot
        else (DOCS / "active_learning.png" if params.profile == "cpu" else out.with_suffix(".png"))
    )
    plot(doc, figure)
    s = doc["summary"]
    print(
        f"active-learning: uncertainty order reaches hidden-group macro-F1 {s['uncertainty_hidden_macro_f1']} with "
        f"{s['uncertainty_labels']} labels; random order needs {s['random_labels_to_reach'] or '> ' + str(s['random_labels_max'])} "
        f"({doc['seconds']:.0f} s); wrote {out} and {figure}"
    )


if __name__ == "__main__":
    from core.errors import run_main

    run_main(main, "active-learning")
