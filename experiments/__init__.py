"""Model-selection studies: which settings, seeds and recipes to commit, compared on validation (bench/ holds the
speed benchmarks).

Each study is a module run from the repository root, `python -m experiments.<name>`, with its settings beside it
(`experiments/<name>.yaml`) where it has any. Results go to `experiments/results/<study>-<profile>-<machine kind>.json`
(`result_path`): the machine kind is core/machine.py's (`AVX512-AMD`, `AVX2-AMD`, ...), since torch picks other
kernels on each kind and the float results of one seed differ between them.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(os.environ.get("BENCH_CACHE", ROOT / ".cache" / "bench"))  # what the studies keep between runs


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` laid over it, nested sections key by key ({reader: {width: 8}} keeps the rest)."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def read_store_of(root: Path) -> None:
    """Read the model registry of the checkout at `root` (its `mlruns/`, where its pins name versions), unless the
    environment names a server or a store (MLFLOW_TRACKING_URI, ANIME_MLFLOW_STORE) or `root` has none."""
    from core import tracking

    env = os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("ANIME_MLFLOW_STORE")
    if not env and (root / "mlruns" / "mlflow.db").exists():
        tracking.STORE = root / "mlruns"


def result_path(study: str, profile: str) -> Path:
    """experiments/results/<study>-<profile>-<machine kind>.json, the default output of a study's run here."""
    from core import machine  # imports torch: only when a study names its output

    return RESULTS / f"{study}-{profile}-{machine.kind()}.json"


def write_result(doc: dict, study: str, profile: str, out: str | None = None) -> Path:
    """Write a study's result (`out`, relative to the repository, or its default result_path) and say where."""
    import json

    path = ROOT / out if out else result_path(study, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path
