"""The test suite's time against a baseline commit's, on the same machine in the same run.

    .venv/bin/python bench/test_suite.py                                   # make test-fast, then make test
    .venv/bin/python bench/test_suite.py --target test-fast --baseline <commit> --out /tmp/suite.json

Each commit (the baseline, default the last one before the code and documentation were reshaped into a
documentation site and one family shape, and HEAD) is checked out as a fresh clone beside this checkout (so that
`../shared` is found as on CI), its `.venv` made by its own Makefile (timed apart: the first setup), and then each
target (`make test-fast`, `make test`) runs in the baseline's clone and then in HEAD's, with pytest reporting every
test's duration (`--durations=0`). Figures per commit and target: the wall time, the pytest summary (passed, failed,
skipped), and the time of the tests both commits have, matched by test name (function and parameters; files moved
between the two): the suite's growth does not count against it. The ratio HEAD / baseline of both is the figure
("no slower": at most 1.05). Nothing else should run on the machine meanwhile (two processes on two cores slow each
other many times over); the clones are removed afterwards. Result: bench/results/test-suite-<machine kind>.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = "4e85d91"  # the parent of the first reshaping commit (the documentation site's dependencies)
DURATION = re.compile(r"^\s*([0-9.]+)s\s+(setup|call|teardown)\s+(\S.*?)\s*$")
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def durations(output: str) -> dict[str, list[float]]:
    """{test name (the part after the last `::`): [seconds of each test of that name]} from pytest's
    `--durations=0` table (setup, call and teardown added up per test)."""
    per_id: dict[str, float] = collections.defaultdict(float)
    for line in output.splitlines():
        m = DURATION.match(line)
        if m:
            per_id[m.group(3)] += float(m.group(1))
    by_name: dict[str, list[float]] = collections.defaultdict(list)
    for test_id, seconds in per_id.items():
        by_name[test_id.rsplit("::", 1)[-1]].append(seconds)
    return dict(by_name)


def failed(output: str) -> set[str]:
    """Names of the tests pytest's short summary reports as FAILED or ERROR (their time is not the suite's)."""
    names = set()
    for line in output.splitlines():
        m = re.match(r"^(FAILED|ERROR) (\S+)", line)
        if m:
            names.add(m.group(2).rsplit("::", 1)[-1])
    return names


def summary(output: str) -> dict[str, int]:
    """{"passed": n, "failed": n, ...} from pytest's last summary line."""
    lines = [ln for ln in output.splitlines() if re.search(r"\b(passed|failed)\b.* in [0-9.]+s", ln)]
    if not lines:
        return {}
    return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in SUMMARY.findall(lines[-1])}


def common_seconds(
    a: dict[str, list[float]], b: dict[str, list[float]], leave_out: set[str] = frozenset()
) -> tuple[float, float, int]:
    """(a's seconds, b's seconds, tests) over the names both have the same number of times, but `leave_out` (tests
    that failed in either run: a failure ends a test early)."""
    names = [n for n in a if n in b and len(a[n]) == len(b[n]) and n not in leave_out]
    return sum(sum(a[n]) for n in names), sum(sum(b[n]) for n in names), sum(len(a[n]) for n in names)


def largest_changes(
    a: dict[str, list[float]], b: dict[str, list[float]], leave_out: set[str] = frozenset(), n: int = 15
) -> list[dict]:
    """The `n` common tests (as common_seconds matches them) whose time moved most from `a` to `b`, either way:
    [{"test", "baseline", "head"}] in seconds, largest move first (where a ratio over the common tests comes from)."""
    names = [k for k in a if k in b and len(a[k]) == len(b[k]) and k not in leave_out]
    moved = sorted(names, key=lambda k: -abs(sum(b[k]) - sum(a[k])))[:n]
    return [{"test": k, "baseline": round(sum(a[k]), 2), "head": round(sum(b[k]), 2)} for k in moved]


def compare(got: dict) -> dict:
    """The target's figures from both commits' runs ({"baseline": ..., "head": ...}, each with `_durations`)."""
    leave_out = set(got["baseline"]["failed_tests"]) | set(got["head"]["failed_tests"])
    a, b = got["baseline"].pop("_durations"), got["head"].pop("_durations")
    base, head, n = common_seconds(a, b, leave_out)
    return {
        **got,
        "common_tests": n,
        "common_seconds": {"baseline": round(base, 1), "head": round(head, 1)},
        "common_moved_most": largest_changes(a, b, leave_out),
        "ratio_common": round(head / base, 3) if base else None,
        "ratio_wall": round(got["head"]["seconds"] / got["baseline"]["seconds"], 3),
    }


def _run(cmd: list[str], cwd: Path, log: Path, env: dict | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.call(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - t0, rc, log.read_text(errors="replace")


def resolve(ref: str) -> str:
    """The full commit id of `ref` in this checkout."""
    got = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], capture_output=True, text=True, check=True)
    return got.stdout.strip()


def outside_env() -> dict[str, str]:
    """This process's environment without this checkout's venv (no VIRTUAL_ENV, no `.venv` on PATH): a clone's `make`
    then makes and uses its own. Nor PYTHONDONTWRITEBYTECODE, which a shell may export and a newcomer's does not:
    the clone's processes write the project's bytecode as they would on a new machine."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "/.venv" not in p)
    return env


def clone(commit: str, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(where)], check=True)
    subprocess.run(["git", "-C", str(where), "checkout", "-q", "--detach", commit], check=True)
    return where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--head", default="HEAD")
    ap.add_argument("--target", action="append", choices=["test-fast", "test"], help="default: both")
    ap.add_argument("--out", help="default: bench/results/test-suite-<machine kind>.json")
    ap.add_argument("--keep", action="store_true", help="keep the clones and logs (beside this checkout)")
    args = ap.parse_args()
    from core import machine

    targets = args.target or ["test-fast", "test"]
    commits = {"baseline": resolve(args.baseline), "head": resolve(args.head)}
    work = ROOT.parent / ".bench-test-suite-logs"  # the clones sit beside this checkout, so ../shared resolves
    work.mkdir(exist_ok=True)
    env = {**outside_env(), "PYTEST_ADDOPTS": "--durations=0 --durations-min=0"}
    doc: dict = {"commits": commits, "targets": {}, "setup_seconds": {}}
    try:
        clones = {name: clone(c, ROOT.parent / f".bench-test-suite-{name}") for name, c in commits.items()}
        for name, where in clones.items():
            seconds, rc, _ = _run(["make", ".venv/.installed"], where, work / f"{name}-setup.log", env)
            if rc:
                raise SystemExit(f"{name}: make .venv/.installed exited {rc}; see {work / f'{name}-setup.log'}")
            doc["setup_seconds"][name] = round(seconds, 1)
        for target in targets:
            got = {}
            for name, where in clones.items():
                print(f"{target} at {name} ({commits[name][:8]}) ...", flush=True)
                seconds, rc, output = _run(["make", target], where, work / f"{name}-{target}.log", env)
                got[name] = {"seconds": round(seconds, 1), "exit": rc, "summary": summary(output)}
                got[name].update({"_durations": durations(output), "failed_tests": sorted(failed(output))})
                print(f"  {seconds:.0f} s, exit {rc}, {got[name]['summary']}", flush=True)
            doc["targets"][target] = compare(got)
            print(f"{target}: common tests {doc['targets'][target]['common_tests']}, head/baseline "
                  f"{doc['targets'][target]['ratio_common']}", flush=True)  # fmt: skip
    finally:
        if not args.keep:
            for name in commits:
                shutil.rmtree(ROOT.parent / f".bench-test-suite-{name}", ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
    doc.update({"machine_kind": machine.kind(), "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count()})
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"test-suite-{machine.kind()}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
