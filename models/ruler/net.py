"""The second ruler's network: a small residual encoder trained self-supervised (SimCLR's objective) on the training
split, whose features are a second space for every generator figure (`fd_ssl`, `kid_ssl`, `precision_ssl`,
`recall_ssl`).

Why a second space: the headline figures are read in the pinned tagger's features (models/tagger/extractor.py), and
the generators are not independent of that network's kind: DCGAN's discriminator reads tags with a tagger-shaped
head, SRGAN's perceptual loss uses the judge tagger's features, and the judge is the same architecture trained on the
same labels with another seed. A generator could learn what such a network attends to without getting better. This
one differs in all three: another architecture (residual blocks with group normalisation and SiLU, against the
tagger's plain convolutions with batch norm and ReLU), another objective (telling two augmented views of one image
from those of every other image in the batch: no label is ever read), and no loss, reader or judge of any model uses
it.

Input: float images [B, 3, S, S] in [0, 1] (S = ruler.size); features: global average of the last stage, `8 *
width` wide. The projection head serves the training loss only: it is saved with the bundle, and no figure reads it.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.engine import bundle

KIND = "ruler"


def _groups(channels: int) -> int:
    return max(1, min(8, channels // 4))


class _Residual(nn.Module):
    """Two 3x3 convolutions (group norm, SiLU) beside a shortcut; the first convolution strides by `stride`."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.GroupNorm(_groups(cout), cout),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.GroupNorm(_groups(cout), cout),
        )
        self.skip = (
            nn.Identity()
            if cin == cout and stride == 1
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.GroupNorm(_groups(cout), cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.body(x) + self.skip(x))


class RulerNet(nn.Module):
    def __init__(self, width: int = 16, size: int = 32, dim: int = 64):
        super().__init__()
        self.config = {"width": width, "size": size, "dim": dim}
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, padding=1, bias=False), nn.GroupNorm(_groups(w), w), nn.SiLU())
        self.stages = nn.Sequential(_Residual(w, 2 * w, 2), _Residual(2 * w, 4 * w, 2), _Residual(4 * w, 8 * w, 2))
        self.feature_dim = 8 * w
        self.project = nn.Sequential(
            nn.Linear(self.feature_dim, self.feature_dim), nn.SiLU(), nn.Linear(self.feature_dim, dim)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [0, 1] -> [B, feature_dim]: the space of fd_ssl and the other `_ssl` figures."""
        if x.shape[-1] != self.config["size"]:
            x = F.interpolate(
                x, size=self.config["size"], mode="area" if x.shape[-1] > self.config["size"] else "bilinear"
            )
        return self.stages(self.stem(x * 2 - 1)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projection the training loss compares, unit length."""
        return F.normalize(self.project(self.features(x)), dim=1)

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> RulerNet:
        def build(config: dict) -> RulerNet:
            return cls(int(config["width"]), int(config["size"]), int(config["dim"]))

        return bundle.load(folder, build, KIND)[0]


def augment(x: torch.Tensor, gen: torch.Generator, min_scale: float, jitter: float) -> torch.Tensor:
    """One random view of each image of `x` [B, 3, S, S] in [0, 1]: a crop of `min_scale` to all of its side, resized
    back to S; a horizontal flip half the time; brightness and contrast moved by up to `jitter`. No hue, saturation
    or greyscale change: colour is what several tags are (hair and eye colour), and a ruler taught to ignore it would
    not see a generator get it wrong."""
    b = x.shape[0]
    u = torch.rand(b, 6, generator=gen)
    scale = min_scale + (1 - min_scale) * u[:, 0]
    flip = torch.where(u[:, 1] < 0.5, -1.0, 1.0)
    tx, ty = (1 - scale) * (2 * u[:, 2] - 1), (1 - scale) * (2 * u[:, 3] - 1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = scale * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = scale, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    bright = (2 * u[:, 4] - 1).mul_(jitter).view(b, 1, 1, 1)
    contrast = (1 + (2 * u[:, 5] - 1) * jitter).view(b, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + bright).clamp_(0, 1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> tuple[torch.Tensor, float]:
    """SimCLR's loss over a batch of pairs (a[i], b[i]): unit vectors [B, D]. Each of the 2B views must pick its pair
    among the other 2B - 1 (cross-entropy of cosine similarities over `temperature`). Returns (loss, the share of
    views whose nearest other view is their pair)."""
    z = torch.cat([a, b])
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = a.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    loss = F.cross_entropy(sim, target)
    hit = (sim.argmax(dim=1) == target).float().mean().item()
    return loss, hit


@torch.no_grad()
def extract(net: RulerNet, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """uint8 [N, S, S, 3] -> float64 [N, feature_dim] in the ruler's feature space."""
    net.eval()
    out = [
        net.features(torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float().div_(255.0)).double().numpy()
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, net.feature_dim))
