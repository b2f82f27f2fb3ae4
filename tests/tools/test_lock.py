"""The package and its lock (pyproject.toml, requirements.lock, tools/lock.py): the lock pins every package with
hashes and satisfies what pyproject.toml declares, the venv `make` built holds exactly the lock, and the project
builds as a package whose commands run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+) \\$")


def _lock() -> dict[str, str]:
    """{canonical name: version} of requirements.lock; each pin must be followed by its hashes."""
    lines = (REPO / "requirements.lock").read_text().splitlines()
    pins: dict[str, str] = {}
    for i, line in enumerate(lines):
        if not line or line.startswith("#") or line.startswith("    --hash=sha256:"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.lock line {i + 1} is not a pinned requirement with hashes: {line!r}"
        assert lines[i + 1].startswith("    --hash=sha256:"), f"{m.group(1)} has no hash"
        pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for items in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in items if not r.startswith(project["name"])]
    return reqs


def test_the_lock_pins_every_declared_dependency_within_its_specifier():
    pins = _lock()
    assert len(pins) > 200 and pins["torch"] == "2.13.0+cpu"  # the CPU build, not PyPI's CUDA one
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared but not locked: make lock-deps"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), f"{req} but the lock has {pins[name]}"


def test_the_venv_holds_exactly_the_lock():
    """What `make` installed is the lock, package for package (the project itself, editable, and pip aside)."""
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) not in ("anime-pipeline", "pip")
    }
    assert installed == _lock()


@pytest.mark.slow
def test_the_project_builds_as_a_package_with_its_commands(tmp_path):
    # built from a copy of the tracked files: setuptools writes build/ and *.egg-info beside the sources it builds
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, tracked.split("\0")):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("anime_pipeline-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        requires = [line for line in zf.read(meta).decode().splitlines() if line.startswith("Provides-Extra:")]
    tops = {n.split("/")[0] for n in names if not n.startswith("anime_pipeline")}
    assert tops == {"core", "dataset", "flows", "labeling", "models", "serve", "stages", "synth"}, tops
    assert "models/dcgan/family.py" in names and "serve/static/index.html" in names and "labeling/tags.xml" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert {f"Provides-Extra: {x}" for x in ("dask", "kaggle", "postgres", "test", "lint", "docs", "dev")} == set(
        requires
    )
    assert "anime-serve = serve.__main__:main" in entry and "anime-alerts = flows.alerts:main" in entry
    # make installed the project editable: its commands are on the venv's PATH and run
    for command in ("anime-serve", "anime-promote", "anime-alerts"):
        exe = Path(sys.executable).parent / command
        done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage:" in done.stdout, (command, done.stderr[-2000:])


def test_release_drops_only_the_named_packages_entries_from_the_constraints():
    """`python -m tools.lock --release pytest`: the current lock holds every other package where it is."""
    from tools.lock import released

    lock = (REPO / "requirements.lock").read_text()
    out = released(lock, ["PyTest", "pytest_timeout"])  # names as pip compares them
    gone = {"pytest", "pytest-timeout"}
    assert {k for k in _lock() if k not in gone} == {
        canonicalize_name(m.group(1)) for m in map(PIN.match, out.splitlines()) if m
    }
    assert "pytest-xdist==" in out and "\npytest==" not in out and "pytest-timeout==" not in out
    lines = out.splitlines()
    orphans = [b for a, b in zip(lines, lines[1:]) if b.startswith("    --hash") and not a.endswith(" \\")]
    assert not orphans  # every hash line still follows its own pin
    assert released(lock, []) == lock
