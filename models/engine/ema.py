"""Exponential moving average of a generator's weights: the network that is sampled, scored and registered.

Parameters follow `beta * ema + (1 - beta) * live` after every G step (the engine ramps beta up as
(1 + step) / (10 + step) to its set value, so a short run's average is not stuck near the initial weights); buffers (batch-norm statistics) are copied,
and an EMA generator with batch norm gets exact statistics for its own weights at the end (models/engine/batchnorm.py).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make(net: nn.Module) -> nn.Module:
    ema = copy.deepcopy(net)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update(ema: nn.Module, net: nn.Module, beta: float) -> None:
    live = list(net.parameters())
    avg = list(ema.parameters())
    torch._foreach_lerp_(avg, live, 1.0 - beta)  # avg += (1 - beta) * (live - avg), one fused pass
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)
