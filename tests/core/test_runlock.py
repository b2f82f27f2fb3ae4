"""The checkout's run lock: one holder at a time, named when busy, handed down to the children a holder starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.runlock import ENV, Busy, child_env, run_lock
from tests.conftest import REPO

CHILD = (
    "import sys; from pathlib import Path; from core.runlock import run_lock, Busy\n"
    "try:\n"
    "    with run_lock(Path(sys.argv[1]), 'child', wait_seconds=0) as info:\n"
    "        print('inherited' if info.get('inherited') else 'own')\n"
    "except Busy as err:\n"
    "    print('busy:', err)\n"
)


def _child(path: Path, env: dict | None = None, fds: tuple[int, ...] = ()) -> str:
    import os

    base = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO,
        env={**base, **(env or {})},
        pass_fds=fds,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_a_child_inherits_the_lock_its_parent_holds_and_others_wait(tmp_path):
    path = tmp_path / "run.lock"
    with run_lock(path, "label sync") as info:
        env, fds = child_env(info)
        assert _child(path, env, fds) == "inherited"
        assert _child(path).startswith("busy: label sync (pid")  # not handed down: a stranger waits
        with open(tmp_path / "other", "w") as other:  # a descriptor of another file under the name: not the lock
            assert _child(path, {ENV: str(other.fileno())}, (other.fileno(),)).startswith("busy:")
        assert _child(path, {ENV: "not-a-number"}).startswith("busy:")
        with pytest.raises(Busy):  # the child's exit did not release the parent's lock
            with run_lock(path, "second", wait_seconds=0):
                pass
    assert _child(path) == "own"


def test_a_held_lock_names_its_holder(tmp_path):
    path = tmp_path / "run.lock"
    code = (
        "import sys, time; from pathlib import Path; from core.runlock import run_lock\n"
        "with run_lock(Path(sys.argv[1]), 'pipeline run brave-owl'):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Busy, match=r"pipeline run brave-owl \(pid \d+ on .*, since .*\) is in progress"):
            with run_lock(path, "second", wait_seconds=0.3, poll=0.1):
                pass
    finally:
        holder.communicate("\n", timeout=10)
    with run_lock(Path(path), "third") as info:  # released with its holder
        assert info["what"] == "third"
