"""bench/generator_step.py's command line and result file (the timing itself is the bench's job, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

BENCH = REPO / "bench" / "generator_step.py"


def test_an_unknown_contestant_is_refused_before_anything_is_timed():
    run = subprocess.run([sys.executable, str(BENCH), "--only", "cond_base3"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "no contestant cond_base3" in run.stderr and "cond_base16" in run.stderr
    assert "round 1" not in run.stdout


@pytest.mark.slow  # a round of the benchmark program itself: it builds and steps three networks
def test_one_round_names_the_machine_and_times_every_contestant_against_dcgan(tmp_path):
    from core import machine

    out = tmp_path / "gen.json"
    cmd = [sys.executable, str(BENCH), "--only", "stylegan,cond_base8", "--rounds", "1", "--steps", "2",
           "--warmup", "1", "--out", str(out)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["machine"] == machine.kind() and doc["rounds"] == 1
    assert list(doc["contestants"]) == ["dcgan", "stylegan", "cond_base8"]  # the baseline always runs, first
    base = doc["contestants"]["dcgan"]
    assert base["ratio_to_dcgan"] == 1.0 and base["batch"] == 64
    for c in doc["contestants"].values():
        assert c["seconds_per_step"] > 0 and len(c["rounds_seconds_per_step"]) == 1
        assert c["images_per_second"] == pytest.approx(c["batch"] / c["seconds_per_step"], rel=1e-2)


def test_the_gpu_profile_builds_the_two_families_alone_and_refuses_the_cpu_routes():
    """A GPU machine times the gpu profile's sections (`--profile gpu --size 64 --device cuda`); the StyleGAN route
    variants are the cpu profile's, so asking for one there is refused before anything is timed."""
    run = subprocess.run([sys.executable, str(BENCH), "--profile", "gpu", "--size", "64", "--only", "cond_base8"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2 and "round 1" not in run.stdout
    assert "dcgan, dcgan_bf16, stylegan, stylegan_bf16" in run.stderr and "cond_base16" not in run.stderr
