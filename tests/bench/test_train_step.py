"""bench/train_step.py's command line (the timing itself is the bench's job, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


def _bench():
    """bench/train_step.py as a module (it is a script, not a package member)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_step_bench", REPO / "bench" / "train_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the benchmark program itself, one round
def test_the_result_names_the_machine_kind(tmp_path):
    from core import machine

    out = tmp_path / "x.json"
    cmd = [sys.executable, str(REPO / "bench" / "train_step.py"), "--only", "engine", "--out", str(out)]
    run = subprocess.run(
        [*cmd, "--rounds", "1", "--steps", "1", "--warmup", "1"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machine_kind"] == machine.kind() and doc["device"].endswith(f", {machine.kind()}")


def test_the_default_file_name_carries_the_machine_kind(monkeypatch):
    import torch

    from core import machine

    bench = _bench()
    assert (
        bench.default_out(torch.device("cpu")) == REPO / "bench" / "results" / f"train-step-cpu-{machine.kind()}.json"
    )
    monkeypatch.setattr(bench, "machine_kind", lambda device: "NVIDIA H200")
    assert bench.default_out(torch.device("cuda")).name == "train-step-gpu-NVIDIA-H200.json"
