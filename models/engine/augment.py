"""Differentiable augmentation for small data sets (DiffAugment, Zhao et al. 2020): translation, cutout, colour.

The same random transform family is applied to every image the discriminator sees, real and generated, in both the
D and the G step, so D cannot memorise a few hundred images and G still receives gradients through the transform.
Each transform draws its randomness from the engine's generator for the whole *global* batch and keeps this
process's rows: under torchrun every rank draws the same numbers, and a resumed run draws what an unbroken one would.

Input and output: float images [B, 3, H, W] in [-1, 1].
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _color(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    # r [B, 3]: brightness shift, saturation scale, contrast scale (DiffAugment's ranges)
    x = x + (r[:, 0:1, None, None] - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r[:, 1:2, None, None] * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r[:, 2:3, None, None] + 0.5) + mean


def _translation(x: torch.Tensor, r: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    # r [B, 2] in [0, 1): shifts of up to ratio * side, zero padding
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = (r[:, 0] * (2 * sy + 1)).long() - sy
    tx = (r[:, 1] * (2 * sx + 1)).long() - sx
    gy = (torch.arange(h, device=x.device)[None, :, None] - ty[:, None, None]).clamp(-1, h)  # [B, H, 1]
    gx = (torch.arange(w, device=x.device)[None, None, :] - tx[:, None, None]).clamp(-1, w)  # [B, 1, W]
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # [B, H+2, W+2, C]; -1 and h hit zeros
    out = padded[torch.arange(b, device=x.device)[:, None, None], gy + 1, gx + 1]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, r: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    # r [B, 2] in [0, 1): the centre of a (ratio * side)^2 square set to zero
    _, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (r[:, 0] * (h + 1 - ch % 2)).long()
    cx = (r[:, 1] * (w + 1 - cw % 2)).long()
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = ((ys - cy[:, None] + ch // 2) >= 0) & ((ys - cy[:, None] + ch // 2) < ch)  # [B, H]
    in_x = ((xs - cx[:, None] + cw // 2) >= 0) & ((xs - cx[:, None] + cw // 2) < cw)
    mask = ~(in_y[:, :, None] & in_x[:, None, :])  # [B, H, W]
    return x * mask[:, None].to(x.dtype)


def diff_augment(x: torch.Tensor, policy: list[str], gen: torch.Generator, rows: slice, global_batch: int):
    """Apply `policy` (a subset of POLICIES, in that order) to x [b, 3, H, W]; `rows` are this process's rows of
    a global batch of `global_batch` images (slice(None) in a single process)."""
    for name in POLICIES:
        if name in policy:
            r = torch.rand(global_batch, 3, generator=gen)[rows].to(x.device)
            x = {"color": _color, "translation": _translation, "cutout": _cutout}[name](x, r)
    return x
