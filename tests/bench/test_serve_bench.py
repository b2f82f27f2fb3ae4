"""bench/serve.py as a user runs it, in its quick mode (tiny networks, 1 s a cell, a 5 s soak): real servers on
loopback with batching on and off, the in-process ratio, the soak's memory samples; the JSON has every figure, and
no server outlives the bench. It proves the bench works, not the speed (the tiny networks time nothing real)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line mentions `text` (the bench's work folder: its servers' --root)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [p for p in found if p != os.getpid()]


def _positive(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x > 0


def test_quick_run_writes_every_figure_and_leaves_no_server(tmp_path):
    from core import machine

    out, work = tmp_path / "x.json", tmp_path / "work"
    cmd = [sys.executable, str(REPO / "bench" / "serve.py"), "--quick", "--out", str(out), "--workdir", str(work)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        log, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:  # timed out: the bench and its servers share its process group
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    assert proc.returncode == 0, log[-4000:]
    assert _processes_naming(str(work)) == [], "a server outlived the bench"

    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["device"] == "cpu" and doc["machine_kind"] == machine.kind()
    assert {"command", "date", "cpu_count", "torch_threads", "settings", "networks", "cells"} <= set(doc)
    assert _positive(doc["cpu_count"]) and _positive(doc["torch_threads"])
    clients = doc["settings"]["clients"]
    assert clients == [1, 8]
    for size in ("64", "128"):
        net = doc["networks"][size]
        assert net["family"] == "dcgan" and net["size"] == int(size) and _positive(net["parameters"])
        for batching in ("off", "on"):
            assert all(_positive(doc["throughput_images_per_s"][size][batching][str(n)]) for n in clients)
            lat = doc["latency_1_client_ms"][size][batching]
            assert _positive(lat["p50_ms"]) and lat["p99_ms"] >= lat["p50_ms"]
        assert all(_positive(doc["ratio_batching_vs_off"][size][str(n)]) for n in clients)
        ip = doc["in_process"][size]
        assert all(_positive(ip[k]) for k in ("batch_of_32_ms", "single_call_ms", "ratio", "ratio_of_sums"))
        assert ip["other_cpu_cores"] >= 0
        assert doc["kept_share"][size] is None or isinstance(doc["kept_share"][size], float)
    assert len(doc["cells"]) == 2 * 2 * len(clients)
    assert all(c["errors"] == 0 and c["requests"] > 0 and c["other_cpu_cores"] >= 0 for c in doc["cells"])
    assert {c["window_ms"] for c in doc["cells"]} == {0, 10}
    t = doc["target"]
    assert t["size"] == 64 and t["clients"] == 8 and _positive(t["ratio"]) and isinstance(t["met"], bool)
    soak = doc["soak"]
    assert soak["clients"] == 8 and soak["errors"] == 0 and len(soak["samples"]) >= 5
    assert all(_positive(soak[k]) for k in ("rss_mb_start", "rss_mb_end", "rss_mb_max", "images_per_s"))
    assert soak["rss_mb_max"] >= max(soak["rss_mb_start"], soak["rss_mb_end"])
    assert isinstance(soak["growth_second_half_mb"], float | int)
    assert "written:" in log and "soak:" in log


def test_the_mixed_soak_runs_and_reports_every_endpoint(tmp_path):
    """bench/serve_soak.py --quick --runs 2: a real server per run, 8 clients on the five request kinds of the page;
    every endpoint is answered, nothing fails, the memory samples and their trend are there for each run with the
    trend's mean and spread, and no server outlives the bench."""
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "bench/serve_soak.py", "--quick", "--runs", "2", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert set(doc["endpoints"]) == {"generate", "generate+upscale", "tag", "sketch", "upload+upscale"}
    assert all(e["requests"] > 0 and e["statuses"].get("200", 0) > 0 for e in doc["endpoints"].values())
    assert doc["failures"] == 0 and len(doc["samples"]) >= 5 and "rss_trend_second_half_mb_per_min" in doc
    assert doc["machine"] and doc["quick"] is True
    trends = [r["rss_trend_second_half_mb_per_min"] for r in doc["runs"]]
    assert len(trends) == 2 and trends[0] == doc["rss_trend_second_half_mb_per_min"]
    assert doc["rss_trend_mean_mb_per_min"] == round(sum(trends) / 2, 2) and doc["rss_trend_std_mb_per_min"] >= 0
    assert doc["failures_all_runs"] == 0 and all(len(r["samples"]) >= 5 for r in doc["runs"])
    assert not _processes_naming("serve-soak-")
