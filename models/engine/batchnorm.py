"""Exact batch-norm statistics after training ("precise BN").

The running statistics are an exponential average that lags the weights, badly so after few steps: a short run's
eval-mode activations can sit in dead ReLUs. This replaces them by the exact averages over the given batches under
the final weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate(net: nn.Module, batches: Iterable[torch.Tensor], forward: Callable[[torch.Tensor], object]) -> None:
    """Reset every BatchNorm2d of `net`, run `forward` on each batch (of two or more) in train mode with cumulative
    averaging, then restore the momenta and leave `net` in eval mode."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    for xb in batches:
        if len(xb) >= 2:
            forward(xb)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.eval()
