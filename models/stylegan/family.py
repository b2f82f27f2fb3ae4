"""The StyleGAN2-style family of the `train` stage (`python -m stages.train --family stylegan`).

For each size of `stylegan.sizes` (32 in `cpu`; the first is the headline), in MLflow experiment `stylegan`:
`anime-stylegan` (models/stylegan/net.py) trained by the engine on the ingest shard, scored like DCGAN
(models/metrics/generators.py: fd_tagger, kid_tagger, precision, recall, ndb_ratio, msssim_diversity, tag_tv; validation
and test, N = `stylegan.samples`, truncation psi = 1), then its attribute sliders (models/stylegan/sliders.py):

- fitted on `sliders.fit` latents labelled by the pinned extractor (the labelling tagger);
- raw or orthogonalised per tag, whichever scores the higher `control_success` on `sliders.val` other latents;
- `control_success` per tag and its mean on `sliders.test` further latents, judged by the judge tagger (the tagger
  stage's second seed, with its own validation thresholds).

The bundle holds the generator (model.safetensors, config.json) and the sliders as arrays (sliders.safetensors:
directions [tags, w_dim] and sigma [tags]; sliders.json: the tag names, which variant each is, the skipped tags, the
test control_success per tag).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from core import checkpoint, tracking
from core.errors import BadInput
from core.names import GROUPS
from core.params import Params
from dataset.shards import ImageShards
from models.engine import distributed, gan, tracked
from models.engine.record import run_record
from models.metrics import generators
from models.stylegan import sliders
from models.stylegan.net import MODEL, Generator
from models.stylegan.task import StyleganTask, latents, render, sampler
from models.tagger.extractor import Tagger, load_judge

SECTION = "stylegan"
INPUTS = ("data", "judge_tagger")  # keys of stages/train.PATHS
SECTIONS = [SECTION]


def load(params: Params, paths: dict[str, Path]) -> tuple[dict, dict]:
    """({"images": {size: {split: uint8 [N, S, S, 3]}}, "judge": the judge tagger}, what to record)."""
    images: dict[int, dict[str, np.ndarray]] = {}
    try:
        for size in params.stylegan.sizes:
            images[size] = {s: ImageShards(paths["data"], size, s).arrays()[0] for s in ("train", "val", "test")}
        judge = load_judge(paths["judge_tagger"])
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    head = images[params.stylegan.sizes[0]]
    for split, x in head.items():
        if len(x) < 8:  # k-nearest-neighbour precision/recall (k = 3) and the NDB bins need a few
            raise BadInput(f"{paths['data']}: the {split} split has {len(x)} images; a generator needs at least 8")
    return {"images": images, "judge": judge}, {"train_images": len(head["train"])}


def _reads(tagger: Tagger, G: Generator, ws: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    return tagger.read(render(G, ws, seed))[1]


def fit_sliders(params: Params, G: Generator, extractor: Tagger, judge: Tagger) -> dict:
    """Directions, sigma, which variant per tag, and control_success on validation and test latents."""
    s = params.stylegan.sliders
    seed = params.seed
    ws_fit = latents(G, s.fit, seed + 10)
    raw, skipped = sliders.fit(ws_fit.numpy(), _reads(extractor, G, ws_fit, seed + 20), s.C, seed)
    orth = sliders.orthogonalised(raw)
    ws_val, ws_test = latents(G, s.val, seed + 11), latents(G, s.test, seed + 12)
    fit_np = ws_fit.numpy()
    val_raw = sliders.control_success(G, judge, ws_val, raw, sliders.spread(fit_np, raw), seed + 21)
    val_orth = sliders.control_success(G, judge, ws_val, orth, sliders.spread(fit_np, orth), seed + 21)
    directions, which = sliders.choose(raw, orth, val_raw, val_orth)
    sigma = sliders.spread(fit_np, directions)
    test = sliders.control_success(G, judge, ws_test, directions, sigma, seed + 22)
    val = {k: (val_orth if which[k] == "orthogonalised" else val_raw)[k] for k in directions}
    return {"directions": directions, "sigma": sigma, "which": which, "skipped": skipped, "test": test, "val": val}


def save_sliders(folder: Path, found: dict) -> None:
    names = list(found["directions"])
    tensors = {
        "directions": torch.from_numpy(
            np.stack([found["directions"][n] for n in names]) if names else np.zeros((0, 1))
        ),
        "sigma": torch.tensor([found["sigma"][n] for n in names], dtype=torch.float32),
    }
    save_file(tensors, str(folder / "sliders.safetensors"))
    doc = {
        "tags": names,
        "variant": found["which"],
        "skipped": found["skipped"],
        "step_sigmas": sliders.STEP_SIGMAS,
        "control_success_by_tag": found["test"],  # shown beside each slider on the page
    }
    (folder / "sliders.json").write_text(json.dumps(doc, indent=1) + "\n")


def run(
    params: Params,
    data: dict,
    extractor: Tagger,
    inputs: list[str],
    out: Path,
    world: distributed.World,
    units: tracking.Units,
) -> dict:
    import mlflow

    p = params.stylegan
    figures: dict = {}
    for i, size in enumerate(p.sizes):
        d = data["images"][size]
        key = checkpoint.key(p.model_dump(), size, params.seed, [tracking.dvc_md5(x) for x in inputs])
        folder = checkpoint.ROOT / "gan" / f"stylegan-{size}-{key}"
        unit = f"stylegan-{size}"
        if not world.main:  # under torchrun: the same training in step with rank 0, which alone scores and registers
            if not distributed.share(False, world):
                gan.train(
                    StyleganTask(d["train"], p, size, params.seed),
                    gan.config(p, params.seed),
                    world=world,
                    folder=folder,
                )
            continue
        section = "stylegan" if i == 0 else f"stylegan_{size}"
        kept = units.earlier(unit, MODEL, out)
        if distributed.share(kept is not None, world):
            figures[section] = kept
            continue
        task = StyleganTask(d["train"], p, size, params.seed)
        unknown = np.full((1, len(GROUPS)), -1)
        refs = {
            s: generators.reference(extractor, d[s], unknown.repeat(len(d[s]), 0), d["train"], p.samples, params.seed)
            for s in ("val", "test")
        }
        with tracking.start_run("stylegan", params, "train", SECTIONS, inputs, run_name=unit):
            mlflow.set_tags({"role": "stylegan", "size": str(size)})
            t0 = time.perf_counter()
            result = tracked.train(task, gan.config(p, params.seed), world=world, folder=folder, desc=unit)
            seconds = time.perf_counter() - t0
            G = result.g_ema
            scores = {}
            for s, ref in refs.items():
                fake = sampler(G)(len(ref.images), None, params.seed)
                got = generators.unconditional_scores(extractor, ref, fake, params.seed)
                scores.update({(k if s == "test" else f"val_{k}"): v for k, v in got.items()})
            extra: dict = {}
            files = []
            bundle_dir = out / unit
            G.save(bundle_dir, {"role": "stylegan", "size": size, "extractor_version": extractor.version})
            if i == 0:
                t1 = time.perf_counter()
                found = fit_sliders(params, G, extractor, data["judge"])
                save_sliders(bundle_dir, found)
                extra = {
                    "control_success": float(np.mean(list(found["test"].values()))) if found["test"] else 0.0,
                    "control_success_by_tag": found["test"],
                    "val_control_success": float(np.mean(list(found["val"].values()))) if found["val"] else 0.0,
                    "val_control_success_by_tag": found["val"],
                    "sliders_orthogonalised": sum(v == "orthogonalised" for v in found["which"].values()),
                    "sliders_skipped": len(found["skipped"]),
                    "sliders_seconds": time.perf_counter() - t1,
                }
                np.save(out / "sheet.npy", _sheet(G, found, params.seed))
                files.append(out / "sheet.npy")
            tracking.log_metrics({**scores, **extra})
            kept = {
                **scores,
                **extra,
                **run_record(result, seconds, size),
            }
            tags = {"role": "stylegan", "size": str(size)}
            kept["version"] = units.register(unit, MODEL, bundle_dir, kept, files, tags)
            checkpoint.clear_states(folder)
        figures[section] = kept
    return figures


SHEET_SLIDERS = ("hair_color=blonde", "hair_length=long", "glasses=yes", "smile=yes")


def _sheet(G: Generator, found: dict, seed: int) -> np.ndarray:
    """48 uncurated samples (psi 1, fixed seed), then one row per slider of SHEET_SLIDERS: a fixed latent moved from
    -3 to +3 sigma in 8 steps."""
    samples = sampler(G)(48, None, seed + 5)
    rows = [samples]
    w0 = latents(G, 1, seed + 6)
    for name in SHEET_SLIDERS:
        if name not in found["directions"]:
            continue
        n = torch.from_numpy(found["directions"][name])
        steps = torch.linspace(-sliders.STEP_SIGMAS, sliders.STEP_SIGMAS, 8)[:, None] * found["sigma"][name]
        rows.append(render(G, w0 + steps * n, seed + 7))
    return np.concatenate(rows)


def sheet(out: Path) -> np.ndarray:
    from synth.sheet import tile

    return tile(np.load(out / "sheet.npy"), cols=8, zoom=2)


def summary(figures: dict) -> str:
    h = figures["stylegan"]
    return (
        f"test fd_tagger {h['fd_tagger']}, precision {h['precision']}, recall {h['recall']}, tag_tv {h['tag_tv']}, "
        f"control_success {h['control_success']} (val {h['val_control_success']}); version {h['version']}"
    )
