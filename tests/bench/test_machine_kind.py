"""bench/serve.py and bench/ingest.py name the machine kind they ran on, as bench/train_step.py does
(tests/bench/test_train_step.py); the quick serve run's JSON is checked in tests/bench/test_serve_bench.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from tests.conftest import REPO


def test_the_serve_bench_default_file_name_carries_the_machine_kind():
    from core import machine

    spec = importlib.util.spec_from_file_location("serve_bench", REPO / "bench" / "serve.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.default_out() == REPO / "bench" / "results" / f"serve-cpu-{machine.kind()}.json"


def test_the_ingest_bench_result_names_the_machine_kind(tmp_path):
    from core import machine

    out = tmp_path / "x.json"
    cmd = [sys.executable, str(REPO / "bench" / "ingest.py"), "--count", "12", "--render-size", "64"]
    cmd += ["--sizes", "32", "--workdir", str(tmp_path / "work"), "--json", str(out)]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machine_kind"] == machine.kind() and doc["files"] == 12


def test_bf16_is_native_on_cuda_and_on_cpus_with_avx512_bf16_or_amx(tmp_path):
    from core import machine

    info = tmp_path / "cpuinfo"
    for flags, native in (
        ("fpu avx2 avx512f", False),
        ("fpu avx512f avx512_bf16", True),
        ("fpu amx_bf16 amx_tile", True),
    ):
        info.write_text(f"processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\n")
        assert machine.bf16_native("cpu", info) is native, flags
    assert machine.bf16_native("cpu", tmp_path / "missing") is False
    assert machine.bf16_native("cuda", tmp_path / "missing") is True
