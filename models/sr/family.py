"""The super-resolution family of the `train` stage (`python -m stages.train --family sr`): 4x, `sr.sizes` are the
high-resolution sides (32 -> 128 px in the `cpu` profile: the generator's 32 px characters to the page's 128, trained
on 64 px crops, `sr.patch`; 64 -> 256 in `gpu`); the first is the headline.

For each size, in MLflow experiment `sr`:
- `anime-sr` (role=sr): SrNet (models/sr/net.py) on the content loss (models/sr/train.py), registered.
- SRGAN candidates: the content model fine-tuned adversarially by the engine, one per `sr.gan.perceptual_weights`,
  each scored on validation; the lowest validation `fd_tagger` (its outputs against the real high-resolution images,
  in the pinned extractor's space; ties: the higher validation PSNR) is registered as `anime-srgan` (role=srgan).
  Test figures are computed only for the chosen one.
- `bicubic`: OpenCV's INTER_CUBIC of the same low-resolution input, the baseline of `psnr_gain_vs_bicubic_db`.

No "floor" is reported: every method's `fd_tagger` is paired, its outputs against the very images they came from, so
a perfect upscaler scores 0; an unpaired floor (other real images against the split) is not that comparison's
reference, and bicubic, scored the same paired way, is.

Every figure on validation (`val_` prefix) and test: N = min(`sr.samples`, split size) images drawn with the
pipeline's seed, the low-resolution input made by area downsampling, PSNR and SSIM over the same pixels for every
method (a border of `scale` pixels dropped, models/metrics/psnr.py). Trains on one process: under torchrun the
other ranks wait.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.errors import BadInput
from core.params import Params
from dataset.shards import ImageShards
from models import metrics
from models.engine import distributed, gan, tracked
from models.engine.plots import UnitPlots, write_fit
from models.engine.record import run_record
from models.sr.net import MODEL_SR, MODEL_SRGAN, SrNet
from models.sr.task import Perceptual, SrganTask
from models.sr.train import bicubic, low_res, train_content, upscale
from models.tagger.extractor import Tagger
from models.tagger.net import TaggerNet

SECTION = "sr"
INPUTS = ("data", "judge_tagger")  # keys of stages/train.PATHS
SECTIONS = [SECTION]


def load(params: Params, paths: dict[str, Path]) -> tuple[dict, dict]:
    """({"images": {size: {split: uint8 [N, S, S, 3]}}, "perceptual": the judge tagger}, what to record)."""
    images: dict[int, dict[str, np.ndarray]] = {}
    try:
        judge_tagger = TaggerNet.load(paths["judge_tagger"])  # first: a missing bundle fails before the shards load
        for size in params.sr.sizes:
            images[size] = {s: ImageShards(paths["data"], size, s).arrays()[0] for s in ("train", "val", "test")}
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    head = images[params.sr.sizes[0]]
    for split, x in head.items():
        if len(x) < 4:
            raise BadInput(f"{paths['data']}: the {split} split has {len(x)} images; super-resolution needs at least 4")
    return {"images": images, "perceptual": judge_tagger}, {"train_images": len(head["train"])}


def _pick(n_rows: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_rows, min(n, n_rows), replace=False))


class Split:
    """One split's scored images: the true ones, their inputs, the bicubic baseline, and the real features (the
    extractor's)."""

    def __init__(self, extractor: Tagger, hi: np.ndarray, scale: int, n: int, seed: int):
        self.hi = hi[_pick(len(hi), n, seed)]
        self.lo = low_res(self.hi, scale)
        self.bicubic = bicubic(self.lo, scale)
        self.crop = scale
        self.features = extractor.features(self.hi)
        self.extractor = extractor
        self.bicubic_psnr = metrics.get("psnr_db").fn(self.bicubic, self.hi, crop=scale)

    def score(self, restored: np.ndarray) -> dict:
        psnr = metrics.get("psnr_db").fn(restored, self.hi, crop=self.crop)
        return {
            "psnr_db": psnr,
            "ssim": metrics.get("ssim").fn(restored, self.hi, crop=self.crop),
            "psnr_gain_vs_bicubic_db": psnr - self.bicubic_psnr,
            "fd_tagger": metrics.get("fd_tagger").fn(self.features, self.extractor.features(restored)),
        }


def _both(splits: dict[str, Split], restore) -> dict:
    """Test figures, and validation ones with a `val_` prefix."""
    out = {}
    for name, split in splits.items():
        for k, v in split.score(restore(split.lo)).items():
            out[k if name == "test" else f"val_{k}"] = v
    return out


def _srgan(params: Params, size: int, w: float, hi: np.ndarray, sr_dir: Path, perceptual: Perceptual, key: str, out):
    """One SRGAN candidate fine-tuned from the content model (inside an open MLflow run), its curve and grids in
    `out`'s plots."""
    G = SrNet.load(sr_dir)
    task = SrganTask(G, hi, params.sr, perceptual, w, params.seed)
    folder = checkpoint.ROOT / "gan" / f"srgan-{size}-{w:g}-{key}"
    plots = UnitPlots(out / tracking.PLOTS, f"srgan-{size}-p{w:g}")
    config = gan.config(params.sr.gan, params.seed)
    result = tracked.train(task, config, folder=folder, desc=f"srgan-{size}-p{w:g}", plots=plots)
    return result, folder, plots


def run(
    params: Params,
    data: dict,
    extractor: Tagger,
    inputs: list[str],
    out: Path,
    world: distributed.World,
    units: tracking.Units,
) -> dict:
    if not world.main:
        return {}
    import mlflow

    p = params.sr
    perceptual = Perceptual(data["perceptual"])
    figures: dict = {}
    for i, size in enumerate(p.sizes):
        d = data["images"][size]
        splits = {s: Split(extractor, d[s], p.scale, p.samples, params.seed) for s in ("val", "test")}
        key = checkpoint.key(p.model_dump(), size, params.seed, [tracking.dvc_md5(x) for x in inputs])
        suffix = "" if i == 0 else f"_{size}"
        sr_dir = out / f"sr-{size}"
        kept = units.earlier(f"sr-{size}", MODEL_SR, out)
        if kept is None:
            with tracking.start_run("sr", params, "train", SECTIONS, inputs, run_name=f"sr-{size}"):
                mlflow.set_tags({"role": "sr", "size": str(size)})
                t0 = time.perf_counter()
                res = train_content(p, d["train"], params.seed, f"sr-{size}-{key}", tracking.log_metrics)
                seconds = time.perf_counter() - t0
                fit = write_fit(out / tracking.PLOTS, f"sr-{size}", res.history, ("l1",))
                scores = _both(splits, lambda lo, net=res.net: upscale(net, lo))
                tracking.log_metrics(scores)
                res.net.save(sr_dir, {"role": "sr", "size": size, "extractor_version": extractor.version})
                kept = {
                    **scores,
                    **run_record(res, seconds, size),
                }
                tags = {"role": "sr", "size": str(size)}
                plots = (out / tracking.PLOTS, [fit.relative_to(out / tracking.PLOTS)])
                kept["version"] = units.register(f"sr-{size}", MODEL_SR, sr_dir, kept, tags=tags, plots=plots)
        figures[f"sr{suffix}"] = kept
        figures[f"srgan{suffix}"] = units.earlier(f"srgan-{size}", MODEL_SRGAN, out) or _srgan_unit(
            params, size, d, splits, sr_dir, perceptual, key, inputs, out, units, sheet=i == 0
        )
        figures[f"bicubic{suffix}"] = _both(splits, lambda lo: bicubic(lo, p.scale))
    return figures


def _srgan_unit(params, size, d, splits, sr_dir, perceptual, key, inputs, out, units, sheet: bool) -> dict:
    """The SRGAN candidates (one per perceptual weight, each its own run), the best on validation scored on test
    and registered; with `sheet`, the contact sheet's rows (registered with it)."""
    import mlflow

    p = params.sr
    candidates = {}
    for w in p.gan.perceptual_weights:
        with tracking.start_run("sr", params, "train", SECTIONS, inputs, run_name=f"srgan-{size}-p{w:g}") as run:
            mlflow.set_tags({"role": "srgan_candidate", "size": str(size), "perceptual_weight": str(w)})
            t0 = time.perf_counter()
            result, folder, plots = _srgan(params, size, w, d["train"], sr_dir, perceptual, key, out)
            val = {f"val_{k}": v for k, v in splits["val"].score(upscale(result.g_ema, splits["val"].lo)).items()}
            tracking.log_metrics(val)
            candidates[w] = (val, result, folder, run.info.run_id, time.perf_counter() - t0, plots)
    best = min(candidates, key=lambda w: (candidates[w][0]["val_fd_tagger"], -candidates[w][0]["val_psnr_db"]))
    val, result, folder, run_id, seconds, plots = candidates[best]
    with mlflow.start_run(run_id=run_id):
        test = {k: v for k, v in splits["test"].score(upscale(result.g_ema, splits["test"].lo)).items()}
        tracking.log_metrics(test)
        mlflow.set_tag("role", "srgan")
        gan_dir = out / f"srgan-{size}"
        result.g_ema.save(gan_dir, {"role": "srgan", "size": size, "perceptual_weight": best})
        files = []
        if sheet:
            t = splits["test"]
            rows = _pick(len(t.hi), 8, params.seed + 5)
            lo = t.lo[rows]
            nearest = np.repeat(np.repeat(lo, p.scale, axis=1), p.scale, axis=2)
            cols = [nearest, t.bicubic[rows], upscale(SrNet.load(sr_dir), lo), upscale(result.g_ema, lo), t.hi[rows]]
            np.save(out / "sheet.npy", np.stack(cols, axis=1).reshape(-1, *t.hi.shape[1:]))
            files.append(out / "sheet.npy")
        kept = {
            **test,
            **val,
            "perceptual_weight": best,
            "val_fd_tagger_by_weight": {f"{w:g}": c[0]["val_fd_tagger"] for w, c in candidates.items()},
            "val_psnr_db_by_weight": {f"{w:g}": c[0]["val_psnr_db"] for w, c in candidates.items()},
            **run_record(result, seconds, keys=("steps_done", "watchdog", "train_seconds")),
        }
        tags = {"role": "srgan", "size": str(size)}
        kept["version"] = units.register(f"srgan-{size}", MODEL_SRGAN, gan_dir, kept, files, tags, plots.stored())
    for _, _, f, _, _, _ in candidates.values():
        checkpoint.clear_states(f)
    return kept


def sheet(out: Path) -> np.ndarray:
    """8 test images (rows, chosen by seed): the input (nearest), bicubic, anime-sr, anime-srgan, the true image."""
    from synth.sheet import tile

    return tile(np.load(out / "sheet.npy"), cols=5, pad=2, zoom=2)


def summary(figures: dict) -> str:
    sr, g, b = figures["sr"], figures["srgan"], figures["bicubic"]
    return (
        f"test psnr_db sr {sr['psnr_db']} (bicubic {b['psnr_db']}, gain {sr['psnr_gain_vs_bicubic_db']}), ssim "
        f"{sr['ssim']}; srgan psnr_db {g['psnr_db']}, fd_tagger {g['fd_tagger']} (sr {sr['fd_tagger']}, bicubic "
        f"{b['fd_tagger']}); versions {sr['version']}, {g['version']}"
    )
