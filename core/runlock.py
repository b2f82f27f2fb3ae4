"""One run at a time per checkout: an OS file lock (flock) that the flows and the label sync take before they touch
DVC or the Label Studio exports.

A second run waits for the first (up to a bound) or is skipped with the reason logged: who holds the lock, since
when. The lock is the kernel's, so a run that crashes or is killed releases it with its process: no stale lock to
clear by hand. `dvc repro` has its own lock too (a concurrent one fails at once with "Unable to acquire lock"); this
one is held for a whole run, across its stages, and is shared by the scheduled pipeline (on its own workspace), the
label-sync flow and `python -m labeling.sync`, which all point at the checkout's lock file (`lock_path`).

A process that holds the lock hands it to a child it starts (`child_env`): the child gets the locked file's
descriptor and its number in `ANIME_RUN_LOCK_FD`, and `run_lock` in the child finds it there and holds the lock
through it (the kernel's lock belongs to the open file, which parent and child share) without waiting for itself.
The number alone is not enough: the descriptor must be the lock file itself and must hold the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ENV = "ANIME_RUN_LOCK_FD"


class Busy(Exception):
    """Another run holds the lock; the message says which and since when."""


def lock_path(project: Path) -> Path:
    """The checkout's run lock, shared by the pipeline flow, the label-sync flow and `labeling.sync`."""
    return Path(project).resolve() / ".dvc" / "tmp" / "anime-flows.lock"


def holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another run"
    if not isinstance(info, dict) or not info:
        return "another run"
    return f"{info.get('what', 'a run')} (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


def _inherited(path: Path) -> int | None:
    """The descriptor of `path` that a parent holding the lock passed down (ENV), else None."""
    try:
        fd = int(os.environ.get(ENV, ""))
        mine, theirs = os.fstat(fd), os.stat(path)
    except (ValueError, OSError):
        return None
    if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
        return None
    try:  # succeeds on the open file that holds the lock (or on a free one); fails while someone else holds it
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    return fd


def child_env(info: dict) -> tuple[dict[str, str], tuple[int, ...]]:
    """(environment additions, pass_fds) that hand the lock held as `info` to a child process."""
    return {ENV: str(info["fd"])}, (info["fd"],)


@contextmanager
def run_lock(path: Path, what: str, wait_seconds: float = 0.0, poll: float = 1.0):
    """Hold the lock for the body. wait_seconds=0 tries once; raises Busy (naming the holder) if it stays taken.

    Yields the holder's record (what, pid, host, since) and `fd`, the descriptor a child needs (`child_env`).
    Inherited from a parent (ENV), the lock is used as it is and left to the parent to release.
    """
    fd = _inherited(path)
    if fd is not None:
        yield {"what": what, "pid": os.getpid(), "inherited": True, "fd": fd}
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(f"{holder(path)} is in progress") from None
                time.sleep(poll)
        info = {
            "what": what,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield {**info, "fd": fd}
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
