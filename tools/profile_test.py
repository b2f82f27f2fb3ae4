"""Where one test's time goes: a py-spy record of it, every process it starts included, summed per command.

    pip install --target /tmp/pyspy py-spy     # a profiler, not a dependency of the project: not in the lock
    PATH=/tmp/pyspy/bin:$PATH .venv/bin/python -m tools.profile_test tests/stages/test_pipeline.py::test_dvc_repro_noop_change_push_pull
    .venv/bin/python -m tools.profile_test --raw /tmp/smoke.txt <test>   # read a record made earlier

It runs `py-spy record --subprocesses --rate 10 --format raw` around `pytest -n 0 <test>` with one thread per process
(OMP_NUM_THREADS=1, as each `make test` worker runs), then reads the samples. Per command (a stage's `python -m
stages.<x>`, `dvc repro`, pytest itself; paths dropped): the sampled seconds, how many processes ran it, and the
seconds spent importing (a stack through importlib's `_find_and_load`). Per package: the seconds its own modules'
import code ran (the deepest module being imported on each stack), which is where a process's start-up goes.
Nothing else should run on the machine meanwhile. A diagnosis, not a benchmark (bench/ compares against a baseline):
it says where the time goes. Result: bench/results/test-profile-<test>-<machine kind>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RATE = 10  # samples a second
PROCESS = re.compile(r'^process (\d+):"([^"]*)')  # a command line with a ";" in it is cut there: its start is enough
FRAME = re.compile(r"^(.*) \((.+?):\d+\)$")


def command(cmdline: str, words: int = 5) -> str:
    """A process's command line without directories (`/x/.venv/bin/python -m stages.ruler` -> `python -m
    stages.ruler`), its first `words` words."""
    return " ".join(w.rsplit("/", 1)[-1] if "/" in w and not w.startswith("-") else w for w in cmdline.split()[:words])


def package(file: str) -> str:
    """The top-level package of a frame's file as py-spy names it (site-packages' prefix dropped: `torch/nn/x.py`)."""
    if "frozen" in file or file.startswith("<"):
        return "<frozen>"
    return file.split("site-packages/")[-1].split("/", 1)[0].removesuffix(".py")


def read(lines) -> dict:
    """py-spy's raw (collapsed) samples -> per command {seconds, processes, import_seconds}, and per package the
    seconds of its own import code; the totals."""
    seconds, imports, pids = Counter(), Counter(), defaultdict(set)
    by_package = Counter()
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, n = line.rsplit(" ", 1)
        n = int(n)
        frames = stack.split(";")
        procs = [m for m in map(PROCESS.match, frames) if m]
        pid, cmd = (procs[-1].group(1), command(procs[-1].group(2))) if procs else ("?", "?")
        seconds[cmd] += n
        pids[cmd].add(pid)
        code = [m for m in map(FRAME.match, frames) if m]
        if any(m.group(1) == "_find_and_load" for m in code):
            imports[cmd] += n
            modules = [m.group(2) for m in code if m.group(1) == "<module>"]
            by_package[package(modules[-1]) if modules else "<frozen>"] += n
    total, imported = sum(seconds.values()), sum(imports.values())
    return {
        "sampled_seconds": round(total / RATE, 1),
        "import_seconds": round(imported / RATE, 1),
        "processes": sum(len(p) for p in pids.values()),
        "by_command": {
            cmd: {
                "seconds": round(v / RATE, 1),
                "processes": len(pids[cmd]),
                "import_seconds": round(imports[cmd] / RATE, 1),
            }
            for cmd, v in seconds.most_common()
        },
        "import_seconds_by_package": {k: round(v / RATE, 1) for k, v in by_package.most_common(20)},
    }


def commit(ref: str) -> str:
    got = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], capture_output=True, text=True, check=True)
    return got.stdout.strip()


def record(test: str, out: Path) -> float:
    """py-spy around `pytest -n 0 <test>` (one thread per process); returns the test's wall seconds."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not on PATH: pip install --target /tmp/pyspy py-spy; PATH=/tmp/pyspy/bin:$PATH")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    cmd = [spy, "record", "--subprocesses", "--rate", str(RATE), "--format", "raw", "-o", str(out), "--"]
    cmd += [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", test]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(
            f"the test failed under py-spy ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("test", help="a pytest node id")
    ap.add_argument("--raw", help="a py-spy raw record of the test made earlier (nothing is run)")
    ap.add_argument("--seconds", type=float, help="with --raw: the test's wall seconds, as pytest reported them")
    ap.add_argument("--commit", default="HEAD", help="the commit the test ran at (default HEAD; with --raw: say which)")
    ap.add_argument("--out", help="default: bench/results/test-profile-<test>-<machine kind>.json")
    args = ap.parse_args()
    from core import machine

    wall = args.seconds
    with tempfile.TemporaryDirectory(prefix="test-profile-") as tmp:
        raw = Path(args.raw) if args.raw else Path(tmp) / "raw.txt"
        if not args.raw:
            wall = round(record(args.test, raw), 1)
        with open(raw) as f:
            doc = read(f)
    name = args.test.rsplit("::", 1)[-1]
    doc = {
        "what": "py-spy record --subprocesses of one test alone (pytest -n 0, one thread per process): seconds "
        "sampled per command, the seconds under an import, and each package's own import code",
        "test": args.test,
        "commit": commit(args.commit)[:7],
        "machine_kind": machine.kind(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "test_seconds": wall,
        **doc,
    }
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"test-profile-{name}-{machine.kind()}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(
        f"{doc['sampled_seconds']} s sampled, {doc['import_seconds']} s importing, {doc['processes']} processes -> {out}"
    )


if __name__ == "__main__":
    main()
