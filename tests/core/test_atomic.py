"""Records and models are written durably and atomically; a checkpoint's tensors and JSON are one unit."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from torch import nn

from core import atomic, checkpoint


def test_durable_writes_flush_the_file_and_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    atomic.write_json(tmp_path / "m.json", {"a": 1})
    assert any(p.startswith(str(tmp_path / ".m.json.")) for p in synced)  # the bytes, before the rename
    assert synced[-1] == str(tmp_path)  # the rename itself
    synced.clear()
    with atomic.atomic_path(tmp_path / "bundle") as tmp:
        tmp.mkdir()
        (tmp / "model.safetensors").write_bytes(b"x")
    assert any(p.endswith("model.safetensors") for p in synced) and synced[-1] == str(tmp_path)
    synced.clear()
    with atomic.atomic_path(tmp_path / "shards", durable=False) as tmp:  # a cache: speed first
        tmp.mkdir()
        (tmp / "images.npy").write_bytes(b"x")
    assert synced == [] and (tmp_path / "shards" / "images.npy").exists()


def _net() -> tuple[nn.Module, torch.optim.Optimizer]:
    net = nn.Linear(3, 2)
    return net, torch.optim.Adam(net.parameters())


def test_a_crash_between_the_two_renames_never_resumes_mismatched_state(tmp_path):
    net, opt = _net()
    checkpoint.save("run", net, opt, None, {"epoch": 1}, tmp_path)
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with torch.no_grad():
        net.weight.add_(1.0)
    checkpoint.save("run", net, opt, None, {"epoch": 2}, tmp_path)
    # the crash: the new tensors are in place, the JSON beside them is still the old one
    (tmp_path / "run.json").write_bytes(old["run.json"])
    again, opt2 = _net()
    assert checkpoint.load("run", again, opt2, None, tmp_path) is None  # read as damaged: start over
    (tmp_path / "run.safetensors").write_bytes(old["run.safetensors"])
    assert checkpoint.load("run", again, opt2, None, tmp_path) == {"epoch": 1}  # the old unit, whole

    states = tmp_path / "states"
    for step in (10, 20):
        checkpoint.save_state(states, step, {"w": torch.full((2,), float(step))}, {"step": step}, keep=3)
    newest = states / "step-000000020.json"
    shutil.copy(states / "step-000000010.json", newest)  # step 20's tensors beside step 10's JSON
    tensors, doc = checkpoint.load_latest(states)
    assert doc["step"] == 10 and torch.equal(tensors["w"], torch.full((2,), 10.0))  # falls back to the whole one
    assert json.loads((states / "step-000000010.json").read_text())["pair"]


@pytest.mark.parametrize("cut", [0, 8, 100])
def test_a_truncated_tensor_file_is_damaged_not_a_crash(tmp_path, cut):
    net, opt = _net()
    checkpoint.save("run", net, opt, None, {"epoch": 1}, tmp_path)
    st = tmp_path / "run.safetensors"
    st.write_bytes(st.read_bytes()[:cut])
    assert checkpoint.load("run", *_net(), None, tmp_path) is None
