"""Launchers that stop what they start: a foreground process that owns child servers and ends them, within a bounded
time, on SIGTERM (a scheduler, a supervisor, `docker stop`, `kill`) exactly as on Ctrl-C or SIGHUP.

    with Supervisor("MLflow") as sup:
        sup.spawn(["mlflow", "server", ...], log=path)      # its own process group
        wait_http(url + "/health", sup)                       # a signal here stops the child too
        print("ready"); sup.wait()                            # until a signal, or a child exits on its own

Each child runs in its own session (process group), so one `killpg` reaches the grandchildren it forks (uvicorn and
gunicorn workers, the Prefect server's services); SIGTERM first, SIGKILL after `grace` seconds. Children are stopped
in reverse start order (a server before the database it uses). A stop asked for by a signal exits 0; a child that
died on its own makes the launcher exit with its code (1 if it was killed by a signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Stopped(BaseException):
    """A stop signal arrived (a BaseException, like KeyboardInterrupt: no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM to the child's process group, SIGKILL to it after `grace` seconds; reaps the child."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # the group is gone already (its leader reaped, nobody left in it)
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone: sweep what is left in its group (a worker that ignored the leader's shutdown)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    if proc.poll() is None:
        proc.wait()


class Supervisor:
    """Owns child process groups; installs the stop signals' handler while entered; stops every child on exit."""

    def __init__(self, name: str, grace: float = 20.0):
        self.name = name
        self.grace = grace
        self.children: list[subprocess.Popen] = []
        self._old: dict[int, object] = {}
        self.exit_code = 0

    def __enter__(self) -> Supervisor:
        def handler(signum, _frame):
            raise Stopped(signum)

        for sig in STOP_SIGNALS:
            self._old[sig] = signal.signal(sig, handler)
        return self

    def spawn(self, cmd: list[str], env: dict | None = None, cwd: Path | None = None, log: Path | None = None):
        """Start cmd in a session of its own, stdout and stderr to `log` (appended) or to the launcher's."""
        out = open(log, "ab") if log else None  # noqa: SIM115 (the child keeps it)
        try:
            proc = subprocess.Popen(
                cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
            )
        finally:
            if out:
                out.close()
        self.children.append(proc)
        return proc

    def adopt(self, proc: subprocess.Popen) -> subprocess.Popen:
        """A child started elsewhere (in a session of its own) that this supervisor now stops."""
        self.children.append(proc)
        return proc

    def wait(self) -> int:
        """Block until a stop signal (raised as Stopped) or until any child exits on its own (its code)."""
        while True:
            for proc in self.children:
                code = proc.poll()
                if code is not None:
                    print(f"{self.name}: {' '.join(map(str, proc.args[:2]))} exited with {code}", file=sys.stderr)
                    self.exit_code = code if code > 0 else (1 if code < 0 else 0)
                    return self.exit_code
            time.sleep(0.2)

    def stop(self) -> None:
        # ignore further stop signals while stopping: a second Ctrl-C must not leave half the children running
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        for proc in reversed(self.children):
            stop_group(proc, self.grace)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self.stop()
        finally:
            for sig, old in self._old.items():
                signal.signal(sig, old)
        if exc_type in (Stopped, KeyboardInterrupt):
            print(f"{self.name}: stopped", file=sys.stderr)
            self.exit_code = 0
            return True
        return False


def wait_http(url: str, sup_or_proc, timeout: float = 120.0, what: str = "the server") -> None:
    """Poll url until it answers 200; fail at once if a child (a Supervisor's, one Popen, a list of them) exits
    meanwhile (Stopped passes through)."""
    if isinstance(sup_or_proc, Supervisor):
        procs = sup_or_proc.children
    else:
        procs = sup_or_proc if isinstance(sup_or_proc, list) else [sup_or_proc]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not answer {url} within {timeout:.0f} s")
