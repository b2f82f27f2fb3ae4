"""Model-selection studies: which settings, seeds and recipes to commit, compared on validation (bench/ holds the
speed benchmarks).

Each study is a module run from the repository root, `python -m experiments.<name>`, with its settings beside it
(`experiments/<name>.yaml`) where it has any. Results go to `experiments/results/<study>-<profile>-<machine kind>.json`
(`result_path`): the machine kind is core/machine.py's (`AVX512-AMD`, `AVX2-AMD`, ...), since torch picks other
kernels on each kind and the float results of one seed differ between them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def result_path(study: str, profile: str) -> Path:
    """experiments/results/<study>-<profile>-<machine kind>.json, the default output of a study's run here."""
    from core import machine  # imports torch: only when a study names its output

    return RESULTS / f"{study}-{profile}-{machine.kind()}.json"
