"""What a stage's process spends before its own work: importing what the stage imports, with the project's bytecode
written beside the sources (what `make` lets Python do) against compiled again in every process
(PYTHONDONTWRITEBYTECODE=1, what `make` set before), in the same run on the same machine.

    .venv/bin/python bench/stage_start.py                  # bench/results/stage-start-<machine kind>.json
    .venv/bin/python bench/stage_start.py --runs 7 --out /tmp/start.json

Two copies of the tracked files are made in a temporary folder. For each stage module, each way is timed `--runs`
times, the two taking turns (`python -c "import stages.<name>, <what its run imports>"`, the user + system CPU time of
the child, one thread): the baseline in the copy that never holds bytecode, with PYTHONDONTWRITEBYTECODE=1; HEAD's way
in the other, after one process wrote its bytecode. The figure is the median of each, and their ratio (bytecode /
none). The venv's own bytecode is the same in both (tools/install.py warms it at install). Nothing else should run
meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# each stage module with the project modules its run imports inside its functions (the families, the scorers)
IMPORTS = {
    "train": "stages.train, models.dcgan.family, models.stylegan.family, models.metrics.generators",
    "evaluate": "stages.evaluate, models.dcgan.family, models.stylegan.family, models.sr.family",
    "tagger": "stages.tagger, models.tagger.family",
    "deploy": "stages.deploy, serve.bundles",
    "extractor": "stages.extractor",
}


def copy_tracked(dst: Path) -> Path:
    """The tracked files of this checkout (what a fresh clone holds), without any bytecode."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, names.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


def cpu_seconds(cmd: list[str], cwd: Path, env: dict) -> float:
    """The user + system CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(none: Path, written: Path, runs: int) -> dict:
    """Each stage's imports timed `runs` times each way, the two ways taking turns (the machine's drift falls on both):
    in `none`, a copy that never holds bytecode (PYTHONDONTWRITEBYTECODE=1), and in `written`, a copy whose bytecode
    its first process wrote."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    off = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(none)}
    on = {**env, "PYTHONPATH": str(written)}
    out = {}
    for stage, modules in IMPORTS.items():
        cmd = [sys.executable, "-c", f"import {modules}"]
        cpu_seconds(cmd, written, on)  # writes the copy's bytecode, as a stage's first process does
        baseline, head = [], []
        for _ in range(runs):
            baseline.append(cpu_seconds(cmd, none, off))
            head.append(cpu_seconds(cmd, written, on))
        assert not list(none.rglob("__pycache__")), "the baseline wrote bytecode"
        b, h = statistics.median(baseline), statistics.median(head)
        out[stage] = {"imports": modules, "bytecode_files": len(list(written.rglob("*.pyc"))),
                      "baseline_seconds": round(b, 3), "head_seconds": round(h, 3), "ratio": round(h / b, 3)}  # fmt: skip
        print(f"{stage}: {b:.2f} s without bytecode, {h:.2f} s with it ({h / b:.2f})", flush=True)
    return out


def main() -> None:
    from core import machine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--out", help="default: bench/results/stage-start-<machine kind>.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stage-start-") as tmp:
        stages = measure(copy_tracked(Path(tmp) / "none"), copy_tracked(Path(tmp) / "written"), args.runs)
    ratios = [s["ratio"] for s in stages.values()]
    doc = {
        "what": "CPU seconds (user + system) of a process that imports a stage and what its run imports, one thread: "
        "baseline without the project's bytecode (PYTHONDONTWRITEBYTECODE=1, a copy holding none), head with it "
        "written beside the sources; medians",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "machine_kind": machine.kind(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "runs": args.runs,
        "stages": stages,
        "saved_seconds_mean": round(
            statistics.mean(s["baseline_seconds"] - s["head_seconds"] for s in stages.values()), 3
        ),
        "ratio_mean": round(statistics.mean(ratios), 3),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"stage-start-{machine.kind()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: mean ratio {doc['ratio_mean']}")


if __name__ == "__main__":
    main()
