"""Structural similarity of restored images to the true ones (`ssim`, Wang et al. 2004; higher is better, 1 = same).

The standard form: an 11-px Gaussian window (sigma 1.5), K1 0.01, K2 0.03, data range 1, per RGB channel, averaged
over the valid pixels of each image and then over images (torchmetrics, which runs offline here). `crop` border
pixels are dropped first, as for `psnr_db` (models/metrics/psnr.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from models.metrics.psnr import check_pair
from models.metrics.registry import register

BATCH = 256


@register("ssim")
def ssim(restored: np.ndarray, truth: np.ndarray, crop: int = 0) -> float:
    a, b = check_pair(restored, truth, crop)
    if min(a.shape[1:3]) < 11:
        raise ValueError(f"SSIM's 11-px window needs images of at least 11 px after the crop; got {a.shape[1:3]}")
    total = 0.0
    for i in range(0, len(a), BATCH):
        # float32: torchmetrics' Gaussian convolutions in float64 took 14x longer (49 s for 800 images of 64 px on
        # 2 cores); on the SR validation images the mean moves by 5e-6 (5.5e-5 at most per image), and an image
        # against itself scores 1 to within 2e-4 on flat images (the variances' rounding)
        x = torch.from_numpy(a[i : i + BATCH]).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        y = torch.from_numpy(b[i : i + BATCH]).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        per = structural_similarity_index_measure(x, y, data_range=1.0, reduction="none")
        total += float(per.sum())
    return total / len(a)
