"""The whole pipeline's wall time, stage by stage, as a newcomer meets it: a fresh clone, then `make pipeline`.

    .venv/bin/python bench/pipeline_time.py                  # clone HEAD beside the checkout, time `make pipeline`
    .venv/bin/python bench/pipeline_time.py --clone ../fresh # the same in a clone that exists (its outputs are kept)
    .venv/bin/python bench/pipeline_time.py --log run.log --commit 612a431   # only read a log made as below

The clone gets its `.venv` first (`make .venv/.installed`, timed apart: a newcomer's first-use setup, not the
pipeline's). Then `make pipeline` runs in it and every line it prints is stamped with the UTC time it arrived
(`HH:MM:SS line`; the log is kept as `pipeline-time.log` in the clone). A stage's time runs from DVC's
`Running stage '<name>':` line to the next stage's line, or to the end; `source` is `python -m stages.source`, from
the start to DVC's first line. Stages DVC skipped (`Stage '<name>' didn't change, skipping`: their committed outputs
are in the clone already, as `metrics/pixel_baseline.json` is) are listed as skipped. The seconds of each training
the run's metrics record are kept beside the stage times (`trainings`).

This is a budget measurement, not a ratio: the `cpu` pipeline should take under an hour on the 2-core machines of
the committed records (docs/pipeline.md). It needs a quiet machine: anything else running stretches every stage.
Writes bench/results/pipeline-time-<profile>-<machine kind>.json (the commit, the machine, seconds per stage, the
total against the budget); tools/results.py renders it into the pipeline-times report.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_S = 3600
RUNNING = re.compile(r"^Running stage '(?P<stage>[^']+)':")
SKIPPED = re.compile(r"^Stage '(?P<stage>[^']+)' didn't change, skipping")
STAMP = re.compile(r"^(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) ?(?P<line>.*)$")


def parse(lines: list[str]) -> dict:
    """{stages: [{stage, seconds}] in order, skipped: [stage], total_seconds} from a stamped log: each line
    `HH:MM:SS text` (a day boundary is crossed where the clock goes back). The run spans the first stamped line to
    the last; what comes before DVC's first stage is `source`."""
    events: list[tuple[int, str]] = []
    day, last = 0, None
    for raw in lines:
        m = STAMP.match(raw.rstrip("\n"))
        if not m:
            continue
        t = int(m["h"]) * 3600 + int(m["m"]) * 60 + int(m["s"])
        if last is not None and t + day < last:
            day += 86400
        last = t + day
        events.append((last, m["line"]))
    if not events:
        raise ValueError("no stamped lines (HH:MM:SS text): not a log of this script")
    start, end = events[0][0], events[-1][0]
    marks: list[tuple[int, str]] = [(start, "source")]
    skipped = []
    for t, line in events:
        if r := RUNNING.match(line):
            marks.append((t, r["stage"]))
        elif s := SKIPPED.match(line):
            skipped.append(s["stage"])
    if len(marks) == 1:
        raise ValueError("no `Running stage` line: DVC ran nothing (or the log is not of `make pipeline`)")
    stages = [
        {"stage": name, "seconds": (marks[i + 1][0] if i + 1 < len(marks) else end) - t}
        for i, (t, name) in enumerate(marks)
    ]
    return {"stages": stages, "skipped": skipped, "total_seconds": end - start}


def trainings(metrics: Path) -> dict[str, float]:
    """{dotted key: seconds} of every training and slider scoring the run's metrics record (`*train_seconds`,
    `*sliders_seconds` in metrics/<stage>.json), so that the result keeps them beside the stage times."""
    out: dict[str, float] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif path.endswith(("train_seconds", "sliders_seconds")) and isinstance(node, int | float):
            out[path] = node

    for f in sorted(Path(metrics).glob("*.json")):
        walk(json.loads(f.read_text()), "")
    return out


def run_stamped(cmd: list[str], cwd: Path, log: Path) -> int:
    """Run `cmd`, writing each output line to `log` with the UTC time it arrived; its exit status."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in proc.stdout:
                out.write(f"{datetime.now(UTC):%H:%M:%S} {line}")
                out.flush()
            return proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, help="only parse this stamped log of `make pipeline`")
    ap.add_argument("--clone", type=Path, help="where the fresh clone goes (default: beside the checkout)")
    ap.add_argument("--commit", help="the commit the log's clone ran (with --log; default: HEAD)")
    ap.add_argument("--metrics", type=Path, help="with --log: the run's metrics folder (its trainings' seconds)")
    ap.add_argument("--venv-seconds", type=int, help="with --log: how long the clone's `.venv` took, if timed")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from core import machine

    commit = (
        args.commit
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    doc: dict = {"what": "make pipeline in a fresh clone, seconds per stage", "profile": args.profile}
    log, metrics = args.log, args.metrics
    if args.venv_seconds is not None:
        doc["venv_seconds"] = args.venv_seconds
    if log is None:
        clone = args.clone or REPO.parent / f"pipeline-time-{commit}"
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
            subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=clone, check=True)
        t0 = time.perf_counter()
        subprocess.run(["make", ".venv/.installed"], cwd=clone, check=True)
        doc["venv_seconds"] = round(time.perf_counter() - t0)
        log, metrics = clone / "pipeline-time.log", clone / "metrics"
        rc = run_stamped(["make", "pipeline"], clone, log)
        if rc != 0:
            print(f"pipeline_time: make pipeline failed (exit {rc}); see {log}", file=sys.stderr)
            return rc
    doc.update(parse(log.read_text().splitlines()))
    if metrics is not None:
        doc["trainings"] = trainings(metrics)
    doc.update(
        {"commit": commit, "machine_kind": machine.kind(), "device": machine.describe(), "budget_seconds": BUDGET_S}
    )
    doc["within_budget"] = doc["total_seconds"] < BUDGET_S
    out = args.out or REPO / "bench" / "results" / f"pipeline-time-{args.profile}-{machine.kind()}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    total = doc["total_seconds"]
    print(
        f"pipeline_time: {total // 60} min {total % 60} s ({'within' if doc['within_budget'] else 'over'} the hour) -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
