"""The trained ruler as the scorers read it: `load_ruler(folder)` checks its weights against the digest the ruler
stage recorded (`ruler.json`), so a figure is never read in a space other than the one it says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.hashing import file_digest
from models.ruler.net import RulerNet, extract

RECORD = "ruler.json"  # beside config.json and model.safetensors: the digest, sizes and training record


@dataclass
class Ruler:
    net: RulerNet
    sha256: str

    @property
    def version(self) -> str:
        """What a figure records of the space it was read in: the weights' digest, 12 characters."""
        return self.sha256[:12]

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] -> float64 [N, feature_dim]; never trained through (no gradients reach a generator)."""
        return extract(self.net, images)


def load_ruler(folder: str | Path) -> Ruler:
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        expect = record["weights_sha256"]
    except (OSError, KeyError, ValueError) as err:
        raise FileNotFoundError(f"{folder}: no trained ruler ({err}); run the ruler stage first (dvc repro)") from None
    found = file_digest(folder / "model.safetensors")
    if found != expect:
        raise ValueError(
            f"{folder}: the ruler's weights (sha256 {found[:12]}) are not the ones recorded ({expect[:12]})"
        )
    return Ruler(RulerNet.load(folder), found)
