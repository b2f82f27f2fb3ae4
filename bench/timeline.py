"""When each test ran, on which pytest worker, and how busy the machine's cores were meanwhile: where `make test`'s
wall time goes that no test's own duration shows (a worker waiting on a server, a sleep, the tail after the other
worker is done).

bench/make_test.py loads the plugin half into `make test` (`PYTEST_ADDOPTS=-p bench.timeline`, the file named by
ANIME_TEST_TIMELINE) and samples /proc/stat beside it (`CpuSampler`); `idle_by_test` then gives each test the idle
core-seconds of the seconds it ran in, shared with the tests running beside it.

    ANIME_TEST_TIMELINE=/tmp/t.jsonl .venv/bin/python -m pytest -p bench.timeline -n 2 tests/core
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

ENV = "ANIME_TEST_TIMELINE"
DEPTH = "ANIME_TEST_TIMELINE_DEPTH"  # 1: a test run's own workers; 2: a pytest that one of its tests started
_path: str | None = None


def pytest_configure(config) -> None:
    """Record in the outermost pytest (or its xdist workers) alone: a test that runs pytest itself inherits the
    environment, and its tests must not land in the timeline."""
    global _path
    depth, worker = os.environ.get(DEPTH), "PYTEST_XDIST_WORKER" in os.environ
    if os.environ.get(ENV) and (depth is None or (depth == "1" and worker)):
        _path = os.environ[ENV]
    os.environ[DEPTH] = "1" if depth is None and not worker else "2"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """One JSON line per test (its setup, call and teardown): {"test", "worker", "start", "end"} in epoch seconds.
    Lines are appended whole (a single short write to a file opened for appending), so workers share the file."""
    start = time.time()
    yield
    path = _path
    if path:
        line = {"test": item.nodeid, "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), "start": start}
        line["end"] = time.time()
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def _fields() -> list[int]:
    """/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal, ... jiffies of all cores."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores together since boot (/proc/stat's first line; idle and iowait are idle)."""
    fields = _fields()
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def steal_times() -> tuple[float, float]:
    """(steal, total) jiffies since boot: steal is the time a virtual machine's cores were ready to run but the host
    ran something else (counted as busy by `cpu_times`: the tests had the cores, but not their time)."""
    fields = _fields()
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


class CpuSampler:
    """Samples the cores' busy share every `every` seconds in a thread: `samples` is [(epoch seconds at the end of
    the interval, busy cores over it)]; `steal_core_seconds`, from its start to its end, the core-seconds the host
    took from this machine (a figure that differs between two runs of the same suite for no reason of its own)."""

    def __init__(self, every: float = 1.0) -> None:
        self.every, self.samples, self.steal_core_seconds = every, [], 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.cores = os.cpu_count() or 1

    def _run(self) -> None:
        busy0, total0 = cpu_times()
        while not self._stop.wait(self.every):
            busy, total = cpu_times()
            if total > total0:
                self.samples.append((time.time(), self.cores * (busy - busy0) / (total - total0)))
            busy0, total0 = busy, total

    def __enter__(self) -> CpuSampler:
        self._steal0 = steal_times()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        hz = os.sysconf("SC_CLK_TCK")
        self.steal_core_seconds = round((steal_times()[0] - self._steal0) / hz, 1)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def idle_by_test(tests: list[dict], samples: list[tuple[float, float]], cores: int, every: float = 1.0) -> dict:
    """{"idle_core_seconds": while any test ran, "tail_seconds": from the first worker's last test to the end,
    "by_test": {test: idle core-seconds}}: each sample's idle cores (cores - busy) over `every` seconds, shared
    equally by the tests running at that moment."""
    by_test: dict[str, float] = {}
    total = 0.0
    for t, busy in samples:
        mid = t - every / 2
        running = [x["test"] for x in tests if x["start"] <= mid < x["end"]]
        if not running:
            continue
        idle = max(0.0, cores - busy) * every
        total += idle
        for name in running:
            by_test[name] = by_test.get(name, 0.0) + idle / len(running)
    ends: dict[str, float] = {}
    for x in tests:
        ends[x["worker"]] = max(ends.get(x["worker"], 0.0), x["end"])
    tail = max(ends.values()) - min(ends.values()) if len(ends) > 1 else 0.0
    return {"idle_core_seconds": round(total, 1), "tail_seconds": round(tail, 1), "by_test": by_test}
