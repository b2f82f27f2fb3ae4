"""`make schedule`: serve the two flows with their schedules from params.yaml (`flows:`), against a Prefect server.

    make prefect-server                 # one shell: the local server on 127.0.0.1:4200
    make schedule                       # another: deployments pipeline/nightly and label-sync/every-15-minutes

The nightly pipeline runs on its own clone (`flows.workspace`, beside the checkout) and is recorded as a DVC
experiment `nightly-<date>-<time>` (flows/workspace.py says how to adopt it); the label sync runs on the checkout. Cron and
interval are read in `flows.timezone`. Runs can be started by hand too: `prefect deployment run pipeline/nightly`.
Each deployment runs one at a time: a run started while another runs waits, shown as `AwaitingConcurrencySlot`.
This process polls the server for due runs and executes them in subprocesses; Ctrl-C or SIGTERM stops it, pauses the
schedules (no runs pile up while nothing serves them) and leaves no run process behind.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_API = "http://127.0.0.1:4200/api"


def one_at_a_time():
    """Each deployment's concurrency limit: one run at a time, a further run waits in the UI as
    `AwaitingConcurrencySlot` (ENQUEUE) until it ends. The project's run lock (core/runlock.py) stays the guard for
    runs started outside Prefect (`dvc repro`, `make pipeline`)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)


def deployments(project: str, cron: str, timezone: str, minutes: float):
    from prefect.schedules import Cron, Interval

    from flows.label_sync import label_sync
    from flows.pipeline import pipeline

    nightly = pipeline.to_deployment(
        name="nightly",
        schedule=Cron(cron, timezone=timezone),
        parameters={"project": project, "scheduled": True},  # the workspace: params.yaml's, never a parameter
        description="the whole DVC pipeline on its own clone, recorded as a DVC experiment",
        tags=["anime"],
        concurrency_limit=one_at_a_time(),
    )
    sync = label_sync.to_deployment(
        name=f"every-{minutes:g}-minutes",
        schedule=Interval(datetime.timedelta(minutes=minutes), timezone=timezone),
        parameters={"project": project},
        description="Label Studio push/pull; label and what follows it when the exports changed",
        tags=["anime"],
        concurrency_limit=one_at_a_time(),
    )
    return nightly, sync


def check_server(api: str, who: str) -> None:
    """Exit 75 (worth a retry) with a hint when no Prefect server answers `api`."""
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=5):
            pass
    except (urllib.error.URLError, OSError) as err:
        print(f"{who}: error: no Prefect server answers {api} ({err}); start one with `make prefect-server`")
        sys.exit(75)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default=str(REPO), help="the checkout the flows run on")
    ap.add_argument("--cron", help="the pipeline's schedule (default: flows.pipeline_cron)")
    ap.add_argument("--timezone", help="default: flows.timezone")
    ap.add_argument("--label-sync-minutes", type=float, help="default: flows.label_sync_minutes")
    a = ap.parse_args(argv)
    api = os.environ.setdefault("PREFECT_API_URL", DEFAULT_API)
    check_server(api, "schedule")
    from prefect import serve

    from flows.pipeline import settings

    cfg = settings(Path(a.project))
    nightly, sync = deployments(
        str(Path(a.project).resolve()),
        a.cron or cfg.pipeline_cron,
        a.timezone or cfg.timezone,
        a.label_sync_minutes or cfg.label_sync_minutes,
    )
    serve(nightly, sync, pause_on_shutdown=True)


if __name__ == "__main__":
    main()
