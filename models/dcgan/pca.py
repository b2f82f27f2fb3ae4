"""The PCA-Gaussian baseline of every generator: a Gaussian in the top principal components of the training images.

Fit: the training images as vectors in [0, 1]; their mean and top-k principal directions (k chosen on validation
among `pca.components` to minimise its own `fd_tagger`). Sample: z ~ N(0, diag(variances)) in those k coordinates,
decoded by mean + z @ components, clipped to [0, 1]. A generator that does not beat this has learnt little beyond
the data's second moments. Saved as a bundle of arrays (safetensors + JSON), registered under `anime-dcgan` with
tag role=pca_gaussian.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


class PcaGaussian:
    def __init__(self, mean: np.ndarray, components: np.ndarray, std: np.ndarray, size: int):
        self.mean, self.components, self.std, self.size = mean, components, std, size  # [D], [K, D], [K]

    @classmethod
    def fit(cls, images: np.ndarray, k: int, seed: int = 0) -> PcaGaussian:
        """images uint8 [N, S, S, 3]; k principal components (at most N - 1)."""
        from sklearn.decomposition import PCA

        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        k = min(k, len(x) - 1, x.shape[1])
        pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(x)
        return cls(
            pca.mean_.astype(np.float32),
            pca.components_.astype(np.float32),
            np.sqrt(pca.explained_variance_).astype(np.float32),
            images.shape[1],
        )

    def truncate(self, k: int) -> PcaGaussian:
        """The same fit with only its top k components (one fit serves every k tried)."""
        return PcaGaussian(self.mean, self.components[:k], self.std[:k], self.size)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """uint8 [n, S, S, 3]."""
        z = np.random.default_rng(seed).standard_normal((n, len(self.std))).astype(np.float32) * self.std
        x = np.clip(self.mean + z @ self.components, 0.0, 1.0)
        return (x * 255.0 + 0.5).astype(np.uint8).reshape(n, self.size, self.size, 3)

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean, "components": self.components, "std": self.std}
        save_file(
            {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
            str(folder / "model.safetensors"),
        )
        config = {"kind": "pca_gaussian", "size": self.size, "components": len(self.std), **(extra or {})}
        (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> PcaGaussian:
        try:
            config = json.loads((Path(folder) / "config.json").read_text())
            t = {k: v.numpy() for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}
            return cls(t["mean"], t["components"], t["std"], int(config["size"]))
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{folder}: not a PCA-Gaussian bundle ({err})") from None
