"""The pose -> sketch family of the `train` stage (`python -m stages.train --family pose2sketch`).

Trains `anime-pose2sketch` (models/pose2sketch/: U-Net + PatchGAN, L1 + adversarial, on the engine) on the render
stage's training pairs at the render size (64 px in `cpu`), in MLflow experiment `pose2sketch`, and scores it on
validation (`val_` prefix) and test, N = min(`pose2sketch.samples`, split size) pairs drawn with the pipeline's seed:

- `l1` (mean absolute grey-level difference to the true sketch, 0..1) and `ssim` (models/metrics/ssim.py);
- `pck_0_05`: pose fidelity, the pose stage's posenet reading the generated sketch against the input's true joints.
  Posenet reads stick figures too, so a generator that copied its input would pass this alone: hence
- `retrieval`, the baseline: the training sketch of the training 3D-model projection the pose stage's index returns
  for the input stick figure, as the service returns its reference (posenet's pose embedding of the figure as the
  query, the embedding's nearest re-ranked by the input's joints under the index's settings), scored the same way;
- `floor`: posenet on the true sketches (`pck_0_05`'s ceiling for a perfect generator; L1 0, SSIM 1).

Annotated pose/sketch pairs would join the training pairs; the label stage has none to give yet (docs/pose2sketch.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.errors import BadInput
from core.params import Params
from models import metrics
from models.engine import distributed, gan, tracked
from models.engine.plots import UnitPlots
from models.engine.record import run_record
from models.pose.net import PoseNet, embed_images, predict
from models.pose.retrieval import RetrievalIndex
from models.pose2sketch.net import MODEL
from models.pose2sketch.task import Pose2sketchTask, draw
from models.tagger.extractor import Tagger
from synth.pose.poseset import PoseSet

SECTION = "pose2sketch"
INPUTS = ("render", "posenet")  # keys of stages/train.PATHS
SECTIONS = [SECTION]


def load(params: Params, paths: dict[str, Path]) -> tuple[dict, dict]:
    """({"splits": {split: (sticks, sketches, joints)}, "posenet", "index" (training projections)}, record)."""
    try:
        ps = PoseSet(paths["render"])
        splits = {}
        for s in ("train", "val", "test"):
            sticks, joints = ps.split(s, "stick")
            sketches = ps.split(s, "sketch")[0][..., 0]
            splits[s] = (sticks, sketches, joints)
        posenet = PoseNet.load(paths["posenet"])
        index = RetrievalIndex.load(paths["posenet"])
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    train_ids = [ps.meta[i]["id"] for i in ps.rows("train")]
    where = {pid: k for k, pid in enumerate(index.ids)}
    missing = [pid for pid in train_ids if pid not in where]
    if missing:
        raise BadInput(
            f"{paths['posenet']}: the retrieval index lacks {len(missing)} training poses (e.g. {missing[0]})"
        )
    for s, (x, _, _) in splits.items():
        if len(x) < 4:
            raise BadInput(f"{paths['render']}: the {s} split has {len(x)} pairs; pose -> sketch needs at least 4")
    rows = [where[pid] for pid in train_ids]
    joints = index.joints[rows] if index.joints is not None else None
    train_index = RetrievalIndex(index.embeddings[rows], train_ids, joints, index.k, index.weight)
    data = {"splits": splits, "posenet": posenet, "index": train_index, "size": ps.size}
    return data, {"train_pairs": len(train_ids), "annotated_pairs": 0}


def _pick(n_rows: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_rows, min(n, n_rows), replace=False))


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=3)


def scores(sketches: np.ndarray, truth: np.ndarray, joints: np.ndarray, posenet: PoseNet, size: int) -> dict:
    """l1, ssim and pck_0_05 of uint8 sketches [N, S, S] against the true ones and the input's joints."""
    return {
        "l1": metrics.get("l1").fn(sketches, truth),
        "ssim": metrics.get("ssim").fn(_rgb(sketches), _rgb(truth)),
        "pck_0_05": metrics.get("pck_0_05").fn(predict(posenet, _rgb(sketches)), joints, size),
    }


def retrieve(data: dict, sticks: np.ndarray, joints: np.ndarray | None = None) -> np.ndarray:
    """The baseline: the training sketch of the training projection the index returns for each stick figure (its
    `joints` [N, 11, 2], when given, re-rank the embedding's nearest: RetrievalIndex.nearest)."""
    rows = data["index"].nearest(embed_images(data["posenet"], sticks), joints)
    return data["splits"]["train"][1][rows]


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

    p = params.pose2sketch
    size, posenet = data["size"], data["posenet"]
    unit = f"pose2sketch-{size}"
    kept = units.earlier(unit, MODEL, out)
    if kept is not None:  # the version goes where this family's figures keep it
        kept["pose2sketch"]["version"] = kept.pop("version")
        return kept
    picked = {}
    for s in ("val", "test"):
        sticks, sketches, joints = data["splits"][s]
        rows = _pick(len(sticks), p.samples, params.seed)
        picked[s] = (sticks[rows], sketches[rows], joints[rows])
    tr_sticks, tr_sketches, _ = data["splits"]["train"]
    key = checkpoint.key(p.model_dump(), size, params.seed, [tracking.dvc_md5(x) for x in inputs])
    folder = checkpoint.ROOT / "gan" / f"pose2sketch-{size}-{key}"
    with tracking.start_run("pose2sketch", params, "train", SECTIONS, inputs, run_name=unit):
        mlflow.set_tags({"role": "pose2sketch", "size": str(size)})
        task = Pose2sketchTask(tr_sticks, tr_sketches, p, size, params.seed)
        t0 = time.perf_counter()
        plots = UnitPlots(out / tracking.PLOTS, unit)
        result = tracked.train(task, gan.config(p, params.seed), folder=folder, desc=unit, plots=plots)
        seconds = time.perf_counter() - t0
        figures: dict = {"pose2sketch": {}, "retrieval": {}, "floor": {}}
        drawn = {}
        for s, (sticks, truth, joints) in picked.items():
            prefix = "" if s == "test" else "val_"
            drawn[s] = (draw(result.g_ema, sticks), retrieve(data, sticks, joints))
            for name, sk in zip(("pose2sketch", "retrieval"), drawn[s], strict=True):
                figures[name].update({prefix + k: v for k, v in scores(sk, truth, joints, posenet, size).items()})
            floor_pck = metrics.get("pck_0_05").fn(predict(posenet, _rgb(truth)), joints, size)
            figures["floor"][prefix + "pck_0_05"] = floor_pck
        tracking.log_metrics(figures["pose2sketch"])
        bundle_dir = out / unit
        result.g_ema.save(bundle_dir, {"role": "pose2sketch", "posenet_inputs": inputs[1]})
        figures["pose2sketch"].update(run_record(result, seconds, size))
        sticks, truth, _ = picked["test"]
        rows = _pick(len(sticks), 8, params.seed + 5)
        gen, ret = drawn["test"]
        cols = [sticks[rows], _rgb(gen[rows]), _rgb(ret[rows]), _rgb(truth[rows])]
        np.save(out / "sheet.npy", np.stack(cols, axis=1).reshape(-1, *sticks.shape[1:]))
        tags = {"role": "pose2sketch", "size": str(size)}
        version = units.register(unit, MODEL, bundle_dir, figures, [out / "sheet.npy"], tags, plots.stored())
        checkpoint.clear_states(folder)
    figures["pose2sketch"]["version"] = version
    return figures


def sheet(out: Path) -> np.ndarray:
    """8 test poses (rows, chosen by seed): the stick figure, anime-pose2sketch, the retrieval baseline, the truth."""
    from synth.sheet import tile

    return tile(np.load(out / "sheet.npy"), cols=4, pad=2, zoom=2)


def summary(figures: dict) -> str:
    g, r = figures["pose2sketch"], figures["retrieval"]
    return (
        f"test pck_0_05 {g['pck_0_05']} (true sketches {figures['floor']['pck_0_05']}), l1 {g['l1']} (retrieval "
        f"{r['l1']}), ssim {g['ssim']} (retrieval {r['ssim']}); version {g['version']}"
    )
