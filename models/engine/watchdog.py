"""The failure watchdog: notices, during training, the three ways a GAN breaks down.

- `nonfinite`: a loss is NaN or infinite (checked every step; training cannot recover from it).
- `discriminator_wins`: D tells real from generated on (nearly) every image for `window` steps in a row: G gets no
  useful gradient any more (D's accuracy is the share of real logits > 0 and generated logits < 0).
- `mode_collapse`: the generated images stop varying: the mean pairwise distance of the samples from the fixed
  latents (the live G in training mode), relative to that of real images, falls below `collapse_ratio` (checked at
  every sample grid after `warmup` steps).

`check_*` return the reason once it fires (and keep returning it); the engine tags the MLflow run with it, saves a
last grid, and stops early when `stop` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class WatchdogConfig:
    stop: bool  # stop training when a condition fires (else: tag the run and go on)
    window: int  # steps in a row with D accuracy >= d_accuracy before `discriminator_wins`
    d_accuracy: float
    collapse_ratio: float  # sample diversity / real diversity below this: `mode_collapse`
    warmup: int  # steps before the collapse check starts (an untrained G's near-constant output is not a collapse)


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images [N, C, H, W] (N >= 2), per pixel, at 16 px at most: cheap and
    insensitive to pixel noise."""
    x = images.detach().float()
    if x.shape[-1] > 16:
        x = torch.nn.functional.adaptive_avg_pool2d(x, 16)
    flat = x.flatten(1)
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)) / math.sqrt(flat.shape[1]))


class Watchdog:
    def __init__(self, config: WatchdogConfig, real_diversity: float):
        self.config = config
        self.real_diversity = real_diversity
        self.streak = 0
        self.reason: str | None = None
        self.detail = ""

    def _fire(self, reason: str, detail: str) -> str:
        if self.reason is None:
            self.reason, self.detail = reason, detail
        return self.reason

    def check_losses(self, step: int, losses: dict[str, float], d_accuracy: float | None) -> str | None:
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            return self._fire("nonfinite", f"step {step}: {', '.join(bad)} = {[losses[k] for k in bad]}")
        if d_accuracy is not None:
            self.streak = self.streak + 1 if d_accuracy >= self.config.d_accuracy else 0
            if self.streak >= self.config.window:
                return self._fire(
                    "discriminator_wins",
                    f"step {step}: D accuracy >= {self.config.d_accuracy} for {self.streak} steps in a row",
                )
        return self.reason

    def check_samples(self, step: int, samples: torch.Tensor) -> str | None:
        ratio = diversity(samples) / max(self.real_diversity, 1e-12)
        if ratio < self.config.collapse_ratio:
            return self._fire(
                "mode_collapse",
                f"step {step}: sample diversity {ratio:.3f} x the real images' (< {self.config.collapse_ratio})",
            )
        return self.reason

    def state(self) -> dict:
        return {"streak": self.streak, "reason": self.reason, "detail": self.detail}

    def restore(self, state: dict) -> None:
        self.streak, self.reason, self.detail = state["streak"], state["reason"], state["detail"]
