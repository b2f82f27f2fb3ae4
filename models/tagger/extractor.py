"""The pinned feature extractor: `fd_tagger` and `kid_tagger` between two image sets, in the feature space of one
registered `anime-tagger` version.

Every figure records which version made it (`extractor_version`). The pin is `data/extractor/pin.json` (the
`extractor` stage, stages/extractor.py): retraining the tagger does not move it, `python -m stages.extractor --move`
does and re-scores, so numbers computed months apart stay comparable. Loading the pinned version checks its weights
against the pin's sha256: a store that changed under the pin is refused, not silently used.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import tracking
from core.names import GROUPS
from models import metrics
from models.engine import bundle
from models.tagger.evaluate import predict_groups
from models.tagger.net import MODEL, TaggerNet, extract_features, predict_proba

PIN = "data/extractor/pin.json"


def load_extractor(version: str | None = None, pinned: str = PIN):
    """(TaggerNet, version): the registered `anime-tagger` version given, else the pinned one (weights checked)."""
    net, version, _ = load_reader(version, pinned)
    return net, version


def load_reader(version: str | None = None, pinned: str = PIN):
    """(TaggerNet, version, per-tag thresholds): the extractor and how it reads tags (thresholds chosen on
    validation by the tagger stage), for the scores that read generated images (tag_tv, cond_accuracy)."""
    expect = None
    if version is None:
        try:
            pin = json.loads(Path(pinned).read_text())
            version, expect = str(pin["version"]), pin["weights_sha256"]
        except (OSError, KeyError, ValueError) as err:
            raise FileNotFoundError(f"{pinned}: no pinned extractor ({err}); run the extractor stage first") from None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tracking.download_version(MODEL, version, tmp))
        if expect is not None:
            found = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
            if found != expect:
                raise ValueError(
                    f"anime-tagger version {version} in this store is not the pinned extractor (weights sha256 "
                    f"{found[:12]}, pinned {expect[:12]}); move the pin with `python -m stages.extractor --move`"
                )
        thresholds = bundle.read_config(folder).get("thresholds", {})
        return TaggerNet.load(folder), str(version), thresholds


@dataclass
class Judge:
    """How a tagger reads images for the generators' scores: features (fd_tagger, precision, ...) and the value it
    reads per group (tag_tv, cond_accuracy). Only ever called under no_grad on uint8 images: no gradients reach a
    generator from the network that scores it."""

    net: TaggerNet
    thresholds: dict[str, float]
    version: str

    def read(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(features [N, D], the value read per group: class indices [N])."""
        pred = predict_groups(predict_proba(self.net, images), self.thresholds)
        return extract_features(self.net, images), {g: pred[:, k] for k, g in enumerate(GROUPS)}

    def features(self, images: np.ndarray) -> np.ndarray:
        return extract_features(self.net, images)


def load_judge(pinned: str = PIN) -> Judge:
    """The pinned extractor as a Judge (FileNotFoundError: no pin; run the extractor stage)."""
    net, version, thresholds = load_reader(pinned=pinned)
    return Judge(net, thresholds, version)


def score(real, fake, version: str | None = None, seed: int = 0, pinned: str = PIN) -> dict:
    """fd_tagger and kid_tagger between two uint8 image sets [N, S, S, 3], with the extractor version they used."""
    net, version = load_extractor(version, pinned)
    a, b = extract_features(net, real), extract_features(net, fake)
    return {
        "fd_tagger": metrics.get("fd_tagger").fn(a, b),
        "kid_tagger": metrics.get("kid_tagger").fn(a, b, seed=seed),
        "extractor_version": version,
    }
