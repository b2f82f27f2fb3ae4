"""Run a command that dies with the process that started it: `python flows/reaper.py -- dvc repro ...`.

A `dvc repro` started by a flow run must not outlive it: when the flow run is killed (a cancelled run, a worker's
SIGTERM, a SIGKILL, a crash), the stage it was running stops too, rather than training on with nobody to record it
and holding DVC's lock. The reaper starts the command in a process group of its own (so the stage's processes, which
DVC starts in that group, go with it), forwards SIGTERM and SIGINT to the group, and watches its parent: when the
parent is gone (the reaper was re-parented), it stops the group: SIGTERM, then SIGKILL after `GRACE` seconds. The
command's exit code is the reaper's (128 + N for a signal N). Standard library only: it runs from any project's
folder, as the flows run `dvc` in a DVC project that is not this repository.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

GRACE = 10.0  # seconds between SIGTERM and SIGKILL
POLL = 0.25  # seconds between looks at the parent


def stop(group: int) -> None:
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: reaper.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    parent = os.getppid()
    child = subprocess.Popen(argv, start_new_session=True)

    def forward(signum, _frame):
        stop(child.pid)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    orphaned_at = None
    while True:
        try:
            code = child.wait(POLL)
            break
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent and orphaned_at is None:  # the flow run is gone: so is its stage
            stop(child.pid)
            orphaned_at = os.times().elapsed
        elif orphaned_at is not None and os.times().elapsed - orphaned_at > GRACE:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:  # whatever the command left in its group goes with it
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
