"""What `recall` (k = 3, in the pinned tagger's feature space) reads on real images made slightly worse: why DCGAN-32
has precision near 1 and recall near 0 (docs/dcgan.md).

    .venv/bin/python -m experiments.recall_probe   # after `make pipeline`

It writes experiments/results/recall-probe-cpu-<machine kind>.json.

Validation split only. Rows: the committed DCGAN-32 bundle's samples, training images (the floor), and validation
images after a 3×3 Gaussian blur (σ 0.8), Gaussian pixel noise (σ 8), and a 2× area down-up resize. For each: precision,
recall, and the median k-NN radius of its features beside the real images' own.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import torch

from core.params import load_params
from dataset.shards import ImageShards
from experiments import ROOT, result_path
from models.dcgan.conditions import ConditionPrior
from models.dcgan.family import sampler
from models.dcgan.net import Generator
from models.metrics import generators as evaluate
from models.metrics.prd import _knn_radii_sq, precision, recall
from models.tagger.extractor import load_extractor


def main() -> None:
    torch.set_num_threads(2)
    params = load_params(ROOT / "params.yaml", "cpu")
    size, n, seed = params.dcgan.sizes[0], params.dcgan.eval.samples, params.seed
    folder = ROOT / "data/train/dcgan" / f"dcgan-{size}"
    G = Generator.load(folder)
    data = ROOT / "data/ingest"
    x, y = ImageShards(data, size, "train").arrays()
    vx, vy = ImageShards(data, size, "val").arrays()
    extractor = load_extractor(pinned=str(ROOT / "data/extractor/pin.json"))
    ref = evaluate.reference(extractor, vx, vy, x, n, seed)
    real = ref.images
    rng = np.random.default_rng(seed)
    rows = {
        "dcgan_samples": sampler(G, ConditionPrior.fit(y))(len(real), None, seed),
        "train_images": x[rng.choice(len(x), len(real), replace=False)],
        "val_blur_3x3": np.stack([cv2.GaussianBlur(im, (3, 3), 0.8) for im in real]),
        "val_noise_8": np.clip(real + rng.normal(0, 8, real.shape), 0, 255).astype(np.uint8),
        "val_down_up_2x": np.stack(
            [
                cv2.resize(cv2.resize(im, (size // 2, size // 2), interpolation=cv2.INTER_AREA), (size, size))
                for im in real
            ]
        ),
    }

    def radius(f: np.ndarray) -> float:
        return round(float(np.median(np.sqrt(_knn_radii_sq(f.astype(np.float64), 3)))), 3)

    out = {
        "split": "val",
        "n": len(real),
        "extractor_version": extractor.version,
        "real_knn_radius": radius(ref.features),
    }
    for name, images in rows.items():
        f, _ = extractor.read(images)
        out[name] = {
            "precision": round(precision(ref.features, f), 4),
            "recall": round(recall(ref.features, f), 4),
            "knn_radius": radius(f),
        }
        print(name, out[name], flush=True)
    path = result_path("recall-probe", "cpu")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"-> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
