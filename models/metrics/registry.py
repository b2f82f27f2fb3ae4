"""Metrics by name: every figure the pipeline reports is computed by the one function registered under its name.

    from models import metrics
    metrics.get("fd_tagger").fn(features_real, features_fake)

Names are the ones users see (MLflow and DVC metrics, docs/pipeline.md); `lower_is_better` says which way is
good, for comparison tables and promotion. One module per metric registers itself on import (models/metrics/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., float]
    lower_is_better: bool


REGISTRY: dict[str, Metric] = {}


def register(name: str, lower_is_better: bool = False) -> Callable[[Callable[..., float]], Callable[..., float]]:
    def wrap(fn: Callable[..., float]) -> Callable[..., float]:
        if name in REGISTRY:
            raise ValueError(
                f"metric {name!r} is registered twice ({REGISTRY[name].fn.__module__} and {fn.__module__})"
            )
        REGISTRY[name] = Metric(name, fn, lower_is_better)
        return fn

    return wrap
