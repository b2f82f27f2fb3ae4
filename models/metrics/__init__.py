"""The metrics registry (models/metrics/registry.py): `get(name)` and `names()` over every metric module here.

The metric modules register themselves on import; they are imported here only when a name is looked up, so a module
that needs one metric (`from models.metrics.pck import pck`) does not load, or depend on, the others.
"""

from __future__ import annotations

import importlib

from models.metrics.registry import REGISTRY, Metric

MODULES = (
    "fd",
    "kid",
    "pck",
    "prd",
    "ndb",
    "msssim",
    "tags",
    "psnr",
    "ssim",
    "l1",
    "ssl",
)  # one module per metric family; each registers its names


def _load_all() -> None:
    for m in MODULES:
        importlib.import_module(f"models.metrics.{m}")


def get(name: str) -> Metric:
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {sorted(REGISTRY)}") from None


def names() -> list[str]:
    _load_all()
    return sorted(REGISTRY)
