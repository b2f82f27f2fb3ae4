"""MLflow as a server (the UI and the tracking API on 127.0.0.1), over the local store or over PostgreSQL.

    python -m core.mlflow_server             # make mlflow: the local store (mlruns/mlflow.db, mlruns/artifacts)
    python -m core.mlflow_server --postgres  # make mlflow-server: a project-local PostgreSQL in services/postgres/
    python -m core.mlflow_server --backend-store-uri postgresql://mlflow@db.team:5432/mlflow \\
        --artifacts-destination s3://bucket/mlflow                  # a team's database and artifact store

Once /health answers it prints the line to export (`MLFLOW_TRACKING_URI=http://127.0.0.1:5000`; port: --port or
$MLFLOW_PORT) and runs until Ctrl-C or SIGTERM, which stop MLflow and then PostgreSQL (core/launch.py), exit 0.
Artifacts are served by MLflow (`--artifacts-destination`), so a client uploads through the server over HTTP.

--postgres: Debian's PostgreSQL (the newest /usr/lib/postgresql/<major>/bin), a cluster in --pg-data (initdb on first
use), listening on 127.0.0.1:--pg-port only (no Unix socket). Its superuser is the role `mlflow`, password
authentication (scram-sha-256) for every connection; the generated password sits in `<pg-data>.pgpass` beside the data
dir (mode 600, libpq's pgpass format), which MLflow reads through PGPASSFILE, so no password is in a command line or
a URI. initdb and postgres refuse to run as root: as root they run as the `postgres` system user, which owns the data
dir and must be able to reach it (every parent searchable by it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from core import tracking
from core.errors import BadInput, PipelineError, run_main
from core.launch import STOP_SIGNALS, Supervisor, stop_group, wait_http

PORT = 5000  # $MLFLOW_PORT overrides it
PG_PORT = 5433  # beside, never on, the 5432 of a system cluster (Debian's `main`)
PG_DATA = tracking.REPO / "services" / "postgres"
SERVER_ARTIFACTS = tracking.REPO / "services" / "mlflow-artifacts"  # the artifacts of a server on a database
PG_ROLE = PG_DB = "mlflow"
PG_INSTALL = "apt-get install postgresql"


class StartFailed(PipelineError):
    """A server exited or did not answer while starting: exit 1, as for a child the supervisor sees die."""

    exit_code = 1


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL (/usr/lib/postgresql/<major>/bin), else one on PATH; None when there is none."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())

    debian = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").is_file()]
    if debian:
        return max(debian, key=version)
    for exe in ("initdb", "postgres"):  # elsewhere (Homebrew, a source build) both sit in one bin folder
        found = shutil.which(exe)
        if found and (Path(found).resolve().parent / "postgres").is_file():
            return Path(found).resolve().parent
    return None


def cluster_owner() -> pwd.struct_passwd | None:
    """Who runs initdb and postgres: this user (None), or the `postgres` system user when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise BadInput(
            f"running as root, which PostgreSQL refuses, and there is no `postgres` user ({PG_INSTALL} creates it)"
        ) from None


def unreachable_parent(path: Path, user: pwd.struct_passwd | None) -> Path | None:
    """The outermost existing folder above `path` that `user` (None: this user) cannot search; None when none."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid)) if user is not None else set()
    for parent in reversed(path.parents):
        if not parent.exists():
            continue
        if user is None:
            if not os.access(parent, os.X_OK):
                return parent
            continue
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return parent
    return None


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster of this project: data in `data`, on 127.0.0.1:`port`, run by `owner` (None: this user)."""

    data: Path
    port: int
    bindir: Path
    owner: pwd.struct_passwd | None

    @property
    def pgpass(self) -> Path:  # the password, in libpq's format; beside the data dir, not in it (initdb wants it empty)
        return self.data.parent / f"{self.data.name}.pgpass"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    @property
    def uri(self) -> str:  # no password: MLflow's libpq reads it from PGPASSFILE
        return f"postgresql://{PG_ROLE}@127.0.0.1:{self.port}/{PG_DB}"

    def password(self) -> str:
        return self.pgpass.read_text().strip().split(":", 4)[4]

    def _as_owner(self) -> dict:
        if self.owner is None:
            return {}
        groups = os.getgrouplist(self.owner.pw_name, self.owner.pw_gid)
        return {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": groups}

    def prepare(self) -> bool:
        """Make the data dir (owned by the cluster's user, mode 700) and initdb it if new; True when it was new."""
        if (self.data / "PG_VERSION").exists():
            if not self.pgpass.exists():
                raise BadInput(
                    f"{self.pgpass}: missing; it holds the password of the cluster in {self.data} "
                    f"(restore it, or delete {self.data} to start a new, empty cluster)"
                )
            self._check_reachable()
            return False
        if self.data.exists() and any(self.data.iterdir()):
            raise BadInput(
                f"{self.data}: not empty and not a PostgreSQL data dir (no PG_VERSION); expected an empty "
                "or absent folder"
            )
        self.data.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data, 0o700)
        if self.owner is not None:
            os.chown(self.data, self.owner.pw_uid, self.owner.pw_gid)
        self._check_reachable()
        password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: nothing pgpass would need escaped
        fd = os.open(self.pgpass, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:*:*:{PG_ROLE}:{password}\n")
        # initdb reads the superuser's password from a file; the cluster's user must be able to read it
        fd, pwfile = tempfile.mkstemp(prefix=f".{self.data.name}-initdb-", dir=self.data.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            if self.owner is not None:
                os.chown(pwfile, self.owner.pw_uid, self.owner.pw_gid)
            cmd = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_ROLE, f"--pwfile={pwfile}"]
            cmd += ["--auth=scram-sha-256", "--encoding=UTF8", "--no-locale"]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **self._as_owner())
        finally:
            os.unlink(pwfile)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise StartFailed(f"initdb {self.data} failed ({done.returncode}): {last}")
        return True

    def _check_reachable(self) -> None:
        blocked = unreachable_parent(self.data.resolve(), self.owner)
        if blocked is not None:
            who = self.owner.pw_name if self.owner else "this user"
            raise BadInput(
                f"{blocked}: {who} cannot reach the PostgreSQL data dir {self.data} through it "
                f"(chmod o+x {blocked}, or choose another --pg-data)"
            )

    def start(self) -> subprocess.Popen:
        """The postmaster, in a session of its own, logging to `log`; listening on 127.0.0.1 only, no Unix socket."""
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        with open(self.log, "ab") as log:
            return subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True, **self._as_owner()
            )

    def connect(self, dbname: str = PG_DB):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=PG_ROLE, password=self.password(), dbname=dbname, connect_timeout=5
        )

    def wait_ready(self, postmaster: subprocess.Popen, timeout: float = 60.0) -> None:
        """Until a connection succeeds; fail at once if the postmaster exits or refuses the password."""
        import psycopg2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if postmaster.poll() is not None:
                raise StartFailed(f"PostgreSQL exited with code {postmaster.returncode} while starting; see {self.log}")
            try:
                self.connect("postgres").close()
                return
            except psycopg2.OperationalError as err:
                if "password authentication failed" in str(err):
                    raise BadInput(f"{self.pgpass}: its password does not open the cluster in {self.data}") from None
            time.sleep(0.2)
        raise StartFailed(
            f"PostgreSQL did not accept connections on 127.0.0.1:{self.port} within {timeout:.0f} s; see {self.log}"
        )

    def ensure_database(self) -> None:
        conn = self.connect("postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {PG_DB}")
        finally:
            conn.close()


def stop_postgres_last(sup: Supervisor, postmaster: subprocess.Popen) -> None:
    """Stop every other child (MLflow), then PostgreSQL with a fast shutdown: SIGINT, what `pg_ctl stop -m fast` sends.

    The supervisor's own stop sends SIGTERM to each child's group, which the postmaster reads as a *smart* shutdown
    that waits for every client to leave (its backends, each in a session of their own, never see the group signal):
    one idle psql would hold it until the SIGKILL. The supervisor's stop still runs after this one, as the backstop.
    """
    for sig in STOP_SIGNALS:  # as Supervisor.stop: a second Ctrl-C must not cut this short; its __exit__ restores them
        signal.signal(sig, signal.SIG_IGN)
    for proc in reversed(sup.children):
        if proc is not postmaster:
            stop_group(proc, sup.grace)
    if postmaster.poll() is None:
        postmaster.send_signal(signal.SIGINT)
        try:
            postmaster.wait(sup.grace)
        except subprocess.TimeoutExpired:
            pass  # the supervisor's SIGTERM, then SIGKILL, follow
    sup.children[:] = [p for p in sup.children if p.poll() is None]


def check_port_free(port: int, flag: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise BadInput(f"127.0.0.1:{port} is in use; choose another port with {flag}") from None


def artifact_destination(value: str) -> str:
    """A URI (s3://..., gs://...) as given; a path made absolute and created."""
    if value.startswith("s3://") and importlib.util.find_spec("boto3") is None:
        # MLflow would start, then fail the first upload
        raise BadInput(f"--artifacts-destination {value} needs boto3 in this environment (pip install boto3)")
    if "://" in value:
        return value
    path = Path(value).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def without_password(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if not parts.password:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--port",
        type=int,
        default=os.environ.get("MLFLOW_PORT", str(PORT)),  # argparse applies type=int to a string default
        help=f"MLflow's port on 127.0.0.1 (default: $MLFLOW_PORT, else {PORT})",
    )
    store = ap.add_mutually_exclusive_group()
    store.add_argument("--postgres", action="store_true", help="run a project-local PostgreSQL as the store")
    store.add_argument("--backend-store-uri", help="an existing database, e.g. postgresql://user@host:5432/mlflow")
    ap.add_argument("--pg-port", type=int, help=f"with --postgres (default {PG_PORT})")
    ap.add_argument("--pg-data", type=Path, help=f"with --postgres (default {PG_DATA})")
    ap.add_argument(
        "--artifacts-destination",
        help=f"a folder or s3://bucket/path (default: {tracking.STORE / 'artifacts'} for the local store, "
        f"{SERVER_ARTIFACTS} otherwise)",
    )
    args = ap.parse_args()
    if not args.postgres and (args.pg_port is not None or args.pg_data is not None):
        ap.error("--pg-port and --pg-data go with --postgres")
    return args


def choose_store(args: argparse.Namespace) -> tuple[str, str, LocalPostgres | None]:
    """(backend store URI, artifact destination, the local cluster to run or None); checks the ports are free."""
    cluster = None
    if args.postgres:
        bindir = postgres_bindir()
        if bindir is None:
            raise BadInput(
                f"--postgres needs PostgreSQL's server binaries (initdb, postgres) and found none in "
                f"/usr/lib/postgresql/*/bin or on PATH: {PG_INSTALL}"
            )
        pg_port = PG_PORT if args.pg_port is None else args.pg_port
        cluster = LocalPostgres((args.pg_data or PG_DATA).absolute(), pg_port, bindir, cluster_owner())
        check_port_free(pg_port, "--pg-port")
        backend, artifacts = cluster.uri, SERVER_ARTIFACTS
    elif args.backend_store_uri:
        backend, artifacts = args.backend_store_uri, SERVER_ARTIFACTS
    else:  # the store the stages log to without a server: their runs show in this UI
        tracking.STORE.mkdir(parents=True, exist_ok=True)
        backend, artifacts = tracking.default_uri(), tracking.STORE / "artifacts"
    check_port_free(args.port, "--port or MLFLOW_PORT")
    return backend, artifact_destination(args.artifacts_destination or str(artifacts)), cluster


def serve(port: int, backend: str, artifacts: str, cluster: LocalPostgres | None) -> int:
    """Start PostgreSQL (if any) and MLflow, print the URI to export, run until a signal; the supervisor's exit code."""
    url = f"http://127.0.0.1:{port}"
    # the store through the environment, not argv (world-readable in /proc): a team's URI may hold a password
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend}
    # MLflow's job runner (seven huey consumers for GenAI trace scoring, which no stage uses) takes seconds to stop
    # and leaves a folder in /dev/shm each time; export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true to have it anyway
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    cmd += ["--artifacts-destination", artifacts]
    t0 = time.monotonic()
    # what a launcher killed with SIGKILL left on this port is stopped by the next one (core/launch.py)
    with Supervisor("mlflow_server", pidfile=tracking.REPO / "services" / f"mlflow-{port}.pids") as sup:
        postmaster = None
        try:
            if cluster is not None:
                new = cluster.prepare()
                postmaster = sup.adopt(cluster.start())
                cluster.wait_ready(postmaster)
                cluster.ensure_database()
                env["PGPASSFILE"] = str(cluster.pgpass)
                print(
                    f"PostgreSQL: 127.0.0.1:{cluster.port}, data in {cluster.data} ({'new cluster, ' if new else ''}"
                    f"log {cluster.log}), ready in {time.monotonic() - t0:.1f} s",
                    flush=True,
                )
            sup.spawn(cmd, env=env)
            try:
                wait_http(f"{url}/health", sup, what="MLflow")
            except (RuntimeError, TimeoutError) as err:
                raise StartFailed(str(err)) from None
            print(
                f"MLflow: {url} ready in {time.monotonic() - t0:.1f} s (store {without_password(backend)}, "
                f"artifacts {artifacts}); point stages at it with\n"
                f"  export MLFLOW_TRACKING_URI={url}\n"
                f"Ctrl-C or SIGTERM stops it{' and PostgreSQL' if cluster else ''}.",
                flush=True,
            )
            sup.wait()
        finally:
            if postmaster is not None:
                stop_postgres_last(sup, postmaster)
    return sup.exit_code


def main() -> None:
    args = parse_args()
    sys.exit(serve(args.port, *choose_store(args)))


if __name__ == "__main__":
    run_main(main, "mlflow_server")
