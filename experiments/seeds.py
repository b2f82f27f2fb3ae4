"""Seed spread of the thin-margin figures: the tagger CNN, posenet, DCGAN and StyleGAN retrained with several seeds,
mean ± std.

    .venv/bin/python -m experiments.seeds                   # 3 seeds (seed, seed+1, seed+2) on the active profile
    .venv/bin/python -m experiments.seeds --seeds 1234 1235 1236 --only tagger
    .venv/bin/python -m experiments.seeds --only dcgan --dcgan-pipeline-run metrics/dcgan.json  # 1234: the committed run
    .venv/bin/python -m experiments.seeds --only stylegan --stylegan-pipeline-run metrics/stylegan.json

It reads the pipeline's own inputs (`data/ingest/`, `data/render/`: run `make pipeline` first), trains exactly what
the stages train (models/tagger/train.py and models/pose/train.py through the one training loop, the same params
sections) with each seed, scores validation and test the way the stages do, and writes
`experiments/results/seeds-<profile>-<machine kind>.json` with every seed's figures and their mean and sample
standard deviation. It logs nothing to MLflow and moves no alias: a study is not a model release. Each seed's
training resumes from its own checkpoint (under .cache/checkpoints/bench-*) if the study is interrupted, and each
trained posenet is kept under .cache/bench/ so that a change in how it is scored re-scores without retraining (each
trained DCGAN too). About an hour on 2 cores for the `cpu` profile's tagger and posenet (3 × 7 min each, plus
scoring); DCGAN adds 3 × 13 min and StyleGAN 3 × 10 with their sliders (bf16 on AVX-512; `--dcgan-pipeline-run`, `--stylegan-pipeline-run` read the
pipeline's figures for its own seed instead of retraining it). A DCGAN run that its `max_minutes` guard stopped early (a busy machine) is refused, not reported as
a seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from core import checkpoint, tracking
from core.atomic import write_json
from core.names import POSE_KINDS
from core.params import load_params
from experiments import CACHE, result_path


def tagger_figures(params, seed: int, data_dir: Path) -> dict:
    from dataset.shards import ImageShards
    from models.tagger import evaluate
    from models.tagger.net import predict_proba
    from models.tagger.train import train_cnn

    tp = params.tagger
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (
        ImageShards(data_dir, tp.size, s).arrays() for s in ("train", "val", "test")
    )
    name = "bench-tagger-" + checkpoint.key(tp.model_dump(), seed, tracking.dvc_md5(data_dir))
    res = train_cnn(x_tr, y_tr, tp, seed, name)
    thresholds = evaluate.calibrate(predict_proba(res.net, x_va), y_va)
    val = evaluate.report(predict_proba(res.net, x_va), y_va, thresholds)
    test = evaluate.report(predict_proba(res.net, x_te), y_te, thresholds)
    return {
        "val_macro_f1": val["macro_f1"],
        "macro_f1": test["macro_f1"],
        **{f"macro_f1_by_group/{g}": v for g, v in test["macro_f1_by_group"].items()},
        "epochs_done": res.epochs_done,
        "train_seconds": res.seconds,
    }


def trained_posenet(params, seed: int, render_dir: Path):
    """posenet trained with these params and seed on `render_dir`, kept under .cache/bench/ (ignored) so that a
    change in scoring re-scores without retraining; the key digests the pose params, the data's hash and the seed."""
    from models.pose.net import PoseNet
    from models.pose.train import train_posenet
    from synth.pose.poseset import PoseSet

    pp = params.pose
    ps = PoseSet(render_dir)
    name = "bench-posenet-" + checkpoint.key(
        pp.model_dump(exclude={"retrieval"}), ps.size, seed, tracking.dvc_md5(render_dir)
    )
    kept = CACHE / name
    if (kept / "model.safetensors").exists():
        doc = json.loads((kept / "bench.json").read_text())
        return PoseNet.load(kept), doc["epochs_done"], doc["train_seconds"]
    train = {k: ps.split("train", k) for k in pp.kinds}  # the drawn kind's joints by the one-colour rule
    res = train_posenet({k: x for k, (x, _) in train.items()}, {k: y for k, (_, y) in train.items()}, pp, ps.size,
                        seed, name)  # fmt: skip
    res.net.save(kept, {"seed": seed})
    write_json(kept / "bench.json", {"epochs_done": res.epochs_done, "train_seconds": round(res.seconds, 1)})
    return res.net, res.epochs_done, round(res.seconds, 1)


def pose_figures(params, seed: int, render_dir: Path) -> dict:
    """Every scalar of the pose stage's metrics (models/pose/evaluate.py), flattened as `model/figure[/kind]`."""
    from models.pose.evaluate import evaluate
    from synth.pose.poseset import PoseSet

    ps = PoseSet(render_dir)
    splits = {s: {k: ps.split(s, k) for k in POSE_KINDS} for s in ("train", "val", "test")}
    net, epochs_done, seconds = trained_posenet(params, seed, render_dir)
    metrics, _, _ = evaluate(net, ps, splits, ps.size, seed, params.pose.retrieval)
    flat = {"epochs_done": epochs_done, "train_seconds": seconds}
    for model in ("posenet", "embedding_nearest", "joints_embedding"):
        for key, value in metrics[model].items():
            if isinstance(value, dict):
                flat.update({f"{model}/{key}/{k}": v for k, v in value.items() if key.startswith(("pck", "val_pck"))})
            elif "retrieval_top1" in key or "retrieval_pose_top1" in key or key.startswith(("pck", "val_pck")):
                flat[f"{model}/{key}"] = value
    return flat


GENERATOR_FIGURES = ("fd_tagger", "precision", "recall", "tag_tv", "cond_accuracy", "control_success")


def _generator_flat(scores: dict) -> dict:
    """The headline figures of a stage-shaped score dict (test and `val_`), per-group bars flattened, and the lowest
    slider's control_success (`control_success_min`: the bar every slider must clear)."""
    flat = {}
    for prefix in ("", "val_"):
        flat.update({prefix + k: scores[prefix + k] for k in GENERATOR_FIGURES})
        flat[f"{prefix}control_success_min"] = min(scores[f"{prefix}control_success_by_tag"].values())
        flat.update({f"{prefix}cond_vs_tagger/{g}": v for g, v in scores[f"{prefix}cond_vs_tagger_by_group"].items()})
    return flat


def trained_generator(kept: Path, load, build, p, seed: int, family: str):
    """(the EMA generator, {steps_done, train_seconds, watchdog}): the one kept at `kept` by an earlier run of the
    study, or the task `build()` trained by the engine with section `p`'s settings and `seed` (resuming from its own
    checkpoints), then kept. A run that its `max_minutes` guard stopped early is refused: it is not a seed of this one
    (a busy machine, most likely)."""
    import torch

    from models.engine import distributed, gan

    if (kept / "model.safetensors").exists():
        return load(kept), json.loads((kept / "bench.json").read_text())
    folder = checkpoint.ROOT / kept.name
    res = gan.train(build(), gan.config(p, seed), world=distributed.World(0, 1, torch.device("cpu")), folder=folder)
    if res.stopped_by_budget:
        checkpoint.clear_states(folder)
        raise RuntimeError(
            f"{family} seed {seed}: max_minutes stopped it after {res.steps_done} of {p.steps} steps; "
            "run the study on an idle machine"
        )
    doc = {"steps_done": res.steps_done, "train_seconds": round(res.seconds, 1), "watchdog": res.watchdog}
    res.g_ema.save(kept, {"seed": seed})
    write_json(kept / "bench.json", doc)
    checkpoint.clear_states(folder)
    return res.g_ema, doc


def kept_dcgan(params, seed: int, data_dir: Path) -> Path:
    """Where the study keeps the DCGAN it trained with `seed` on the ingest folder `data_dir` (its params, first size,
    seed and the data's hash name it; experiments/sliders_on_page.py reads it from there)."""
    p = params.dcgan
    return CACHE / ("bench-dcgan-" + checkpoint.key(p.model_dump(), p.sizes[0], seed, tracking.dvc_md5(data_dir)))


def dcgan_figures(params, seed: int, data_dir: Path) -> dict:
    """The train@dcgan stage's headline model (its first size) retrained with `seed` and scored as the stage scores
    it, its sliders too (the same references, sampling and slider seeds: only the training seed moves); no transfer,
    no MLflow."""

    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.net import Generator
    from models.dcgan.train import build
    from models.metrics import generators as evaluate
    from models.tagger.extractor import PIN, load_extractor
    from stages.train import PATHS

    p = params.dcgan
    size = p.sizes[0]
    data, _ = family.load(params, {**PATHS, "data": data_dir})
    d = data["images"][size]  # family.load: {"images": {size: {split: ...}}, "judge": ...}
    kept = kept_dcgan(params, seed, data_dir)  # the trained G is kept: a later run (a scoring change) re-scores it
    G, doc = trained_generator(
        kept, Generator.load, lambda: build(p, size, d["train"].images, d["train"].labels, seed), p, seed, "dcgan"
    )
    extractor = load_extractor(PIN)
    refs = {
        s: evaluate.reference(extractor, d[s].images, d[s].labels, d["train"].images, p.eval.samples, params.seed)
        for s in ("val", "test")
    }
    prior = ConditionPrior.fit(d["train"].labels)
    scores = family.score(extractor, refs, family.sampler(G, prior), params.seed, conditional=True)
    scores.update(family.slider_scores(p.sliders, params.seed, G, prior, data["judge"]))
    return {**_generator_flat(scores), "steps_done": doc["steps_done"], "train_seconds": doc["train_seconds"]}


def stylegan_figures(params, seed: int, data_dir: Path) -> dict:
    """The train@stylegan stage's headline model (the conditional generator, DCGAN's discriminator) retrained with
    `seed` and scored as the stage scores it, its sliders too (the same references, sampling and slider seeds: only
    the training seed moves); no MLflow."""

    from models.dcgan import family as dcgan_family
    from models.dcgan.conditions import ConditionPrior
    from models.metrics import generators as evaluate
    from models.stylegan import conditional, family
    from models.tagger.extractor import PIN, load_extractor
    from stages.train import PATHS

    p = params.stylegan
    size = p.sizes[0]
    data, _ = family.load(params, {**PATHS, "data": data_dir})
    d = data["images"][size]
    name = "bench-stylegan-" + checkpoint.key(p.model_dump(), size, seed, tracking.dvc_md5(data_dir))
    kept = CACHE / name  # the trained G is kept, as DCGAN's
    G, doc = trained_generator(
        kept,
        conditional.ConditionalGenerator.load,
        lambda: conditional.build(p, size, d["train"].images, d["train"].labels, seed),
        p,
        seed,
        "stylegan",
    )
    extractor = load_extractor(PIN)
    refs = {
        s: evaluate.reference(extractor, d[s].images, d[s].labels, d["train"].images, p.samples, params.seed)
        for s in ("val", "test")
    }
    prior = ConditionPrior.fit(d["train"].labels)
    scores = dcgan_family.score(extractor, refs, dcgan_family.sampler(G, prior), params.seed, conditional=True)
    scores.update(dcgan_family.slider_scores(p.sliders, params.seed, G, prior, data["judge"]))
    return {
        **_generator_flat(scores),
        "steps_done": doc["steps_done"],
        "train_seconds": doc["train_seconds"],
    }


def stylegan_pipeline_run(metrics: Path) -> dict:
    """The committed train@stylegan run (seed = params' seed) in stylegan_figures' shape."""
    m = json.loads(metrics.read_text())["stylegan"]["stylegan"]
    return {**_generator_flat(m), "steps_done": m["steps_done"], "train_seconds": m["train_seconds"]}


def dcgan_pipeline_run(metrics: Path) -> dict:
    """The committed train@dcgan run (seed = params' seed) in dcgan_figures' shape, read from its metrics file."""
    m = json.loads(metrics.read_text())["dcgan"]["dcgan"]
    return {**_generator_flat(m), "steps_done": m["steps_done"], "train_seconds": m["train_seconds"]}


def spread(runs: list[dict]) -> dict:
    """Per figure: mean, sample std (ddof 1; 0 for one run), min, max."""
    out = {}
    for key in runs[0]:
        values = [float(r[key]) for r in runs]
        out[key] = {
            "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="default: the profile of params.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", help="default: seed, seed+1, seed+2 of params")
    ap.add_argument("--only", choices=("tagger", "pose", "dcgan", "stylegan"))
    ap.add_argument(
        "--dcgan-pipeline-run",
        help="metrics/dcgan.json of the committed run: its figures stand for params' seed instead of retraining it",
    )
    ap.add_argument(
        "--stylegan-pipeline-run", help="metrics/stylegan.json of the committed run, as --dcgan-pipeline-run"
    )
    ap.add_argument("--ingest", default="data/ingest")
    ap.add_argument("--render", default="data/render")
    ap.add_argument("--out", help="default: experiments/results/seeds-<profile>-<machine kind>.json")
    args = ap.parse_args()
    params = load_params(args.params, args.profile)
    seeds = args.seeds or [params.seed, params.seed + 1, params.seed + 2]
    from core import machine  # imports torch: after the arguments are read

    out = Path(args.out) if args.out else result_path("seeds", params.profile)

    doc = json.loads(out.read_text()) if out.exists() else {}
    doc.update({"profile": params.profile, "seeds": seeds})
    benches = (
        ("tagger", tagger_figures, args.ingest),
        ("posenet", pose_figures, args.render),
        ("dcgan", dcgan_figures, args.ingest),
        ("stylegan", stylegan_figures, args.ingest),
    )
    pipeline_runs = {"dcgan": (args.dcgan_pipeline_run, dcgan_pipeline_run),
                     "stylegan": (args.stylegan_pipeline_run, stylegan_pipeline_run)}  # fmt: skip
    for model, fn, data in benches:
        if args.only and not model.startswith(args.only):
            continue
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            recorded, read = pipeline_runs.get(model, (None, None))
            if recorded and seed == params.seed:
                runs.append({"seed": seed, "from": recorded, **read(Path(recorded))})
                continue
            runs.append({"seed": seed, **fn(params, seed, Path(data))})
            print(f"seeds: {model} seed {seed}: {runs[-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        figures = [{k: v for k, v in r.items() if k not in ("seed", "from")} for r in runs]
        doc[model] = {"device": machine.describe(), "runs": runs, "spread": spread(figures)}
        write_json(out, doc)
    print(f"seeds: wrote {out}")


if __name__ == "__main__":
    from core.errors import run_main

    run_main(main, "seeds")
