"""bench/venv_setup.py: which setup each commit's `make test` runs, and the package lists it compares."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("bench_venv_setup", REPO / "bench" / "venv_setup.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_a_commit_with_a_setup_target_runs_it_and_an_older_one_its_two_installs(tmp_path):
    assert bench.setup_command(REPO) == ["make", "setup"]  # this checkout's Makefile
    (tmp_path / "Makefile").write_text("test:\n\t$(MAKE) -j2 $(STAMP) labelstudio-venv\n\tpytest\n")
    assert bench.setup_command(tmp_path) == ["make", "-j2", ".venv/.installed", "labelstudio-venv"]


def test_packages_are_the_venvs_pins_without_the_projects_own_line(tmp_path, monkeypatch):
    frozen = "b==2\n-e /tmp/clone\na==1\nanime-characters @ file:///tmp/clone\n"

    class Done:
        stdout = frozen

    calls = []
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    assert bench.packages(tmp_path / "v") == ["a==1", "b==2"]
    assert calls[0][:4] == [str(tmp_path / "v" / "bin" / "python"), "-m", "pip", "freeze"]
