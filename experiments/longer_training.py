"""What more training would give the generators' sliders: the `cpu` profile's `dcgan` and `stylegan` sections trained
for more steps or on bigger batches (on a GPU, where two cores would take hours), scored on validation here.

    .venv/bin/python -m experiments.longer_training prepare                 # after `dvc repro extractor label`
    python -m experiments.longer_training train --arm dcgan_x3 --device cuda --out DIR   # on the GPU machine
    .venv/bin/python -m experiments.longer_training score DIR/dcgan_x3 ...  # back here

`--root` (prepare, score) names another checkout whose `data/` and MLflow store hold those stages' outputs (its
store then holds the pinned extractor's version too, unless MLFLOW_TRACKING_URI says otherwise).

The sliders' `control_success` misses its bar on the `cpu` profile (docs/reports/2026-11-26-dcgan-sliders.md), and
each longer or wider run on two cores takes an hour or more. This study asks what the same settings would reach with
k times the training, the question a GPU answers in minutes:

- `prepare` writes the training split of the pipeline's first DCGAN size, with the conditions the train@dcgan stage
  gives it (models/dcgan/family.load: the `label` stage's tags, the tagger's auto-tags elsewhere), to one `.npz`.
- `train` needs only torch, numpy, PyYAML, pydantic and safetensors: it trains one arm of
  experiments/longer_training.yaml (the committed section with the arm's steps and overrides, the pipeline's seed) on
  that file and saves the EMA generator as the stage saves it (a generator bundle), with the run's record
  (`run.json`: steps reached, seconds, device, precision). `max_minutes` (the yaml's) stops an arm that runs long;
  its figures are then those of the steps it reached, and the record says so.
- `score` scores each saved generator on the **validation** split exactly as experiments/gan_variants.py scores a
  variant (the same latents, conditions, pinned extractor and judge) and writes
  experiments/results/longer-training-cpu-<device>.json. It never computes a test figure.

A GPU's kernels are not the CPU's, so one seed's figures differ from a two-core run of the same settings: the arm
`dcgan_x1` (the committed settings and length) is the control that shows how far.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from core.params import load_params
from experiments import ROOT, merged

SPEC = ROOT / "experiments" / "longer_training.yaml"
DATA = ROOT / ".cache" / "longer_training" / "train.npz"
FAMILIES = ("dcgan", "stylegan")


def read_spec(path: Path = SPEC) -> dict:
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    arms = spec.get("arms")
    if not isinstance(arms, dict) or not isinstance(spec.get("max_minutes"), int | float):
        raise SystemExit(f"{path}: expected max_minutes and arms")
    for name, arm in arms.items():
        if not isinstance(arm, dict) or arm.get("family") not in FAMILIES or not isinstance(arm.get("steps"), int):
            raise SystemExit(f"{path}: arm {name} needs family ({', '.join(FAMILIES)}) and steps")
    return spec


def section(params, arm: dict):
    """The arm's params section: the committed `dcgan` or `stylegan` section with the arm's overrides."""
    base = getattr(params, arm["family"])
    return type(base).model_validate(merged(base.model_dump(), arm.get("overrides") or {}))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paths_under(root: Path) -> dict[str, Path]:
    from stages.train import PATHS

    return {k: root / v for k, v in PATHS.items()}


def use_store_of(root: Path) -> None:
    """Another checkout's outputs: its pin names a version of its own MLflow store (unless MLFLOW_TRACKING_URI says)."""
    if root.resolve() != ROOT and not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(root / 'mlruns' / 'mlflow.db').resolve()}"


def prepare(root: Path, out: Path) -> None:
    from models.dcgan import family

    params = load_params(ROOT / "params.yaml", "cpu")
    data = family.load(params, paths_under(root))[0]
    d = data["images"][params.dcgan.sizes[0]]["train"]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=d.images, labels=d.labels, groups=np.array(d.schema.names))
    print(f"-> {out}: {len(d.images)} training images of {d.images.shape[1]} px, sha256 {sha256(out)[:12]}")


def train(name: str, data: Path, device: str, out: Path, threads: int, spec_path: Path = SPEC) -> None:
    from models.dcgan.train import build
    from models.engine import distributed, gan

    torch.set_num_threads(threads)
    spec = read_spec(spec_path)
    if name not in spec["arms"]:
        raise SystemExit(f"{spec_path}: no arm {name} (arms: {', '.join(spec['arms'])})")
    arm = spec["arms"][name]
    params = load_params(ROOT / "params.yaml", "cpu")
    p = section(params, arm)
    with np.load(data) as f:
        images, labels = f["images"], f["labels"]
    size = p.sizes[0]
    if images.shape[1] != size:
        raise SystemExit(f"{data}: images of {images.shape[1]} px; the arm trains at {size}")
    if arm["family"] == "dcgan":
        task = build(p, size, images, labels, params.seed)
    else:
        from models.stylegan import conditional

        task = conditional.build(p, size, images, labels, params.seed)
    config = dataclasses.replace(gan.config(p, params.seed, arm["steps"]), max_minutes=float(spec["max_minutes"]))
    dev = torch.device(device)
    t0 = time.perf_counter()
    result = gan.train(task, config, world=distributed.World(0, 1, dev), folder=None, desc=name)
    seconds = time.perf_counter() - t0
    folder = out / name
    result.g_ema.cpu().save(folder)
    record = {
        "arm": name,
        **arm,
        "steps_done": result.steps_done,
        "stopped_by_budget": result.stopped_by_budget,
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / max(result.steps_done, 1), 4),
        "watchdog": result.watchdog,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {threads} threads",
        "amp": config.amp,
        "torch": torch.__version__,
        "data_sha256": sha256(data),
        "settings": p.model_dump(mode="json"),
        "date": time.strftime("%Y-%m-%d"),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=1) + "\n")
    print(name, json.dumps({k: record[k] for k in ("steps_done", "stopped_by_budget", "seconds", "device")}))


def device_kind(device: str) -> str:
    """A result file's device word: `H100` of "NVIDIA H100 80GB HBM3", `cpu` of a CPU run."""
    from core.machine import gpu_kind

    return "cpu" if device.startswith("cpu") else (gpu_kind(device) or "cuda")


def score(folders: list[Path], root: Path, data: Path, out: Path | None) -> Path:
    from experiments.gan_variants import validation_figures
    from experiments.stylegan_routes import record
    from models.dcgan import family
    from models.dcgan.net import Generator
    from models.stylegan.conditional import load_generator

    runs = [json.loads((f / "run.json").read_text()) for f in folders]
    if any(r["data_sha256"] != sha256(data) for r in runs):
        raise SystemExit(f"{data}: not the training file the arms trained on (sha256 differs): run prepare again")
    devices = {device_kind(r["device"]) for r in runs}
    if len(devices) != 1:
        raise SystemExit(f"the arms ran on several devices ({', '.join(sorted(devices))}): score them apart")
    use_store_of(root)
    params = load_params(ROOT / "params.yaml", "cpu")
    loaded = family.load(params, paths_under(root))[0]
    pin = root / "data" / "extractor" / "pin.json"
    out = out or ROOT / "experiments" / "results" / f"longer-training-cpu-{devices.pop()}.json"
    doc = json.loads(out.read_text()) if out.exists() else {"split": "val", "arms": {}}
    for folder, run in zip(folders, runs, strict=True):
        G = Generator.load(folder) if run["family"] == "dcgan" else load_generator(folder)
        G.eval()
        t0 = time.perf_counter()
        # every arm is scored with the dcgan section's scoring settings, as experiments/stylegan_routes.py does
        figures = validation_figures(G, params.dcgan, loaded, pin)
        doc["arms"][run["arm"]] = {**run, **figures}
        print(run["arm"], f"scored in {time.perf_counter() - t0:.0f} s:", json.dumps(figures)[:300], flush=True)
        out.write_text(json.dumps(doc, indent=1) + "\n")
    doc["record"] = record(ROOT / "metrics")
    doc["baseline"] = pca_baseline(params, loaded, pin)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {out}")
    return out


def pca_baseline(params, loaded: dict, pin: Path) -> dict:
    """The PCA-Gaussian baseline as the train@dcgan stage fits it (its components chosen by validation `fd_tagger`),
    scored on validation with this study's extractor: the bar `fd_tagger` is measured against. (The committed
    record's baseline was scored with the record's own extractor, another tagger run, so its figure is not this
    study's ruler.)"""
    from models.dcgan.pca import PcaGaussian
    from models.metrics import generators
    from models.tagger.extractor import load_extractor

    p, seed = params.dcgan, params.seed
    d = loaded["images"][p.sizes[0]]
    extractor = load_extractor(pinned=str(pin))
    ref = generators.reference(extractor, d["val"].images, d["val"].labels, d["train"].images, p.eval.samples, seed)
    full = PcaGaussian.fit(d["train"].images, max(p.eval.pca_components), seed)
    by_k = {}
    for k in p.eval.pca_components:
        fake = full.truncate(k).sample(len(ref.images), seed)
        by_k[k] = generators.unconditional_scores(extractor, ref, fake, seed)["fd_tagger"]
    best = min(by_k, key=lambda k: (by_k[k], k))
    scores = generators.unconditional_scores(extractor, ref, full.truncate(best).sample(len(ref.images), seed), seed)
    return {
        **{f"val_{k}": round(scores[k], 4) for k in ("fd_tagger", "precision", "recall")},
        "components": best,
        "val_fd_tagger_by_components": {str(k): round(v, 4) for k, v in by_k.items()},
    }


def baseline_only(result: Path, root: Path) -> None:
    """Add the baseline to a result that `score` wrote before it computed one."""
    from models.dcgan import family

    doc = json.loads(result.read_text())
    use_store_of(root)
    params = load_params(ROOT / "params.yaml", "cpu")
    doc["baseline"] = pca_baseline(
        params, family.load(params, paths_under(root))[0], root / "data" / "extractor" / "pin.json"
    )
    result.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {result}: baseline {doc['baseline']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("prepare", help="the training split, with its conditions, to one .npz")
    a.add_argument("--root", default=str(ROOT), help="the folder whose data/ holds the pipeline's outputs")
    a.add_argument("--data", default=str(DATA))
    a = sub.add_parser("train", help="train one arm and save its EMA generator")
    a.add_argument("--arm", required=True)
    a.add_argument("--spec", default=str(SPEC))
    a.add_argument("--data", default=str(DATA))
    a.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a.add_argument("--threads", type=int, default=4)
    a.add_argument("--out", required=True)
    a = sub.add_parser("score", help="validation figures of saved arms")
    a.add_argument("folders", nargs="+")
    a.add_argument("--root", default=str(ROOT))
    a.add_argument("--data", default=str(DATA))
    a.add_argument("--out")
    a = sub.add_parser("baseline", help="add the PCA-Gaussian baseline to an existing result")
    a.add_argument("result")
    a.add_argument("--root", default=str(ROOT))
    args = ap.parse_args()
    if args.command == "baseline":
        baseline_only(Path(args.result), Path(args.root))
    elif args.command == "prepare":
        prepare(Path(args.root), Path(args.data))
    elif args.command == "train":
        train(args.arm, Path(args.data), args.device, Path(args.out), args.threads, Path(args.spec))
    else:
        score([Path(f) for f in args.folders], Path(args.root), Path(args.data), Path(args.out) if args.out else None)


if __name__ == "__main__":
    main()
