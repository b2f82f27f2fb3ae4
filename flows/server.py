"""The local Prefect server (`make prefect-server`): 127.0.0.1:4200, its database under services/prefect/.

    python -m flows.server                  # foreground; Ctrl-C or SIGTERM stops it and everything it started
    python -m flows.server --port 4300 --home /tmp/prefect

Then, in another shell: `export PREFECT_API_URL=http://127.0.0.1:4200/api` (printed at start) and `make schedule`,
or open the UI at http://127.0.0.1:4200. Analytics are off; PREFECT_HOME is project-local (no ~/.prefect).

The API is guarded like a server people browse to: CSRF protection on (every POST, PUT, PATCH and DELETE carries a
token the client fetched from /api/csrf-token; Prefect's own client, workers and UI do so by themselves, so a web page
elsewhere cannot make a browser start or delete runs) and cross-origin requests allowed from its own origin only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from core.launch import Supervisor, wait_http

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / "services" / "prefect"
DEFAULT_PORT = 4200


def server_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_UI_URL": f"http://127.0.0.1:{port}",  # the links in notifications (flows/alerts.py)
            "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        }
    )
    return env


def command(port: int) -> list[str]:
    exe = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    return [exe, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=int(os.environ.get("PREFECT_PORT", DEFAULT_PORT)))
    ap.add_argument("--home", type=Path, default=HOME, help="PREFECT_HOME: the server's SQLite database and logs")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server to answer")
    a = ap.parse_args(argv)
    a.home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{a.port}/api"
    with Supervisor("Prefect server", pidfile=a.home / "launcher.pids") as sup:
        sup.spawn(command(a.port), env=server_env(a.home, a.port), log=a.home / "server.log")
        wait_http(f"{url}/health", sup, a.timeout, "the Prefect server")
        print(f"Prefect server: http://127.0.0.1:{a.port} (log {a.home / 'server.log'})")
        print(f"  export PREFECT_API_URL={url}")
        print("Ctrl-C or SIGTERM stops it.", flush=True)
        sup.wait()
    sys.exit(sup.exit_code)


if __name__ == "__main__":
    main()
