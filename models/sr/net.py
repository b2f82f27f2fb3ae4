"""The super-resolution networks: an SRResNet-style generator and SRGAN's discriminator.

`SrNet` (Ledig et al. 2017, without batch norm as in EDSR, Lim et al. 2017): a 3x3 head, `blocks` residual blocks
(conv-ReLU-conv plus the input) at the low resolution with a long skip over them, then per 2x a convolution to 4x
the channels, a pixel shuffle and a PReLU (sub-pixel upsampling, Shi et al. 2016), and a 3x3 tail to RGB. Its output
is added to the bicubic upsampling of its input (a global residual, as in VDSR): the tail starts at zero, so an
untrained network is exactly bicubic and training learns only the detail bicubic misses. Images in [-1, 1].

`SrDiscriminator`: SRGAN's, scaled down: strided 3x3 convolutions with LeakyReLU (no batch norm: R1 and the engine's
per-rank batches want none) to a 4x4 map, then a linear logit. D(x, cond) -> (logits [B], {}) for the engine.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from models.engine import bundle

MODEL_SR = "anime-sr"
MODEL_SRGAN = "anime-srgan"


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SrNet(nn.Module):
    def __init__(self, channels: int = 48, blocks: int = 8, scale: int = 4):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two; got {scale}")
        self.config = {"channels": channels, "blocks": blocks, "scale": scale}
        self.scale = scale
        c = channels
        self.head = nn.Conv2d(3, c, 3, 1, 1)
        self.body = nn.Sequential(*[_Residual(c) for _ in range(blocks)], nn.Conv2d(c, c, 3, 1, 1))
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(c)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(c, 3, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """[B, 3, s, s] in [-1, 1] -> [B, 3, scale * s, scale * s]."""
        x = self.head(lr)
        x = x + self.body(x)
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.tail(self.up(x))

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> SrNet:
        return bundle.load(folder, lambda c: cls(c["channels"], c["blocks"], c["scale"]), "sr")[0]


class SrDiscriminator(nn.Module):
    def __init__(self, size: int = 64, ndf: int = 32):
        super().__init__()
        self.config = {"size": size, "ndf": ndf}
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        ch, s = ndf, size
        while s > 4:
            out = min(ch * 2, 8 * ndf)
            layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            ch, s = out, s // 2
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(ch * 16, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        return self.out(self.features(x).flatten(1)).squeeze(1), {}
