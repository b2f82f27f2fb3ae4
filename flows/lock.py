"""One pipeline run at a time per checkout: an OS file lock (flock) the flows take before touching DVC.

A second run waits for the first (up to a bound) or is skipped with the reason logged: who holds the lock, since
when. The lock is the kernel's, so a run that crashes or is killed releases it with its process: no stale lock to
clear by hand. `dvc repro` has its own lock too (a concurrent one fails at once with "Unable to acquire lock"); this
one is held for a whole run, across its stages, and is shared by the scheduled pipeline (on its own workspace) and
the label sync (on the checkout), which both point at the checkout's lock file.
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


class Busy(Exception):
    """Another run holds the lock; the message says which and since when."""


def holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another run"
    if not info:
        return "another run"
    return f"{info.get('what', 'a run')} (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


@contextmanager
def run_lock(path: Path, what: str, wait_seconds: float = 0.0, poll: float = 1.0):
    """Hold the lock for the body. wait_seconds=0 tries once; raises Busy (naming the holder) if it stays taken."""
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
            yield info
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
