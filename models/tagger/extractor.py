"""The pinned feature extractor: `fd_tagger` and `kid_tagger` between two image sets, in the feature space of one
registered `anime-tagger` version.

Every figure records which version made it (`extractor_version`); re-scoring loads that pinned version
(`data/tagger/extractor.json`), so numbers computed months apart stay comparable.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from core import tracking
from models import metrics
from models.tagger.net import TaggerNet, extract_features


def load_extractor(version: str | None = None, pinned: str = "data/tagger/extractor.json"):
    """(TaggerNet, version): the registered `anime-tagger` version given, else the one the tagger stage pinned."""
    if version is None:
        try:
            version = str(json.loads(Path(pinned).read_text())["version"])
        except (OSError, KeyError, ValueError) as err:
            raise FileNotFoundError(f"{pinned}: no pinned extractor ({err}); run the tagger stage first") from None
    with tempfile.TemporaryDirectory() as tmp:
        return TaggerNet.load(tracking.download_version("anime-tagger", version, tmp)), str(version)


def score(real, fake, version: str | None = None, seed: int = 0) -> dict:
    """fd_tagger and kid_tagger between two uint8 image sets [N, S, S, 3], with the extractor version they used."""
    net, version = load_extractor(version)
    a, b = extract_features(net, real), extract_features(net, fake)
    return {
        "fd_tagger": metrics.get("fd_tagger").fn(a, b),
        "kid_tagger": metrics.get("kid_tagger").fn(a, b, seed=seed),
        "extractor_version": version,
    }
