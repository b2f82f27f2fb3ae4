"""The adversarial engine run as the pipeline's families run it: inside an open MLflow run, on rank 0.

    with tracking.start_run(...):
        result = tracked.train(task, gan.config(p, seed), world=world, folder=folder, desc="dcgan-32")

The engine (models/engine/gan.py) knows nothing of MLflow; this gives it the callbacks every family used to write
out by hand: the losses' means as metrics every `log_every` steps, the sample grid as the image `samples` at its step,
and the watchdog's reason as run tags. With `plots` (models/engine/plots.UnitPlots) the same curves and grids are
also written into the stage's output as DVC plots. Other ranks under torchrun train in step with rank 0 and log
nothing (they are not inside a run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import tracking
from models.engine import distributed, gan
from models.engine.plots import UnitPlots


def grid(img: np.ndarray, step: int) -> None:
    """A sample grid as the run's image `samples` at its step (the MLflow UI shows the grids over training)."""
    tracking.log_step_image(img, "samples", step)


def tag(tags: dict[str, str]) -> None:
    import mlflow

    mlflow.set_tags(tags)


def callbacks(main: bool = True, plots: UnitPlots | None = None) -> dict:
    """The engine's `log`, `grid` and `tag` callbacks for the open MLflow run (grids also to `plots`); none off
    rank 0."""
    if not main:
        return {}
    if plots is None:
        return {"log": tracking.log_metrics, "grid": grid, "tag": tag}

    def both(img: np.ndarray, step: int) -> None:
        grid(img, step)
        plots.grid(img, step)

    return {"log": tracking.log_metrics, "grid": both, "tag": tag}


def train(
    task: gan.GanTask,
    config: gan.GanConfig,
    *,
    world: distributed.World | None = None,
    folder: Path | None = None,
    desc: str = "gan",
    plots: UnitPlots | None = None,
) -> gan.GanResult:
    """`gan.train` with the MLflow callbacks on rank 0 (the caller has started the run there); with `plots`, the
    unit's loss curve and grids written as DVC plots when it ends."""
    main = world is None or world.main
    if plots is not None and main:
        plots.start(folder)
    result = gan.train(task, config, world=world, folder=folder, desc=desc, **callbacks(main, plots if main else None))
    if plots is not None and main:
        plots.finish(result.history, result.steps_done)
    return result
