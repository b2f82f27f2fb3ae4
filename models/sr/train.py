"""Training of the super-resolution pair: `anime-sr` on the content loss through the one loop (here), then
`anime-srgan` as a task of the adversarial engine (models/sr/task.py); the data helpers both use, `upscale` and the
bicubic baseline.

Data: high-resolution uint8 images [N, S, S, 3] in memory and their low-resolution inputs, made once by area
downsampling (`low_res`, OpenCV INTER_AREA, stored as uint8 as a user's small image would be). Both trainings
flip a pair horizontally with probability 1/2 and, with `sr.patch`, train on aligned random crops of that side
(`crop`: the network is fully convolutional, so 32 -> 128 px is learnt on 64 px crops at the cost of 16 -> 64;
scoring is on whole images); both drawn from the loop's or the engine's generator.

- Content: L1 between SrNet(low) and the true image, Adam with a cosine schedule, `sr.content` params.
- SRGAN: models/sr/task.py (`SrganTask`, the perceptual loss of the judge tagger's feature maps).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.params import SrParams
from models.engine import loop
from models.sr.net import SrNet


def low_res(images: np.ndarray, scale: int) -> np.ndarray:
    """uint8 [N, S, S, 3] -> uint8 [N, S / scale, S / scale, 3] by area averaging."""
    n, s = len(images), images.shape[1]
    if s % scale:
        raise ValueError(f"{s}-px images do not divide by the scale {scale}")
    out = np.empty((n, s // scale, s // scale, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = cv2.resize(im, (s // scale, s // scale), interpolation=cv2.INTER_AREA)
    return out


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> uint8 [N, 3, H, W]."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def signed(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1], channels-last."""
    return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


def crop(lo: torch.Tensor, hi: torch.Tensor, patch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned random crops of a batch: `patch` x `patch` of each high-resolution image [B, 3, S, S] at a multiple of
    the scale, and the matching `patch / scale` crop of its low-resolution input (area averaging works in
    scale x scale blocks, so the crop of the input is the input of the crop). `patch` 0 or >= S: the whole images."""
    side = hi.shape[-1]
    if not patch or patch >= side:
        return lo, hi
    scale = side // lo.shape[-1]
    p, cells = patch // scale, lo.shape[-1] - patch // scale + 1
    ys = torch.randint(cells, (len(hi),), generator=gen).tolist()
    xs = torch.randint(cells, (len(hi),), generator=gen).tolist()
    lo_c = torch.stack([lo[i, :, y : y + p, x : x + p] for i, (y, x) in enumerate(zip(ys, xs, strict=True))])
    hi_c = torch.stack(
        [
            hi[i, :, y * scale : (y + p) * scale, x * scale : (x + p) * scale]
            for i, (y, x) in enumerate(zip(ys, xs, strict=True))
        ]
    )
    return lo_c, hi_c


def _flip(lo: torch.Tensor, hi: torch.Tensor, flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = flip.view(-1, 1, 1, 1)
    return torch.where(f, lo.flip(3), lo), torch.where(f, hi.flip(3), hi)


def train_content(p: SrParams, hi: np.ndarray, seed: int, checkpoint_name: str | None = None, log=None):
    """`anime-sr`: SrNet on L1 through the one loop (models/engine/loop.py); returns its LoopResult."""
    c = p.content
    torch.manual_seed(seed)
    net = SrNet(p.channels, p.blocks, p.scale).to(memory_format=torch.channels_last)
    H, L = to_nchw(hi), to_nchw(low_res(hi, p.scale))
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs * loop.steps_for(len(H), c.batch))

    def step(idx: torch.Tensor, gen: torch.Generator):
        lo, target = _flip(*crop(L[idx], H[idx], p.patch, gen), torch.rand(len(idx), generator=gen) < 0.5)
        loss = F.l1_loss(net(signed(lo)), signed(target))
        return loss, {"l1": float(loss.detach())}, len(idx)

    return loop.fit(
        net,
        opt,
        sched,
        step,
        rows=len(H),
        batch=c.batch,
        epochs=c.epochs,
        seed=seed,
        max_minutes=c.max_minutes,
        checkpoint_name=checkpoint_name,
        log=log,
        desc="sr",
    )


@torch.no_grad()
def upscale(net: SrNet, low: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 [N, s, s, 3] -> uint8 [N, scale * s, scale * s, 3] with `net` in eval mode."""
    from models.engine.gan import to_uint8

    net.eval()
    out = [to_uint8(net(signed(to_nchw(low[i : i + batch])))) for i in range(0, len(low), batch)]
    return (
        np.concatenate(out) if out else np.zeros((0, low.shape[1] * net.scale, low.shape[2] * net.scale, 3), np.uint8)
    )


def bicubic(low: np.ndarray, scale: int) -> np.ndarray:
    """The baseline: OpenCV's INTER_CUBIC of the same low-resolution input."""
    s = low.shape[1] * scale
    return np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_CUBIC) for im in low])
