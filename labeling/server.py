"""The local Label Studio server: its own venv, an admin with a fixed API token, local-files serving of `data/`.

    python -m labeling.server start     # (make labelstudio) runs in the foreground until Ctrl-C or SIGTERM
    python -m labeling.server url       # prints the URL and how to log in
    python -m labeling.server start --host 0.0.0.0   # listen on the network too (LABEL_STUDIO_BIND): plain HTTP, warned
    python -m labeling.server start --public-url https://labels.example.org   # behind a TLS proxy (LABEL_STUDIO_HOST)
    python -m labeling.server lock      # (make lock-labelstudio) re-resolves the venv's lock file
    python -m labeling.server venv      # makes the venv now (make test does, beside the main venv); start would

Label Studio cannot share the main venv (its pins conflict with Prefect's), so it lives in `.venv-labelstudio`,
made on first use from labeling/requirements-labelstudio.lock: every package at the version resolved from the
declared requirement (labeling/requirements-labelstudio.txt) when the lock was last made. A changed lock brings an
existing venv to it on the next start. The admin's e-mail, password and API token come
from the environment (`LABEL_STUDIO_USERNAME`, `LABEL_STUDIO_PASSWORD`, `LABEL_STUDIO_API_KEY`), else from the
ignored file `.labelstudio.env`, generated with random secrets on first use (mode 600). The token is never printed
in full. The server binds 127.0.0.1 unless asked otherwise (labeling/network.py: the bind address, the public URL
and the settings Label Studio needs for them); its data live in `services/labelstudio/` (ignored).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labeling.network import LOOPBACK, SETTINGS, Exposure, from_environment, label_studio_env, tls_warning

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-labelstudio"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-labelstudio.txt"  # what we ask for
LOCK = Path(__file__).resolve().parent / "requirements-labelstudio.lock"  # what that resolved to: what is installed
ENV_FILE = REPO / ".labelstudio.env"
UV = Path(sys.executable).parent / "uv"  # the main venv's (its lock pins one) installs the venv; pip without it
DATA_DIR = REPO / "services" / "labelstudio"
DOCUMENT_ROOT = Path(os.environ.get("LABEL_STUDIO_DOCUMENT_ROOT") or REPO / "data")  # local files served from here
DEFAULT_PORT = 8080
# settings Label Studio reads from bare environment names: never pass ours through by accident
LEAKY = ("PORT", "HOST", "USERNAME", "PASSWORD", "DEBUG")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str

    def masked_token(self) -> str:
        return self.token[:4] + "…" + f"({len(self.token)} characters)"


def _read_env_file(path: Path) -> dict[str, str]:
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def credentials(env_file: Path = ENV_FILE, create: bool = True) -> Credentials:
    """From the environment, else from env_file; a missing file is generated (random password and token)."""
    stored = _read_env_file(env_file)
    if create and not stored and not os.environ.get("LABEL_STUDIO_API_KEY"):
        stored = {
            "LABEL_STUDIO_USERNAME": "admin@example.com",
            "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(18),
            "LABEL_STUDIO_API_KEY": secrets.token_hex(20),
        }
        env_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Label Studio admin for this checkout (generated; never commit)\n")
            f.writelines(f"{k}={v}\n" for k, v in stored.items())

    def get(name: str) -> str:
        value = os.environ.get(name) or stored.get(name)
        if not value:
            raise KeyError(f"{name} is not set (environment or {env_file})")
        return value

    return Credentials(get("LABEL_STUDIO_USERNAME"), get("LABEL_STUDIO_PASSWORD"), get("LABEL_STUDIO_API_KEY"))


def api_token(env_file: Path = ENV_FILE) -> str:
    """The API token alone (what a client needs): the environment's, else env_file's."""
    token = os.environ.get("LABEL_STUDIO_API_KEY") or _read_env_file(env_file).get("LABEL_STUDIO_API_KEY")
    if not token:
        raise KeyError(f"LABEL_STUDIO_API_KEY is not set (environment or {env_file})")
    return token


def ensure_venv(venv: Path = VENV, lock: Path = LOCK) -> Path:
    """The Label Studio venv, made on first use from the lock file and brought to it again whenever the lock changes
    (`venv/.installed` holds the digest of the lock it was installed from); returns its `label-studio` executable.
    One process installs at a time (a lock on `venv/.installing`): another that asks meanwhile waits, then finds it
    made (`make labelstudio` and a test may ask at once). The main venv's uv installs it where it is beside the
    interpreter (make runs this with `.venv`'s Python), pip otherwise."""
    import fcntl

    from core.hashing import file_digest

    exe, stamp = venv / "bin" / "label-studio", venv / ".installed"
    want = file_digest(lock)
    if exe.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return exe
    venv.mkdir(parents=True, exist_ok=True)
    with open(venv / ".installing", "w") as held:  # not `.lock`: uv locks the venv it installs into by that name
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes, or when a killed holder's process ends
        if exe.exists() and stamp.exists() and stamp.read_text().strip() == want:
            return exe  # made while this one waited
        if not (venv / "bin" / "pip").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if UV.exists():
            cmd = [str(UV), "pip", "install", "--python", str(venv / "bin" / "python"), "--quiet", "--compile-bytecode"]
        else:
            cmd = [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*cmd, "-r", str(lock)], check=True)
        stamp.write_text(want + "\n")
    return exe


def lock_requirements(requirements: Path = REQUIREMENTS, lock: Path = LOCK) -> list[str]:
    """Resolve `requirements` in a scratch venv and write what it installed (`pip freeze`, sorted) to `lock`, with a
    header saying where it came from; returns the pinned lines. Run it after changing the requirement."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="labelstudio-lock-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = str(venv / "bin" / "pip")
        subprocess.run([pip, "install", "--disable-pip-version-check", "-q", "-r", str(requirements)], check=True)
        frozen = subprocess.run(
            [pip, "freeze", "--disable-pip-version-check", "--exclude-editable"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    pins = sorted((line.strip() for line in frozen.splitlines() if "==" in line), key=str.lower)
    header = (
        f"# Label Studio's venv (.venv-labelstudio), every package pinned: `python -m labeling.server lock`\n"
        f"# (make lock-labelstudio) resolves {requirements.name} in a scratch venv and writes this.\n"
    )
    lock.write_text(header + "".join(f"{pin}\n" for pin in pins))
    return pins


def server_env(
    creds: Credentials, data_dir: Path, document_root: Path, exposure: Exposure = LOOPBACK
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY and k not in SETTINGS}
    env.update(label_studio_env(exposure))
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_USERNAME": creds.username,
            "LABEL_STUDIO_PASSWORD": creds.password,
            "LABEL_STUDIO_USER_TOKEN": creds.token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LOCAL_FILES_SERVING_ENABLED": "true",
            "LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
            "DJANGO_DB": "sqlite",
            "DO_NOT_TRACK": "1",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
        }
    )
    return env


def init_data_dir(exe: Path, creds: Credentials, data_dir: Path, document_root: Path) -> None:
    """Migrate a new data dir and create the admin with the fixed token (35 s; copies of it start in seconds).

    The credentials reach `label-studio init` through its environment (LABEL_STUDIO_USERNAME, _PASSWORD,
    _USER_TOKEN), never its command line, which every user of the machine can read (`ps`). The data dir is built
    under a staging name and renamed into place when the migrations are done, so an interrupted first start leaves
    no half-migrated data dir: the next start finds no data dir and does the first start again."""
    staging = data_dir.with_name(data_dir.name + ".init")
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted first start left
    staging.mkdir(parents=True)
    cmd = [str(exe), "init", "--enable-legacy-api-token"]
    proc = subprocess.run(cmd, env=server_env(creds, staging, document_root), capture_output=True, text=True)
    if proc.returncode != 0 or not (staging / "label_studio.sqlite3").exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"label-studio init failed ({proc.returncode}): {proc.stderr[-2000:]}")
    if data_dir.exists() and not any(data_dir.iterdir()):
        data_dir.rmdir()
    if data_dir.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"{data_dir} exists without a Label Studio database: move it aside, then start again")
    os.replace(staging, data_dir)


def wait_healthy(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    from core.launch import wait_http

    wait_http(f"{url}/health", proc if proc is not None else [], timeout, "Label Studio")


def start(
    port: int = DEFAULT_PORT,
    data_dir: Path = DATA_DIR,
    document_root: Path = DOCUMENT_ROOT,
    creds: Credentials | None = None,
    log: Path | None = None,
    timeout: float = 120.0,
    exposure: Exposure = LOOPBACK,
) -> subprocess.Popen:
    """Start the server on exposure.bind:port (127.0.0.1 by default; initialising data_dir first if new); returns
    once /health answers."""
    creds = creds or credentials()
    exe = ensure_venv()
    if not (data_dir / "label_studio.sqlite3").exists():
        init_data_dir(exe, creds, data_dir, document_root)
    document_root.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        launch_command(exe, port, exposure),
        env=server_env(creds, data_dir, document_root, exposure),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(exposure.local_url(port), timeout, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def launch_command(exe: Path, port: int, exposure: Exposure = LOOPBACK) -> list[str]:
    """`label-studio start` listening on exposure.bind only (Label Studio's own default is every interface)."""
    return [str(exe), "start", "--no-browser", "--internal-host", exposure.bind, "--port", str(port)]


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def copy_data_dir(src: Path, dst: Path) -> None:
    """A throwaway copy of a migrated data dir (the tests start one per session from it)."""
    shutil.copytree(src, dst, symlinks=False)


def _describe(port: int, creds: Credentials, exposure: Exposure = LOOPBACK) -> str:
    here = exposure.local_url(port)
    there = exposure.annotator_url(port)
    return (
        f"Label Studio: {here}" + (f" (annotators open {there})" if there != here else "") + "\n"
        f"  log in as {creds.username} with the password in {ENV_FILE.name} (LABEL_STUDIO_PASSWORD)\n"
        f"  API token {creds.masked_token()}: `python -m labeling.sync` reads it from the same file"
    )


def main() -> None:
    from core.launch import Supervisor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["start", "url", "lock", "venv"])
    ap.add_argument("--port", type=int, default=int(os.environ.get("LABEL_STUDIO_PORT", DEFAULT_PORT)))
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the server's data (made on first use)")
    ap.add_argument("--host", help="address to listen on (default LABEL_STUDIO_BIND, else 127.0.0.1)")
    ap.add_argument("--public-url", help="the URL annotators open, e.g. behind a TLS proxy (default LABEL_STUDIO_HOST)")
    args = ap.parse_args()
    try:
        exposure = from_environment(args.host, args.public_url)
    except ValueError as err:
        ap.error(str(err))
    if args.command == "venv":  # make (or bring to the lock) the server's venv, and nothing else
        print(f"Label Studio's venv: {ensure_venv().parent.parent.relative_to(REPO)}")
        return
    if args.command == "lock":
        pins = lock_requirements()
        print(f"{LOCK.relative_to(REPO)}: {len(pins)} packages pinned")
        return
    creds = credentials()
    if args.command == "url":
        print(_describe(args.port, creds, exposure))
        return
    print(f"starting Label Studio (data in {args.data_dir}, files served from {DOCUMENT_ROOT})", flush=True)
    warning = tls_warning(exposure, args.port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    # SIGTERM (a supervisor, a scheduler, `kill`) stops the server as Ctrl-C does, even while it is starting
    with Supervisor("Label Studio", pidfile=args.data_dir.parent / "labelstudio.pids") as sup:
        log = args.data_dir.parent / "labelstudio.log"
        sup.adopt(start(args.port, args.data_dir, creds=creds, log=log, exposure=exposure))
        print(_describe(args.port, creds, exposure))
        print("Ctrl-C or SIGTERM stops it.", flush=True)
        sup.wait()
    sys.exit(sup.exit_code)


if __name__ == "__main__":
    main()
