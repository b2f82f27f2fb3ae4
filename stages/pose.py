"""Stage `pose`: train posenet on the rendered pose sets and build the retrieval index over 3D-model projections.

    python -m stages.pose      # data/pose/ (bundle: posenet + index), metrics/pose.json, MLflow `posenet`

- posenet (models/posenet.py) learns the 11 joints from the kinds in `pose.kinds` (stick figures, sketches and
  projections by default), mixed; `pck_0_05` is reported on the test split per kind.
- The retrieval index embeds 3D-model projections from the images alone (posenet's joints, centred and scaled:
  models/pose_train.embed) in scikit-learn NearestNeighbors. `retrieval_top1`: the test stick figures queried
  against the test projections (at least 1,000 in the cpu profile); top-1 is a hit when the projection of the same
  pose and camera comes back first. `retrieval_top1_all`: the same queries against every split's projections (the
  index that is saved and served).
- One MLflow run (experiment `posenet`) with the figures, a per-joint error plot and a grid of test predictions; the
  bundle (model.safetensors, config.json, index.npz, index.json) is registered as a version of `anime-posenet` with
  alias `challenger`, and `champion` too when the model has none yet (the evaluate stage moves it later).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from core import checkpoint, tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params
from dataset.posegen import draw_stick
from dataset.poseset import PoseSet
from dataset.skeleton import JOINTS, STICK_INDEX
from models.pose_train import (
    PoseTrainConfig,
    RetrievalIndex,
    embed_images,
    embed_joints,
    pck,
    per_joint_error,
    predict,
    random_placement,
    retrieval_top1,
    train_posenet,
)

RENDER = Path("data/render")  # the render stage's output (stages/render.OUT)

OUT = Path("data/pose")
METRICS = Path("metrics/pose.json")
MODEL = "anime-posenet"
KINDS = ("stick", "sketch", "projection")


def _overlay(images: np.ndarray, pred: np.ndarray, truth: np.ndarray, zoom: int = 3) -> np.ndarray:
    """A grid of images with truth (green) and prediction (red) skeletons."""
    import cv2

    tiles = []
    for img, p, t in zip(images, pred, truth):
        big = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST).copy()
        for pts, color in ((t, (0, 170, 0)), (p, (220, 0, 0))):
            q = (pts + 0.5) * zoom - 0.5
            for a, b in STICK_INDEX:
                cv2.line(big, tuple(int(v) for v in q[a]), tuple(int(v) for v in q[b]), color, 1, cv2.LINE_AA)
        tiles.append(big)
    cols = 8
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i : i + cols], axis=1) for i in range(0, len(tiles), cols)]
    return np.concatenate(rows, axis=0)


def _replaced_sticks(joints: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The stick figures of these poses drawn again at a random scale (0.75-1.25) and place: (joints, images)."""
    import torch

    gen = torch.Generator().manual_seed(seed + 0x51C)
    _, moved = random_placement(torch.from_numpy(np.array(joints, np.float32)), size, gen, (0.75, 1.25), 3.0)
    moved = moved.numpy()
    rng = np.random.default_rng([seed, 0x51C])
    return moved, np.stack([draw_stick(j, size, 4, rng) for j in moved])


def _joint_plot(errors: dict[str, np.ndarray]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(errors)
    for k, (kind, e) in enumerate(errors.items()):
        ax.bar(np.arange(len(JOINTS)) + k * width, e, width, label=kind)
    ax.set_xticks(np.arange(len(JOINTS)) + 0.4 - width / 2, JOINTS, rotation=45, ha="right")
    ax.set_ylabel("mean error (px)")
    ax.legend()
    fig.tight_layout()
    return fig


def run(params: Params, render_dir: Path, out: Path) -> dict:
    pp = params.pose
    tracking.preflight()
    try:
        ps = PoseSet(render_dir)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    size = ps.size
    if size % 16:
        raise BadInput(f"{render_dir}: posenet needs an image size divisible by 16, the pose set has {size}")
    splits = {s: {k: ps.split(s, k) for k in KINDS} for s in ("train", "val", "test")}
    for s in splits:
        if len(splits[s]["stick"][0]) < 2:
            raise BadInput(f"{render_dir}: the {s} split has fewer than 2 poses")
    train_images = {k: splits["train"][k][0] for k in pp.kinds}
    y_tr = splits["train"]["stick"][1]
    cfg = PoseTrainConfig(
        width=pp.width,
        size=size,
        epochs=pp.epochs,
        batch=pp.batch,
        lr=pp.lr,
        weight_decay=pp.weight_decay,
        heatmap_weight=pp.heatmap_weight,
        sigma=pp.sigma,
        place=pp.place,
        scale=(pp.scale.lo, pp.scale.hi),
        embed_weight=pp.embed_weight,
        embed_detached=pp.embed_detached,
        temperature=pp.temperature,
        max_minutes=pp.max_minutes,
    )
    inputs = [str(render_dir)]
    ckpt = "posenet-" + checkpoint.key(
        pp.model_dump(), dataclasses.asdict(cfg), params.seed, [tracking.dvc_md5(p) for p in inputs]
    )
    with atomic_path(out) as tmp, tracking.start_run("posenet", params, "pose", ["pose", "render"], inputs, "posenet"):
        import matplotlib.pyplot as plt

        res = train_posenet(
            train_images, y_tr, cfg, params.seed, ckpt, log=lambda m, step: tracking.log_metrics(m, step)
        )
        figures: dict = {"val": {}, "test": {}}
        preds: dict = {}
        t_infer, n_infer = 0.0, 0
        for s in ("val", "test"):
            for k in KINDS:
                x, y = splits[s][k]
                t0 = time.perf_counter()
                p = predict(res.net, x)
                if s == "test":
                    t_infer += time.perf_counter() - t0
                    n_infer += len(x)
                preds[s, k] = p
                figures[s][k] = {
                    "pck_0_05": pck(p, y, size),
                    "px_error": float(np.linalg.norm(p - y, axis=-1).mean()),
                }
        # the retrieval index: embeddings of projections, from the images alone. The queries are the test stick
        # figures drawn anew at another random scale and place, so that a hit cannot come from where the figure sits
        query_joints, query = _replaced_sticks(splits["test"]["stick"][1], size, params.seed)
        proj = {s: splits[s]["projection"][0] for s in ("train", "val", "test")}
        emb = {s: embed_images(res.net, proj[s]) for s in proj}
        ids = {s: [ps.meta[i]["id"] for i in ps.rows(s)] for s in proj}
        q_emb = embed_images(res.net, query)
        own = np.arange(len(query))
        top1 = retrieval_top1(RetrievalIndex(emb["test"], ids["test"]), q_emb, own)
        q_pred = predict(res.net, query)
        top1_joints = retrieval_top1(
            RetrievalIndex(embed_joints(preds["test", "projection"]), ids["test"]), embed_joints(q_pred), own
        )
        index_all = RetrievalIndex(np.concatenate([emb[s] for s in proj]), sum((ids[s] for s in proj), []))
        top1_all = retrieval_top1(index_all, q_emb, own + len(emb["train"]) + len(emb["val"]))

        test = figures["test"]
        metrics = {
            "pck_0_05": {k: round(test[k]["pck_0_05"], 4) for k in KINDS},
            "px_error": {k: round(test[k]["px_error"], 3) for k in KINDS},
            "pck_0_05_stick_replaced": round(pck(q_pred, query_joints, size), 4),
            "val_pck_0_05": {k: round(figures["val"][k]["pck_0_05"], 4) for k in KINDS},
            "retrieval_top1": round(top1, 4),
            "retrieval_candidates": len(emb["test"]),
            "retrieval_top1_joints": round(top1_joints, 4),
            "retrieval_top1_all": round(top1_all, 4),
            "index_size": len(index_all.ids),
            "train_images": sum(len(v) for v in train_images.values()),
            "train_seconds": round(res.seconds, 1),
            "inference_images_per_s": round(n_infer / max(t_infer, 1e-9), 1),
            "epochs_done": res.epochs_done,
            "stopped_by_budget": res.stopped_by_budget,
            "size": size,
        }
        tracking.log_metrics(metrics)
        errors = {k: per_joint_error(preds["test", k], splits["test"][k][1]) for k in KINDS}
        fig = _joint_plot(errors)
        tracking.log_figure(fig, "per_joint_error.png")
        plt.close(fig)
        for k in ("stick", "sketch"):
            x, y = splits["test"][k]
            tracking.log_image(_overlay(x[:32], preds["test", k][:32], y[:32]), f"test_{k}_predictions.png")
        tmp.mkdir(parents=True)
        res.net.save(tmp, {"kinds": list(pp.kinds), "epochs_done": res.epochs_done, "seed": params.seed})
        index_all.save(tmp, {"size": size})
        mlflow, client = tracking._client()
        version = tracking.register_bundle(tmp, MODEL, alias="challenger", tags={"role": "posenet"})
        try:
            client.get_model_version_by_alias(MODEL, "champion")
        except mlflow.exceptions.MlflowException:
            client.set_registered_model_alias(MODEL, "champion", version)
        metrics["version"] = version
        write_json(tmp / "metrics.json", metrics)
    if res.stopped_by_budget:
        print(f"pose: stopped by pose.max_minutes after {res.epochs_done} of {pp.epochs} epochs")
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default=str(RENDER))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    params = load_params(args.params)
    metrics = run(params, Path(args.data), Path(args.out))
    write_json(args.metrics, {"pose": metrics})
    print(
        f"pose: pck_0_05 stick {metrics['pck_0_05']['stick']}, sketch {metrics['pck_0_05']['sketch']}, projection "
        f"{metrics['pck_0_05']['projection']}; retrieval_top1 {metrics['retrieval_top1']} among "
        f"{metrics['retrieval_candidates']}; anime-posenet version {metrics['version']}"
    )


if __name__ == "__main__":
    run_main(main, "pose")
