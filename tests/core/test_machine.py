"""core/machine.py: the machine kind benches key their runs by."""

from __future__ import annotations

import torch

from core import machine


def test_the_kind_is_the_cpu_capability_and_the_vendor(tmp_path):
    # AVX2 and AVX-512 machines (and AMD and Intel ones) pick other kernels: their runs of one seed differ
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: avx2\n")
    capability = torch.backends.cpu.get_cpu_capability()
    assert machine.kind(info) == f"{capability}-AMD"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n")
    assert machine.kind(info) == f"{capability}-Intel"


def test_an_unknown_vendor_or_no_cpuinfo_leaves_the_capability_alone(tmp_path):
    capability = torch.backends.cpu.get_cpu_capability()
    (tmp_path / "cpuinfo").write_text("vendor_id\t: SomeoneElse\n")
    assert machine.kind(tmp_path / "cpuinfo") == capability
    assert machine.kind(tmp_path / "absent") == capability


def test_the_kind_fits_inside_a_result_key():
    kind = machine.kind()
    assert kind.split("-")[0] == torch.backends.cpu.get_cpu_capability()
    assert kind.count("-") <= 1 and "," not in kind and "@" not in kind  # `<variant>@<steps>steps,seed<S>,<kind>`
    assert machine.describe().endswith(f"{torch.get_num_threads()} threads") or torch.cuda.is_available()


def test_a_gpu_is_named_by_its_model_word():
    assert machine.gpu_kind("NVIDIA H100 80GB HBM3") == "H100"
    assert machine.gpu_kind("NVIDIA H200") == "H200"
    assert machine.gpu_kind("NVIDIA GeForce RTX 4090") == "4090"
    assert machine.gpu_kind("cuda") == ""
