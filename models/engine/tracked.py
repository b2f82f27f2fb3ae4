"""The adversarial engine run as the pipeline's families run it: inside an open MLflow run, on rank 0.

    with tracking.start_run(...):
        result = tracked.train(task, gan.config(p, seed), world=world, folder=folder, desc="dcgan-32")

The engine (models/engine/gan.py) knows nothing of MLflow; this gives it the callbacks every family used to write
out by hand: the losses' means as metrics every `log_every` steps, the sample grid as the image `samples` at its step,
and the watchdog's reason as run tags. Other ranks under torchrun train in step with rank 0 and log nothing (they
are not inside a run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import tracking
from models.engine import distributed, gan


def grid(img: np.ndarray, step: int) -> None:
    """A sample grid as the run's image `samples` at its step (the MLflow UI shows the grids over training)."""
    tracking.log_step_image(img, "samples", step)


def tag(tags: dict[str, str]) -> None:
    import mlflow

    mlflow.set_tags(tags)


def callbacks(main: bool = True) -> dict:
    """The engine's `log`, `grid` and `tag` callbacks for the open MLflow run; none off rank 0."""
    return {"log": tracking.log_metrics, "grid": grid, "tag": tag} if main else {}


def train(
    task: gan.GanTask,
    config: gan.GanConfig,
    *,
    world: distributed.World | None = None,
    folder: Path | None = None,
    desc: str = "gan",
) -> gan.GanResult:
    """`gan.train` with the MLflow callbacks on rank 0 (the caller has started the run there)."""
    return gan.train(task, config, world=world, folder=folder, desc=desc, **callbacks(world is None or world.main))
