"""The first setup `make test` runs (the venvs), a baseline commit's against HEAD's, on the same machine in the same run.

    .venv/bin/python bench/venv_setup.py                          # baseline: the last commit that installed with pip
    .venv/bin/python bench/venv_setup.py --baseline <commit> --out /tmp/setup.json

Each commit is checked out as a fresh clone beside this checkout, and the setup its `make test` runs is timed there
from nothing, as on a new machine: the main venv (`.venv`, from requirements.lock) and Label Studio's
(`.venv-labelstudio`, from its lock). At HEAD that is `make setup` (uv installs both, one after the other); a commit
without that target ran `make -j2 .venv/.installed labelstudio-venv` (pip, two installs at once). The download
caches start empty (pip's off, uv's in a fresh folder), so the files are fetched as on a new machine. Figures per
commit: the wall time, each venv's packages (`pip freeze --all`) and how long a process takes to import torch and
MLflow in the main venv (as every stage's process does), with PYTHONDONTWRITEBYTECODE=1: a venv installed without
its bytecode then compiles them again in each run, as it would in every process of a user who sets it. The ratio HEAD / baseline of the setup is the
figure; both venvs must hold the same packages at the same versions, and HEAD's import must be no slower. Nothing else should run on the machine meanwhile; the
clones are removed afterwards. Result: bench/results/setup-<machine kind>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.test_suite import clone, outside_env, resolve  # noqa: E402

BASELINE = "7794849"  # the last commit whose make installed with pip
OLD_SETUP = ["make", "-j2", ".venv/.installed", "labelstudio-venv"]


def setup_command(where: Path) -> list[str]:
    """The setup `make test` runs at the commit checked out in `where`."""
    makefile = (where / "Makefile").read_text()
    return ["make", "setup"] if "\nsetup:" in makefile else OLD_SETUP


def packages(venv: Path) -> list[str]:
    """`pip freeze --all` of `venv`, sorted, the project's own editable line left out (its path is the clone's)."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line for line in out.splitlines() if line and not line.startswith(("-e ", "#")) and " @ " not in line)


def import_seconds(venv: Path, env: dict, runs: int = 3) -> float:
    """The median wall time of a process that imports torch and MLflow in `venv`, as every stage's process does, under
    PYTHONDONTWRITEBYTECODE=1: the bytecode the install compiled is read, none is written."""
    cmd = [str(venv / "bin" / "python"), "-c", "import torch, mlflow"]
    seconds = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, check=True, capture_output=True)
        seconds.append(time.perf_counter() - t0)
    return round(sorted(seconds)[runs // 2], 2)


def time_setup(where: Path, env: dict) -> dict:
    cmd = setup_command(where)
    with tempfile.TemporaryDirectory(prefix="bench-setup-uv-") as cache:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=where, env={**env, "UV_CACHE_DIR": cache}, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{where.name}: {' '.join(cmd)} exited {done.returncode}\n{done.stdout[-2000:]}{done.stderr}")
    return {
        "command": " ".join(cmd),
        "seconds": round(seconds, 1),
        "packages": {v: packages(where / v) for v in (".venv", ".venv-labelstudio")},
        "import_seconds": import_seconds(where / ".venv", env),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--head", default="HEAD")
    ap.add_argument("--out", help="default: bench/results/setup-<machine kind>.json")
    args = ap.parse_args()
    from core import machine

    commits = {"baseline": resolve(args.baseline), "head": resolve(args.head)}
    env = {**outside_env(), "PIP_NO_CACHE_DIR": "1"}
    runs = {}
    try:
        for name, commit in commits.items():
            where = clone(commit, ROOT.parent / f".bench-setup-{name}")  # beside this checkout, as CI's clone
            print(f"setup at {name} ({commit[:8]}) ...", flush=True)
            runs[name] = time_setup(where, env)
            print(f"  {runs[name]['command']}: {runs[name]['seconds']:.0f} s", flush=True)
    finally:
        for name in commits:
            shutil.rmtree(ROOT.parent / f".bench-setup-{name}", ignore_errors=True)
    same = {v: runs["baseline"]["packages"][v] == runs["head"]["packages"][v] for v in (".venv", ".venv-labelstudio")}
    doc = {
        "what": "the setup make test runs (both venvs) in a fresh clone of each commit, empty download caches",
        "commits": commits,
        "seconds": {name: r["seconds"] for name, r in runs.items()},
        "commands": {name: r["command"] for name, r in runs.items()},
        "ratio": round(runs["head"]["seconds"] / runs["baseline"]["seconds"], 3),
        "import_seconds": {name: r["import_seconds"] for name, r in runs.items()},
        "same_packages": same,
        "differences": {
            v: sorted(set(runs["baseline"]["packages"][v]) ^ set(runs["head"]["packages"][v])) for v in same
        },
        "packages": {v: len(runs["head"]["packages"][v]) for v in same},
        "machine_kind": machine.kind(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"setup-{machine.kind()}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"head / baseline {doc['ratio']}; same packages: {same} -> {out}")
    if not all(same.values()):
        raise SystemExit(f"setup: the two commits' venvs differ: {doc['differences']}")


if __name__ == "__main__":
    main()
