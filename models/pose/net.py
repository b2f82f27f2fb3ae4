"""posenet: reads the 11 joints (22 numbers, pixels) from a stick figure, a sketch or a 3D-model projection.

A small encoder-decoder: four stride-2 stages down to S/16 (the whole figure in view, which decides left from
right), back up with skip connections to S/2, one heatmap per joint there, and a soft-argmax that turns each heatmap
into sub-pixel coordinates (integral regression: differentiable, no quantisation to the heatmap grid). Trained with
L1 on the coordinates plus a cross-entropy pull of each heatmap towards a Gaussian at the true joint (as DSNT).

A second branch (its own stride-2 stage on the S/8 features, pooled, a small MLP) gives a unit pose embedding,
trained contrastively so that the stick figure, the sketch and the projection of one pose land together whatever
their kind, place and size: the space of the retrieval index. With `embed_detached` its loss stops at the S/8
features, so that the joints keep the trunk to themselves.

Input float [B, 3, S, S] in [0, 1] (grey kinds repeated to 3 channels); output [B, 11, 2] in input pixels, x right,
y down, pixel centres at integers. Saved as config.json + model.safetensors; nothing is pickled.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from core.names import JOINTS
from models.engine import bundle

EMBED_DIM = 64


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Up(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(cin + cskip, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
        self.conv = _conv(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.conv(self.reduce(torch.cat([x, skip], dim=1)))


class PoseNet(nn.Module):
    def __init__(self, width: int = 32, size: int = 64, embed_detached: bool = False):
        super().__init__()
        if size % 16:
            raise ValueError(f"posenet needs an image size divisible by 16, got {size}")
        # embed_detached: the embedding branch learns on the trunk's S/8 features without changing them
        self.config = {"width": width, "size": size, "joints": list(JOINTS), "embed_detached": embed_detached}
        w = width
        self.enc1 = nn.Sequential(_conv(3, w), _conv(w, w, 2))  # S/2
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))  # S/4
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))  # S/8
        self.enc4 = nn.Sequential(_conv(4 * w, 8 * w, 2), _conv(8 * w, 8 * w))  # S/16
        self.up3 = _Up(8 * w, 4 * w, 4 * w)
        self.up2 = _Up(4 * w, 2 * w, 2 * w)
        self.up1 = _Up(2 * w, w, w)
        self.head = nn.Conv2d(w, len(JOINTS), 1)
        self.embed_dim = EMBED_DIM
        # the embedding branch: its own stride-2 stage on the S/8 features, pooled, then a small MLP
        self.embed_conv = nn.Sequential(_conv(4 * w, 8 * w, 2), _conv(8 * w, 8 * w))
        self.embed_head = nn.Sequential(nn.Linear(8 * w, 8 * w), nn.ReLU(inplace=True), nn.Linear(8 * w, EMBED_DIM))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(joint logits [B, 11, S/2, S/2], unit pose embedding [B, EMBED_DIM]) of images in [0, 1]."""
        e1 = self.enc1(x - 0.5)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        branch_in = e3.detach() if self.config["embed_detached"] else e3
        pooled = self.embed_conv(branch_in).mean(dim=(2, 3))
        emb = nn.functional.normalize(self.embed_head(pooled).float(), dim=1)
        return self.head(self.up1(self.up2(self.up3(e4, e3), e2), e1)), emb

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(joints [B, 11, 2] in input pixels, heatmap log-probabilities [B, 11, H*W], embedding [B, EMBED_DIM])."""
        logits, emb = self.encode(x)
        b, j, h, w = logits.shape
        logp = logits.float().reshape(b, j, h * w).log_softmax(dim=-1)
        p = logp.exp().reshape(b, j, h, w)
        gx = torch.arange(w, dtype=p.dtype, device=p.device)
        gy = torch.arange(h, dtype=p.dtype, device=p.device)
        stride = x.shape[-1] / w
        xs = ((p.sum(dim=2) * gx).sum(-1) + 0.5) * stride - 0.5
        ys = ((p.sum(dim=3) * gy).sum(-1) + 0.5) * stride - 0.5
        return torch.stack([xs, ys], dim=-1), logp, emb

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> PoseNet:
        def build(config: dict) -> PoseNet:
            if config["joints"] != list(JOINTS):
                raise ValueError(f"joints {config['joints']} differ from this code's")
            return cls(int(config["width"]), int(config["size"]), bool(config.get("embed_detached", False)))

        net, config = bundle.load(folder, build, "posenet")
        net.config = {**net.config, **{k: v for k, v in config.items() if k not in net.config}}
        return net


def gaussian_targets(joints: torch.Tensor, size: int, hm: int, sigma: float = 1.0) -> torch.Tensor:
    """Per joint, a normalised Gaussian on the hm x hm heatmap grid at the joint's position: [B, 11, hm*hm]."""
    stride = size / hm
    c = (joints + 0.5) / stride - 0.5  # heatmap coordinates
    g = torch.arange(hm, dtype=torch.float32)
    gx = torch.exp(-((g[None, None, :] - c[..., 0:1]) ** 2) / (2 * sigma**2))  # [B, J, hm]
    gy = torch.exp(-((g[None, None, :] - c[..., 1:2]) ** 2) / (2 * sigma**2))
    t = gy[..., :, None] * gx[..., None, :]
    t = t.reshape(*t.shape[:2], -1)
    return t / t.sum(-1, keepdim=True).clamp_min(1e-12)


def to_input(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> float [N, 3, S, S] in [0, 1], channels-last."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float().div_(255.0)
    return t.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict(net: PoseNet, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 [N, S, S, 3] -> joints float32 [N, 11, 2] in pixels."""
    net.eval()
    out = [net(to_input(x[i : i + batch]))[0].numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 11, 2), np.float32)


@torch.no_grad()
def embed_images(net: PoseNet, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 [N, S, S, 3] -> posenet's unit pose embeddings float32 [N, EMBED_DIM]."""
    net.eval()
    out = [net(to_input(x[i : i + batch]))[2].numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, net.embed_dim), np.float32)
