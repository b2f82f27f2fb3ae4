"""pix2pix-style networks for pose -> sketch (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator.

`UNet`: the stick figure (RGB, [-1, 1]) in, the sketch (one channel, [-1, 1]) out. Strided 4x4 convolutions halve
the image down to 4x4 (channels ngf, 2 ngf, 4 ngf, 8 ngf, then 8 ngf), transposed convolutions double it back, each
joined with the encoder's map of the same size (the U-Net skips that carry where the limbs are); instance norm, so
the output of an image does not depend on the rest of its batch and there is no running statistic to recalibrate.

`PatchD`: the sketch and the stick figure stacked (4 channels), three strided convolutions and a 1-channel one: a
logit per overlapping patch (an 8x8 map at 64 px, each patch seeing ~34 px), so D judges local texture and lines.
D(x, stick) -> (logits [B, patches], {}) for the engine (models/engine/gan.py).
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from models.engine import bundle

MODEL = "anime-pose2sketch"


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    layers += [nn.InstanceNorm2d(cout, affine=True)] if norm else []
    return nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True)
    )


class UNet(nn.Module):
    def __init__(self, size: int = 64, ngf: int = 32):
        super().__init__()
        if size < 16 or size & (size - 1):
            raise ValueError(f"size must be a power of two of at least 16; got {size}")
        self.config = {"size": size, "ngf": ngf}
        depth = int(math.log2(size)) - 2  # down to 4x4
        chans = [min(ngf * 2**i, 8 * ngf) for i in range(depth)]
        self.downs = nn.ModuleList([_down(3 if i == 0 else chans[i - 1], c, norm=i > 0) for i, c in enumerate(chans)])
        ups = []
        for i in range(depth - 1, 0, -1):  # from 4x4 up to size / 2, each joined with the encoder's map after it
            cin = chans[i] if i == depth - 1 else 2 * chans[i]
            ups.append(_up(cin, chans[i - 1]))
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * chans[0], 1, 4, 2, 1), nn.Tanh())

    def forward(self, stick: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [-1, 1] -> [B, 1, S, S] in [-1, 1]."""
        skips = []
        x = stick
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for up, skip in zip(self.ups, reversed(skips[:-1]), strict=True):
            x = torch.cat([up(x), skip], dim=1)
        return self.out(x)

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> UNet:
        return bundle.load(folder, lambda c: cls(c["size"], c["ngf"]), "pose2sketch")[0]


class PatchD(nn.Module):
    def __init__(self, ndf: int = 32):
        super().__init__()
        self.config = {"ndf": ndf}
        self.net = nn.Sequential(
            _down(4, ndf, norm=False), _down(ndf, 2 * ndf), _down(2 * ndf, 4 * ndf), nn.Conv2d(4 * ndf, 1, 3, 1, 1)
        )

    def forward(self, sketch: torch.Tensor, stick: torch.Tensor) -> tuple[torch.Tensor, dict]:
        return self.net(torch.cat([sketch, stick], dim=1)).flatten(1), {}
