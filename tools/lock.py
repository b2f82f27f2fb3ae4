"""Regenerate requirements.lock: every package of the venv `make` builds, pinned, with hashes (`make lock-deps`).

    python -m tools.lock              # re-resolve pyproject.toml's dependencies and extras; versions stay as locked
    python -m tools.lock --upgrade    # let them move to the newest that resolve (then test before committing)
    python -m tools.lock --release pytest   # only pytest may move (a changed specifier); the rest stay as locked

pyproject.toml declares what the project needs (runtime dependencies, and the extras dask, kaggle, postgres, test,
lint, docs; `dev` is all of them). uv resolves that for this interpreter's Python version on manylinux x86_64, with
`--generate-hashes`, and writes requirements.lock; `make` installs exactly it (`pip install --no-deps --require-hashes`:
the lock is the whole resolution, every file checked against its hash) and then the project itself, editable. By default the current lock constrains the
resolution, so a regeneration only adds hashes and what a new dependency pulls in; `--upgrade` drops that.

Where torch's CPU build comes from: the lock pins `torch==2.13.0+cpu`, the CPU-only build, found in the folders of
pip's find-links (`PIP_FIND_LINKS` or pip's configuration: on the machines of this project's records, /opt/wheels).
PyPI's own torch wheels pull a multi-GB CUDA build; elsewhere, the same CPU build is on PyTorch's index
(`--find-links https://download.pytorch.org/whl/cpu/torch/`). pip's own packages are pinned too (setuptools is a
dependency of torch), so the lock is the whole venv.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.install import find_links

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
HEADER = """\
# Every package of the venv `make` builds, pinned with hashes: `make lock-deps` (python -m tools.lock) writes this
# from pyproject.toml's dependencies and extras. torch==2.13.0+cpu is the CPU-only build, from pip's find-links
# (on this project's machines /opt/wheels; elsewhere https://download.pytorch.org/whl/cpu/torch/). Do not edit.
"""


def uv() -> str:
    """The uv executable: the venv's (the lint extra installs it), else one on PATH."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("lock: uv is not installed (pip install uv, or make's .venv, which has it)")
    return found


def released(lock: str, names: list[str]) -> str:
    """The lock's text without the entries (a `name==version` line and its hash lines) of packages `names`."""
    from packaging.utils import canonicalize_name

    drop = {canonicalize_name(n) for n in names}
    kept, skipping = [], False
    for line in lock.splitlines(keepends=True):
        if line[:1].isalnum():
            skipping = canonicalize_name(line.split("==")[0].split("[")[0]) in drop
        if not skipping:
            kept.append(line)
    return "".join(kept)


def compile_lock(upgrade: bool = False, out: Path = LOCK, release: list[str] | None = None) -> list[str]:
    """Resolve pyproject.toml (every extra) into `out` with hashes; returns the pinned `name==version` lines. The
    current lock constrains the resolution unless `upgrade`; `release`: packages it does not hold."""
    with tempfile.TemporaryDirectory(prefix="lock-") as tmp:
        cmd = [uv(), "pip", "compile", str(REPO / "pyproject.toml"), "--extra", "dev", "--generate-hashes"]
        cmd += ["--python-version", platform.python_version(), "--python-platform", "x86_64-manylinux_2_28"]
        cmd += ["--no-header", "--no-annotate", "--quiet", "-o", str(Path(tmp) / "lock.txt")]
        for link in find_links():
            cmd += ["--find-links", link]
        if not upgrade and out.exists():
            held = Path(tmp) / "constraints.txt"
            held.write_text(released(out.read_text(), release or []))
            cmd += ["--constraints", str(held)]
        subprocess.run(cmd, cwd=REPO, check=True)
        body = (Path(tmp) / "lock.txt").read_text()
    out.write_text(HEADER + body)
    return [line.split(" ")[0] for line in body.splitlines() if line[:1].isalnum()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upgrade", action="store_true", help="do not hold the versions of the current lock")
    ap.add_argument("--release", action="append", metavar="NAME", help="do not hold this package (repeatable)")
    a = ap.parse_args(argv)
    pins = compile_lock(upgrade=a.upgrade, release=a.release)
    print(f"requirements.lock: {len(pins)} packages pinned with hashes")


if __name__ == "__main__":
    main()
