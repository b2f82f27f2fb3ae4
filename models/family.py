"""The family contract: what every model family's `family.py` gives the stage that trains it.

    stages/train.py    dcgan, stylegan, sr, pose2sketch (FAMILIES: one DVC `foreach` item each)
    stages/tagger.py   the tagger (models/tagger/family.py)
    stages/pose.py     posenet (models/pose/family.py)

A family is a module; `Family` is its shape as a `typing.Protocol` (structural: a module need not import it;
tests/models/test_family_protocol.py checks every registered family against it, attributes and signatures):

    SECTION                 its params section (core/params.py, params.yaml; data/params/<SECTION>.json in DVC)
    INPUTS                  the keys of the stage's paths it reads (stages/train.PATHS for the generators): its
                            lineage in MLflow and the key of its checkpoints
    load(params, paths)     -> (data, record): its data, and what the stage records of it (figures["data"]); bad
                            or missing input is core.errors.BadInput (exit 2), before anything trains
    run(params, data, extractor, inputs, out, world, units)
                            -> figures: train, score on validation and test, register every model through `units`
                            (core/tracking.Units: a retried stage takes what an earlier attempt registered) and
                            write the bundles to `out`. `extractor`: the pinned extractor (models/tagger/extractor.py)
                            that scores generators, None for the tagger and posenet (the extractor is pinned from
                            the tagger); `world`: the torchrun layout (models/engine/distributed.py), None where a
                            family trains on one process
    sheet(out)              -> the uncurated contact sheet for the docs (uint8 [H, W, 3], from fixed seeds), or None
    summary(figures)        -> the one line the stage prints

Every family records its runs with models/engine/record.run_record (steps or epochs, budget stop, watchdog,
seconds). How to add one: docs/adding-a-family.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.params import Params


@runtime_checkable
class Family(Protocol):
    SECTION: str
    INPUTS: tuple[str, ...]

    def load(self, params: Params, paths: dict[str, Path]) -> tuple[dict, dict]: ...

    def run(
        self,
        params: Params,
        data: dict,
        extractor: Any,
        inputs: list[str],
        out: Path,
        world: Any,
        units: Any,
    ) -> dict: ...

    def sheet(self, out: Path) -> np.ndarray | None: ...

    def summary(self, figures: dict) -> str: ...
