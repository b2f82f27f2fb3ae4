"""Diversity of generated images as 1 - mean MS-SSIM over random pairs of distinct samples (`msssim_diversity`,
higher is better; Odena et al. 2017 used mean MS-SSIM the same way to spot mode collapse). 0 means every pair is
the same image; independent noise images score near 1.

Standard MS-SSIM (5 scales, 11-px Gaussian window, sigma 1.5) needs images over 160 px, so smaller sizes drop the
coarsest scales and shrink the window (`msssim_config`).
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from models.metrics.registry import register

BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, finest scale first
KERNEL = 11  # standard window; sigma 1.5
MIN_KERNEL = 7  # below this the local variance comes from a handful of pixels and SSIM turns to noise
BATCH = 32  # pairs per MS-SSIM call: bounds memory at 256 px (~20 float32 maps of [B, 3, S, S], ~0.15 GB)


def _fits(size: int, kernel: int, scales: int) -> bool:
    """Whether torchmetrics accepts (and can compute) `scales` scales with a `kernel` window on size x size images."""
    div = max(1, scales - 1) ** 2  # torchmetrics' own check, ssim.py _multiscale_ssim_update
    tm_ok = size >= 2**scales and size // div > kernel - 1
    # the coarsest scale is reflect-padded by (kernel - 1) / 2, which needs the window to fit inside that scale;
    # torchmetrics' check implies this for 1, 3, 4 and 5 scales, not for 2
    return tm_ok and size // 2 ** (scales - 1) > kernel - 1


def msssim_config(size: int) -> tuple[int, tuple[float, ...]]:
    """(kernel_size, betas) for size x size images: as many scales as fit with a window of at least MIN_KERNEL
    pixels, then the largest odd window up to 11; the standard betas cut to those scales and renormalised to sum 1.

    32 -> 7 px, 3 scales; 64 -> 7, 4; 96 -> 9, 4; 128 -> 7, 5; 256 -> 11, 5 (the standard).
    """
    for scales in range(len(BETAS), 0, -1):
        for kernel in range(KERNEL, MIN_KERNEL - 1, -2):
            if _fits(size, kernel, scales):
                b = np.asarray(BETAS[:scales])
                return kernel, tuple(float(x) for x in b / b.sum())
    raise ValueError(f"MS-SSIM needs images of at least {MIN_KERNEL + 1} px a side; got {size}")


def _sigma(kernel: int) -> float:
    """Gaussian sigma whose window is `kernel` wide: torchmetrics sizes its Gaussian window from sigma alone
    (int(3.5 sigma + 0.5) * 2 + 1) and uses kernel_size only in its checks, so the window shrinks only through sigma.
    Scaling the standard 1.5 by kernel / 11 gives 7 -> 0.95, 9 -> 1.23, 11 -> 1.5, each landing on its own width."""
    sigma = 1.5 * kernel / KERNEL
    assert int(3.5 * sigma + 0.5) * 2 + 1 == kernel, (kernel, sigma)
    return sigma


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be [N, S, S, 3]; got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255); got {images.dtype}")
    if len(images) < 2:
        raise ValueError(f"msssim_diversity needs at least 2 images to make a pair; got {len(images)}")
    return images


@register("msssim_diversity", lower_is_better=False)
def msssim_diversity(images: np.ndarray, pairs: int = 500, seed: int = 0) -> float:
    """1 - mean MS-SSIM over `pairs` random pairs of distinct images from uint8 images [N, S, S, 3]; where N images
    make no more than `pairs` distinct pairs, over each of them once: the exact mean the draw estimates (MS-SSIM is
    symmetric, and a draw is uniform over the distinct pairs)."""
    images = _check_images(images)
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1; got {pairs}")
    n, size = len(images), images.shape[1]
    kernel, betas = msssim_config(size)
    if n * (n - 1) // 2 <= pairs:
        a, b = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, n, pairs)
        b = (a + rng.integers(1, n, pairs)) % n  # a uniform other index: never the image itself
    count = len(a)
    total = 0.0
    for start in range(0, count, BATCH):
        ia, ib = a[start : start + BATCH], b[start : start + BATCH]
        # [B, S, S, 3] uint8 -> [B, 3, S, S] in [0, 1], matching data_range=1.0. float32: identical images score
        # 1 to ~1e-5 (rounding in the variances); float64 is exact to ~1e-12 but 30x slower in CPU convolutions
        x = torch.from_numpy(images[ia]).permute(0, 3, 1, 2).float() / 255.0
        y = torch.from_numpy(images[ib]).permute(0, 3, 1, 2).float() / 255.0
        # relu: negative contrast terms raised to fractional betas would be NaN; clipped to 0 they mean "unrelated"
        s = multiscale_structural_similarity_index_measure(
            x,
            y,
            sigma=_sigma(kernel),
            kernel_size=kernel,
            betas=betas,
            data_range=1.0,
            reduction="none",
            normalize="relu",
        )
        total += float(s.double().sum())
    return 1.0 - total / count
