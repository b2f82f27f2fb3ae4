"""Training curves and sample grids as DVC plots, written by the training itself into its stage's output.

    plots = UnitPlots(out / tracking.PLOTS, "dcgan-32")  # out: the stage's output folder (data/train/dcgan, ...)
    tracked.train(task, config, folder=ckpt, plots=plots)     # adversarial: losses + grids
    write_fit(out / tracking.PLOTS, "cnn", loop_result.history)  # an epoch loop (tagger, posenet, SR content)

gives, under `out/plots/`:

    losses/<unit>.csv               step, loss_g, loss_d: the engine's means over each `log_every` steps
    samples/<unit>/step_000500.png  the EMA generator's grid from fixed latents at each `sample_every` step
    fit/<unit>.csv                  epoch, train_loss, ...: an epoch loop's means per epoch

dvc.yaml's `plots:` names each stage's `losses`, `fit` and `samples` folders, so `dvc plots show` draws every unit's
curves and grids, and `dvc plots diff <exp> <exp>` overlays two experiments' curves and puts their grids side by side.
Curves come from the run's own history (`GanResult.history`, `LoopResult.history`), which a resumed run restores from
its checkpoint, so a run killed and resumed still has its whole curve. Grids are written as they are drawn into
`<checkpoint folder>/grids/` (kept across a resume; `core.checkpoint.clear_states` removes them with the states), then
copied into `samples/<unit>/` when training ends, keeping only the steps that run reached.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_bytes

LOSS_COLUMNS = ("loss_g", "loss_d")  # what dvc.yaml's `losses` plots draw; every adversarial task logs both


def _csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """The x column (step or epoch) as integers, the figures rounded; a figure a row lacks is left empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    x, *ys = columns
    for row in rows:
        w.writerow({x: int(row[x]), **{k: round(float(row[k]), 6) if k in row else "" for k in ys}})
    write_bytes(path, buf.getvalue().encode())


def _grid_name(step: int) -> str:
    return f"step_{step:06d}.png"


def _grid_step(path: Path) -> int | None:
    stem = path.stem
    if path.suffix != ".png" or not stem.startswith("step_") or not stem[5:].isdigit():
        return None
    return int(stem[5:])


def png(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] RGB as PNG bytes."""
    import cv2

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a sample grid is uint8 [H, W, 3]; got {image.dtype} {image.shape}")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("the sample grid could not be encoded as PNG")
    return buf.tobytes()


@dataclass
class UnitPlots:
    """One adversarial unit's curves and grids under `root` (a stage output's `plots/` folder)."""

    root: Path
    unit: str
    staging: Path | None = None  # where grids go while training: the checkpoint folder's grids/ (set by `start`)

    def __post_init__(self) -> None:
        if not self.unit or Path(self.unit).name != self.unit or self.unit in (".", ".."):
            raise ValueError(f"a plots unit is a plain name; got {self.unit!r}")

    @property
    def losses(self) -> Path:
        return self.root / "losses" / f"{self.unit}.csv"

    @property
    def samples(self) -> Path:
        return self.root / "samples" / self.unit

    def start(self, folder: Path | None) -> None:
        """Grids go to `folder/grids` (kept across a resume) or, without a checkpoint folder, straight to samples/."""
        self.staging = folder / "grids" if folder is not None else self.samples
        self.staging.mkdir(parents=True, exist_ok=True)

    def grid(self, image: np.ndarray, step: int) -> None:
        if self.staging is None:
            self.start(None)
        write_bytes(self.staging / _grid_name(step), png(image))

    def finish(self, history: list[dict], done: int) -> None:
        """The loss curve from the run's history, and the grids of steps up to `done` (a longer earlier attempt's
        later grids are left out)."""
        _csv(self.losses, ["step", *LOSS_COLUMNS], [r for r in history if r["step"] <= done])
        if self.staging is None or self.staging == self.samples:
            return
        self.samples.mkdir(parents=True, exist_ok=True)
        for src in sorted(self.staging.glob("step_*.png")):
            step = _grid_step(src)
            if step is not None and step <= done:
                shutil.copyfile(src, self.samples / src.name)

    def stored(self) -> tuple[Path, list[Path]]:
        """What `core.tracking.Units.register(plots=...)` keeps with the unit, so that a retried stage taking it up
        has its plots too."""
        return self.root, self.files()

    def files(self) -> list[Path]:
        """This unit's plot files, relative to `root` (what a registered unit stores to be taken up again)."""
        found = [self.losses] if self.losses.exists() else []
        if self.samples.is_dir():
            found += sorted(p for p in self.samples.iterdir() if _grid_step(p) is not None)
        return [p.relative_to(self.root) for p in found]


def write_fit(root: Path, unit: str, history: list[dict], columns: tuple[str, ...] = ("train_loss",)) -> Path:
    """An epoch loop's curve, `fit/<unit>.csv`: epoch and `columns` (the figures its step returns), one row an epoch."""
    if not unit or Path(unit).name != unit:
        raise ValueError(f"a plots unit is a plain name; got {unit!r}")
    path = root / "fit" / f"{unit}.csv"
    _csv(path, ["epoch", *columns], history)
    return path
