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

A launcher killed with SIGKILL cannot stop anything, so with `pidfile` it keeps a record of its children (pid,
process group, start time, command) that it rewrites at each start and removes after a clean stop. The next launcher
with the same pidfile reads what is left, stops each recorded group that is still the same process (same start
time: never a stranger that reused the pid), says which it stopped, and only then starts its own.
"""

from __future__ import annotations

import json
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


def start_time(pid: int) -> int | None:
    """A process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, who it is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19]) if fields[0] != "Z" else None
    except (OSError, IndexError, ValueError):
        return None


def stop_leftovers(pidfile: Path, grace: float = 10.0) -> list[str]:
    """Stop the children a killed launcher recorded in `pidfile` that still run; returns what was stopped."""
    try:
        recorded = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return []
    stopped = []
    for child in recorded.get("children", []) if isinstance(recorded, dict) else []:
        try:
            pid, pgid, started, cmd = int(child["pid"]), int(child["pgid"]), int(child["start"]), str(child["cmd"])
        except (KeyError, TypeError, ValueError):
            continue
        if start_time(pid) != started:
            continue  # gone, or the pid now belongs to someone else
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.1)
            if start_time(pid) != started:
                break
        stopped.append(f"pid {pid} ({cmd})")
    pidfile.unlink(missing_ok=True)
    return stopped


class Supervisor:
    """Owns child process groups; installs the stop signals' handler while entered; stops every child on exit."""

    def __init__(self, name: str, grace: float = 20.0, pidfile: Path | None = None):
        self.name = name
        self.grace = grace
        self.pidfile = pidfile
        self.children: list[subprocess.Popen] = []
        self._old: dict[int, object] = {}
        self.exit_code = 0

    def __enter__(self) -> Supervisor:
        def handler(signum, _frame):
            raise Stopped(signum)

        for sig in STOP_SIGNALS:
            self._old[sig] = signal.signal(sig, handler)
        if self.pidfile is not None and self.pidfile.exists():
            for what in stop_leftovers(self.pidfile):
                print(f"{self.name}: stopped {what}, left by a launcher that was killed", file=sys.stderr)
        return self

    def _record(self) -> None:
        if self.pidfile is None:
            return
        from core.atomic import write_text

        children = [
            {"pid": p.pid, "pgid": os.getpgid(p.pid), "start": start_time(p.pid), "cmd": " ".join(map(str, p.args[:3]))}
            for p in self.children
            if p.poll() is None and start_time(p.pid) is not None
        ]
        write_text(self.pidfile, json.dumps({"launcher": os.getpid(), "name": self.name, "children": children}))

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
        self._record()
        return proc

    def adopt(self, proc: subprocess.Popen) -> subprocess.Popen:
        """A child started elsewhere (in a session of its own) that this supervisor now stops."""
        self.children.append(proc)
        self._record()
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
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

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
