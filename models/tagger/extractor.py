"""The taggers that score generators, one class (`Tagger`) for both: the pinned **extractor** (`load_extractor`:
`fd_tagger`, `kid_tagger` and every tagger-feature score, in the feature space of one registered `anime-tagger`
version) and the **judge** (`load_judge`: the tagger stage's second seed, which judges the attribute sliders). The
DCGAN discriminator's own tag head is its **reader** (models/dcgan/net.py), never one of these.

Every figure records which version made it (`extractor_version`). The pin is `data/extractor/pin.json` (the
`extractor` stage, stages/extractor.py): retraining the tagger does not move it, `python -m stages.extractor --move`
does and re-scores, so numbers computed months apart stay comparable. Loading the pinned version checks its weights
against the pin's sha256: a store that changed under the pin is refused, not silently used.

The judge also reads the annotators' extra groups that have a head (models/tagger/extra.py): the tagger stage fits
each one a second time on the judge CNN's features and saves it with the judge (`judge/extra/`), so the sliders of an
extra group are judged by another network than the head whose auto-tags the generator trained on.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import tracking
from core.names import FIXED, GROUPS, AttributeSchema
from models import metrics
from models.engine import bundle
from models.tagger.evaluate import predict_groups
from models.tagger.net import MODEL, TaggerNet, extract_features, predict_proba

PIN = "data/extractor/pin.json"


@dataclass
class Tagger:
    """How a tagger CNN reads images for the generators' scores: features (fd_tagger, precision, ...) and the value it
    reads per group (tag_tv, cond_accuracy, control_success), with its validation thresholds. Two taggers are read
    this way: the pinned **extractor** (`load_extractor`: every generator figure's feature space) and the **judge**
    (`load_judge`: the tagger stage's second seed, which judges the sliders). Only ever called under no_grad on uint8
    images: no gradients reach a generator from the network that scores it."""

    net: TaggerNet
    thresholds: dict[str, float]
    version: str
    extra: tuple[dict, dict[str, np.ndarray]] | None = None  # extra groups' heads on its features (extra.load_heads)
    # the second ruler (models/ruler/read.Ruler), which the scorers read the same images in beside these features
    # (`fd_ssl`, ...: models/metrics/generators.ruler_scores); the stages that score attach it, None elsewhere
    ruler: Any = None
    # read each image and its mirror and average their probabilities (the judge's `read_flip`, config.json); the
    # thresholds must come from the same read
    flip: bool = False

    @property
    def schema(self) -> AttributeSchema:
        """The groups it reads: the six, then its extra heads'."""
        if self.extra is None:
            return FIXED
        return AttributeSchema.with_extra({g: h["values"] for g, h in self.extra[0].items()})

    def read(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(features [N, D], the value read per group: class indices [N]; extra groups by their heads' arg-max)."""
        pred = predict_groups(predict_proba(self.net, images, flip=self.flip), self.thresholds)
        feats = extract_features(self.net, images)
        reads = {g: pred[:, k] for k, g in enumerate(GROUPS)}
        if self.extra is not None:
            from models.tagger.extra import probabilities

            heads, arrays = self.extra
            reads.update({g: p.argmax(axis=1) for g, p in probabilities(heads, arrays, feats).items()})
        return feats, reads

    def features(self, images: np.ndarray) -> np.ndarray:
        return extract_features(self.net, images)


def load_extractor(pinned: str = PIN, version: str | None = None) -> Tagger:
    """The extractor as a Tagger: the registered `anime-tagger` version given, else the pinned one (weights checked
    against the pin; FileNotFoundError: no pin, run the extractor stage), with the per-tag thresholds the tagger
    stage chose on validation."""
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
        return Tagger(TaggerNet.load(folder), thresholds, str(version))


def load_judge(folder: str | Path) -> Tagger:
    """The judge as a Tagger: the tagger stage's judge CNN (`data/tagger/judge`, another seed than the extractor)
    with its validation thresholds, read as they were calibrated (`read_flip`: with each image's mirror), and the
    extra groups' heads fitted on its features (`judge/extra/`, when the tagger stage fitted any); version "judge"."""
    from models.tagger.extra import load_heads

    net = TaggerNet.load(folder)
    config = json.loads((Path(folder) / "config.json").read_text())
    heads = load_heads(Path(folder)) if (Path(folder) / "extra" / "heads.json").exists() else None
    extra = heads if heads and heads[0] else None
    return Tagger(net, config.get("thresholds", {}), "judge", extra, flip=bool(config.get("read_flip", False)))


def score(real, fake, version: str | None = None, seed: int = 0, pinned: str = PIN) -> dict:
    """fd_tagger and kid_tagger between two uint8 image sets [N, S, S, 3], with the extractor version they used."""
    extractor = load_extractor(pinned, version)
    a, b = extractor.features(real), extractor.features(fake)
    return {
        "fd_tagger": metrics.get("fd_tagger").fn(a, b),
        "kid_tagger": metrics.get("kid_tagger").fn(a, b, seed=seed),
        "extractor_version": extractor.version,
    }
