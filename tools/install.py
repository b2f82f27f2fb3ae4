"""Install requirements.lock into a venv with uv (what `make` runs to make `.venv`; standard library only).

    python3 -m tools.install                     # .venv from requirements.lock, then the project itself, editable
    python3 -m tools.install --venv /tmp/v --lock requirements.lock

The lock pins every package with its hashes, uv among them (the locker, `make lock-deps`). pip installs that one
pinned uv into the venv first (its hashes checked), then uv installs the whole lock (`uv pip install --no-deps
--require-hashes`: exactly the locked files, each checked against its hash, nothing resolved) and the project
(`--no-deps -e .`). uv fetches and unpacks the files side by side where pip takes them one after another
(bench/venv_setup.py measures both; docs/testing.md has the figures). It compiles every module to bytecode as pip does
(`--compile-bytecode`; uv's default leaves that to the first import): otherwise the first processes on a new machine
(two test workers, the stages they start) each compile torch and MLflow at once, and under PYTHONDONTWRITEBYTECODE=1
every process would, every time. torch's CPU build comes from the folders of pip's find-links (`PIP_FIND_LINKS` or pip's
configuration), as for the locker (tools/lock.py), which uv is told of.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    cmd = [str(uv), "pip", "install", "--python", str(python), "--quiet", "--no-deps", "--compile-bytecode"]
    links = [arg for link in find_links() for arg in ("--find-links", link)]
    subprocess.run([*cmd, "--require-hashes", *links, "-r", str(lock)], check=True)
    if project is not None:
        subprocess.run([*cmd, "-e", str(project)], check=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, default=REPO / ".venv")
    ap.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    ap.add_argument("--no-project", action="store_true", help="the lock alone, not the project")
    a = ap.parse_args(argv)
    install(a.venv, a.lock, None if a.no_project else REPO)


if __name__ == "__main__":
    main()
