"""Install requirements.lock into a venv with uv (what `make` runs to make `.venv`; standard library only).

    python3 -m tools.install                     # .venv from requirements.lock, then the project itself, editable
    python3 -m tools.install --venv /tmp/v --lock requirements.lock

The lock pins every package with its hashes, uv among them (the locker, `make lock-deps`). pip installs that one
pinned uv into the venv first (its hashes checked), then uv installs the whole lock (`uv pip install --no-deps
--require-hashes`: exactly the locked files, each checked against its hash, nothing resolved) and the project
(`--no-deps -e .`). uv fetches and unpacks the files side by side where pip takes them one after another
(bench/venv_setup.py measures both; docs/testing.md has the figures). torch's CPU build comes from the folders of
pip's find-links (`PIP_FIND_LINKS` or pip's configuration), as for the locker (tools/lock.py), which uv is told of.

Bytecode: the venv holds about 24,000 modules, of which the project's processes import about 5,500. Compiling them
all at install (uv's `--compile-bytecode`, pip's default) took most of the install's time; instead, `warm` imports
what the repository's code imports (`imported`: every import statement of its tracked Python files, functions' own
included, that names an installed package, plus WARM_EXTRA), two processes side by side, with bytecode written. What
no code names compiles on its first import (`make` lets Python write bytecode, whatever the shell says).
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# imported by the packages themselves, or run as commands, rather than named by the repository's code: torch's
# optimizers import its compiler stack (and sympy) when they are made; DVC's, MLflow's, Prefect's and MkDocs'
# commands (`dvc repro`, the tracking server, the Prefect server, the strict docs build) and the test runner's plugin
WARM_EXTRA = (
    "torch._dynamo",
    "dvc.cli",
    "mlflow.server",
    "prefect.server.api.server",
    "mkdocs.commands.build",
    "material",
    "xdist",
)
# one process imports these (and what they import), the other everything else: the two heaviest trees apart
WARM_FIRST = ("torch", "torchmetrics", "safetensors", "sklearn", "scipy")


def pinned(lock: Path, name: str) -> str:
    """The block of `lock` that pins `name` (its `name==version` line and the `--hash` lines under it)."""
    lines = lock.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.split("==")[0].strip().lower() == name and "==" in line:
            block = [line]
            for cont in lines[i + 1 :]:
                if not cont.startswith((" ", "\t")):
                    break
                block.append(cont)
            return "\n".join(block) + "\n"
    raise SystemExit(f"install: {lock} pins no {name}")


def find_links() -> list[str]:
    """The folders or URLs pip's find-links names here (the environment first, then pip's configuration)."""
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    if not links:
        got = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
        )
        links = got.stdout.split() if got.returncode == 0 else []
    return links


def install(venv: Path, lock: Path, project: Path | None) -> None:
    """`lock` into `venv` (which must exist) with the uv it pins, then `project` editable (None: not)."""
    python, uv = venv / "bin" / "python", venv / "bin" / "uv"
    if not python.exists():
        raise SystemExit(f"install: {venv} is not a venv (no bin/python)")
    if not uv.exists():
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="uv-pin-") as pin:
            pin.write(pinned(lock, "uv"))
            pin.flush()
            pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps"]
            subprocess.run([*pip, "--require-hashes", "-r", pin.name], check=True)
    cmd = [str(uv), "pip", "install", "--python", str(python), "--quiet", "--no-deps"]
    links = [arg for link in find_links() for arg in ("--find-links", link)]
    subprocess.run([*cmd, "--require-hashes", *links, "-r", str(lock)], check=True)
    if project is not None:
        subprocess.run([*cmd, "-e", str(project)], check=True)
        warm(python, imported(project))


def imported(repo: Path) -> list[str]:
    """Every module an import statement of `repo`'s tracked Python files names (at module level or inside a
    function) that is neither the standard library's nor the repository's own, plus WARM_EXTRA; sorted."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", "*.py"], cwd=repo, capture_output=True, text=True)
    files = [f for f in listed.stdout.split("\0") if f] if listed.returncode == 0 else []
    if not files:  # not a git checkout (an exported tree): every Python file under it
        files = [str(p.relative_to(repo)) for p in repo.rglob("*.py") if ".venv" not in p.parts]
    own = {Path(f).parts[0].removesuffix(".py") for f in files}
    names = set(WARM_EXTRA)
    for f in files:
        try:
            tree = ast.parse((repo / f).read_bytes())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return sorted(n for n in names if n.split(".")[0] not in own | set(sys.stdlib_module_names))


# imports each module named on stdin; one that fails to import (an optional package, a platform's own) is skipped
_WARM = "import importlib, sys\nfor n in sys.stdin.read().split():\n    try: importlib.import_module(n)\n    except Exception: pass"


def warm(python: Path, names: list[str], timeout: float = 900.0) -> None:
    """Import `names` with `python`, bytecode written (PYTHONDONTWRITEBYTECODE unset), in two processes side by
    side (WARM_FIRST's trees in one), from a temporary folder: what the project's processes import is then compiled
    once, here, and read after. Warming only saves time later: a process still running after `timeout` seconds is
    stopped and the install goes on."""
    python = Path(os.path.abspath(python))  # it runs from elsewhere; not resolve(): a venv's python links out of it
    first = [n for n in names if n.split(".")[0] in WARM_FIRST]
    groups = [g for g in (first, [n for n in names if n not in first]) if g]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("DO_NOT_TRACK", "1")
    with tempfile.TemporaryDirectory(prefix="warm-") as cwd:
        procs = []
        for group in groups:
            out = subprocess.DEVNULL
            proc = subprocess.Popen(
                [str(python), "-c", _WARM], stdin=subprocess.PIPE, stdout=out, stderr=out, cwd=cwd, env=env, text=True
            )
            proc.stdin.write("\n".join(group))
            proc.stdin.close()
            procs.append(proc)
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=REPO / ".venv")
    ap.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    ap.add_argument("--no-project", action="store_true", help="the lock alone, not the project")
    a = ap.parse_args(argv)
    install(a.venv, a.lock, None if a.no_project else REPO)


if __name__ == "__main__":
    main()
