"""`make test` as a newcomer runs it: a fresh clone of one commit, its setup and its tests timed apart.

    .venv/bin/python bench/make_test.py                    # HEAD
    .venv/bin/python bench/make_test.py --commit <commit> --out /tmp/make-test.json
    .venv/bin/python bench/make_test.py --workers 3         # make test with TEST_WORKERS=3

The commit is checked out as a fresh clone beside this checkout (so that `../shared` is found as on CI) and `make
test` runs there from nothing: first the setup it runs (`make setup`: both venvs, with empty download caches, as on a
new machine), timed alone, then the whole of `make test` (its setup now done), with pytest reporting every test's
duration. Figures: the setup's and the tests' wall time, their sum (what the newcomer waits), the CPU time of the
tests, the pytest summary, the slowest tests and what failed, and where the cores stood idle while tests ran
(bench/timeline.py: the idle core-seconds, the tail after the first worker is done, and the tests beside the most
idle cores). Nothing else should run on the machine meanwhile; the clone is removed afterwards. Result: bench/results/make-test-fresh-clone-<machine kind>-<commit>.json (with
`--workers N`: ...-<N>workers.json), which records the pytest workers it ran on, in the shape tools/results.py's
`make_test_fresh` tables read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import timeline  # noqa: E402
from bench.test_suite import DURATION, clone, failed, outside_env, resolve, summary  # noqa: E402


def slowest(output: str, n: int = 25) -> list[dict]:
    """The `n` longest test phases of pytest's `--durations=0` table, longest first."""
    rows = [m for m in map(DURATION.match, output.splitlines()) if m]
    rows.sort(key=lambda m: -float(m.group(1)))
    return [{"test": m.group(3), "phase": m.group(2), "seconds": float(m.group(1))} for m in rows[:n]]


def skipped(output: str) -> str:
    """pytest's short summary of the skipped tests (`SKIPPED [n] file: reason`), one clause each."""
    lines = [line.removeprefix("SKIPPED ") for line in output.splitlines() if line.startswith("SKIPPED ")]
    return "; ".join(lines) if lines else "nothing skipped"


def makefile_workers(text: str) -> int | None:
    """The pytest workers a Makefile's `TEST_WORKERS ?= N` gives `make test` (None: it names none)."""
    m = re.search(r"^TEST_WORKERS\s*\?=\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def children_cpu() -> tuple[float, float]:
    got = resource.getrusage(resource.RUSAGE_CHILDREN)
    return got.ru_utime, got.ru_stime


def idle_figures(ran: list[dict], cpu: timeline.CpuSampler, n: int = 20) -> dict:
    """The cores' idle time while tests ran, the tail after the first worker's last test, and the `n` tests
    that ran beside the most idle cores (bench/timeline.py); nothing when no timeline was written."""
    if not ran:
        return {}
    got = timeline.idle_by_test(ran, cpu.samples, cpu.cores, cpu.every)
    ranked = sorted(got["by_test"].items(), key=lambda kv: -kv[1])[:n]
    return {
        "steal_core_seconds": cpu.steal_core_seconds,
        "idle_core_seconds": got["idle_core_seconds"],
        "tail_seconds": got["tail_seconds"],
        "idle_by_test": [{"test": t, "idle_core_seconds": round(s, 1)} for t, s in ranked],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default="HEAD")
    ap.add_argument("--workers", type=int, help="pytest workers (make's TEST_WORKERS; default: the Makefile's)")
    ap.add_argument(
        "--out", help="default: bench/results/make-test-fresh-clone-<machine kind>-<commit>[-<n>workers].json"
    )
    args = ap.parse_args()
    from core import machine

    commit = resolve(args.commit)
    env = {**outside_env(), "PIP_NO_CACHE_DIR": "1", "PYTEST_ADDOPTS": "--durations=0 --durations-min=0"}
    env.pop("TEST_WORKERS", None)
    if args.workers is not None:
        env["TEST_WORKERS"] = str(args.workers)
    where = ROOT.parent / ".bench-make-test"
    log = ROOT.parent / ".bench-make-test.log"
    try:
        clone(commit, where)
        makefile = (where / "Makefile").read_text()
        with tempfile.TemporaryDirectory(prefix="bench-make-test-uv-") as cache:
            t0 = time.perf_counter()
            done = subprocess.run(
                ["make", "setup"], cwd=where, env={**env, "UV_CACHE_DIR": cache}, capture_output=True, text=True
            )
            setup = time.perf_counter() - t0
        if done.returncode:
            raise SystemExit(f"make setup exited {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        print(f"setup {setup:.0f} s; make test ...", flush=True)
        lines = ROOT.parent / ".bench-make-test-timeline.jsonl"
        lines.unlink(missing_ok=True)
        if (where / "bench" / "timeline.py").exists():  # an older commit has no plugin to load
            env["PYTEST_ADDOPTS"] += " -p bench.timeline"
            env[timeline.ENV] = str(lines)
        cpu0 = children_cpu()
        t0 = time.perf_counter()
        with open(log, "w") as out, timeline.CpuSampler() as cpu:
            rc = subprocess.call(["make", "test"], cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT)
        tests = time.perf_counter() - t0
        cpu1 = children_cpu()
        output = log.read_text(errors="replace")
        ran = timeline.read(lines) if lines.exists() else []
    finally:
        shutil.rmtree(where, ignore_errors=True)
    doc = {
        "what": "git clone of the commit, then `make setup` (both venvs, empty download caches) and `make test` in "
        "the clone, nothing else running",
        "commit": commit[:7],
        "machine_kind": machine.kind(),
        "cores": os.cpu_count(),
        "workers": args.workers if args.workers is not None else makefile_workers(makefile),
        "date": time.strftime("%Y-%m-%d"),
        "setup_seconds": round(setup),
        "test_seconds": round(tests),
        "make_test_seconds": round(setup + tests),
        "exit": rc,
        "cpu_seconds": {"user": round(cpu1[0] - cpu0[0], 1), "sys": round(cpu1[1] - cpu0[1], 1)},
        "summary": summary(output),
        "failed_tests": sorted(failed(output)),
        "slowest": slowest(output),
        "skipped_note": skipped(output),
        **idle_figures(ran, cpu),
    }
    suffix = f"-{args.workers}workers" if args.workers is not None else ""
    out = (
        Path(args.out)
        if args.out
        else ROOT / "bench" / "results" / f"make-test-fresh-clone-{machine.kind()}-{commit[:7]}{suffix}.json"
    )
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"setup {doc['setup_seconds']} s + tests {doc['test_seconds']} s = {doc['make_test_seconds']} s, "
          f"exit {rc}, {doc['summary']} -> {out}; the log: {log}")  # fmt: skip


if __name__ == "__main__":
    main()
