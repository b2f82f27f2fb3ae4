"""The longer-training study (experiments/longer_training.py): its arms are the committed sections, and its `train`
half runs where only torch and the project's light dependencies are installed (a bare GPU machine)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from experiments import longer_training as study
from tests.conftest import REPO

BLOCKED = ("mlflow", "fastapi", "prefect", "label_studio_sdk", "sklearn", "cv2", "pandas", "pyarrow", "pydot")


def test_every_committed_arm_is_its_family_section_with_its_overrides():
    params = load_params(REPO / "params.yaml", "cpu")
    spec = study.read_spec()
    assert "dcgan_x1" in spec["arms"] and spec["arms"]["dcgan_x1"]["steps"] == params.dcgan.steps  # the control
    for name, arm in spec["arms"].items():
        p = study.section(params, arm)
        assert type(p) is type(getattr(params, arm["family"])), name
        for key, value in (arm.get("overrides") or {}).items():
            assert getattr(p, key) == value, name


def test_a_broken_spec_is_refused(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("max_minutes: 1\narms:\n  a: {family: biggan, steps: 3}\n")
    with pytest.raises(SystemExit, match="arm a needs family"):
        study.read_spec(bad)


def test_an_arm_trains_without_the_services_and_saves_a_generator_the_family_loads(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.stack([rng.integers(0, len(ATTRIBUTES[g]), 32) for g in GROUPS], 1)
    data = tmp_path / "train.npz"
    np.savez(data, images=rng.integers(0, 255, (32, 32, 32, 3), dtype=np.uint8), labels=labels)
    spec = tmp_path / "spec.yaml"
    spec.write_text("max_minutes: 5\narms:\n  tiny: {family: stylegan, steps: 2, overrides: {batch: 8}}\n")
    block = "".join(f"sys.modules[{m!r}] = None; " for m in BLOCKED)  # an import of any of them fails
    argv = ["train", "--arm", "tiny", "--data", str(data), "--out", str(tmp_path / "out"), "--spec", str(spec)]
    code = f"import runpy, sys; {block}sys.argv = ['x'] + {argv!r}; runpy.run_module('experiments.longer_training', run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads((tmp_path / "out" / "tiny" / "run.json").read_text())
    assert run["steps_done"] == 2 and not run["stopped_by_budget"] and run["data_sha256"] == study.sha256(data)
    assert run["settings"]["batch"] == 8 and run["device"].startswith("cpu")
    from models.stylegan.conditional import load_generator

    G = load_generator(tmp_path / "out" / "tiny")
    assert G.config["conditional"] and G.config["size"] == 32


def test_scoring_refuses_arms_trained_on_another_file(tmp_path):
    data = tmp_path / "train.npz"
    np.savez(data, images=np.zeros((2, 32, 32, 3), np.uint8))
    arm = tmp_path / "a"
    arm.mkdir()
    (arm / "run.json").write_text(json.dumps({"arm": "a", "data_sha256": "0" * 64, "device": "cpu, 4 threads"}))
    with pytest.raises(SystemExit, match="sha256 differs"):
        study.score([arm], tmp_path, data, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_a_result_is_named_by_its_device():
    assert study.device_kind("NVIDIA H100 80GB HBM3") == "H100"
    assert study.device_kind("NVIDIA H200") == "H200"
    assert study.device_kind("cpu, 4 threads") == "cpu"
