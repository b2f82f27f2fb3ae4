"""bench/train_step.py's command line (the timing itself is the bench's job, not a test's)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_an_unknown_variant_is_refused_before_anything_is_timed():
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "train_step.py"), "--only", "engine,engine_fp8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "no variant engine_fp8" in run.stderr and "engine_bf16" in run.stderr
    assert "round 1" not in run.stdout
