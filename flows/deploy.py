"""Deploy the two flows to a Prefect work pool (`flow.deploy`): a Kubernetes pool on a cluster, a process pool here.

    prefect work-pool create anime --type process          # or --type kubernetes on a cluster
    python -m flows.deploy --pool anime                     # this checkout's code, by path (a process pool)
    python -m flows.deploy --pool anime-k8s --image registry.example.com/anime:2026-11-24 --project /app
    prefect worker start --pool anime                       # where the runs execute

`make schedule` serves the flows from one long-running process; this instead registers deployments that the pool's
workers pick up (a worker per machine, or a pod per run on Kubernetes). Schedules, time zone and the scheduled
pipeline's workspace come from params.yaml's `flows:` as for `make schedule`. With `--image` the code is the image's
(built and pushed by CI: `build=False, push=False`); without, the worker loads it from this checkout's path. Each
deployment runs one at a time (a further run waits as `AwaitingConcurrencySlot`), as with `make schedule`.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENTRYPOINTS = {"pipeline": "flows/pipeline.py:pipeline", "label-sync": "flows/label_sync.py:label_sync"}


def deploy(
    pool: str,
    project: str,
    image: str | None = None,
    name: str = "nightly",
    cron: str | None = None,
    timezone: str | None = None,
    label_sync_minutes: float | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, str]:
    """Register `pipeline/<name>` and `label-sync/every-N-minutes` on work pool `pool`; returns their ids."""
    from prefect import flow as prefect_flow
    from prefect.schedules import Cron, Interval

    from flows.pipeline import settings
    from flows.schedule import one_at_a_time

    cfg = settings(Path(project)) if Path(project).exists() else settings(REPO)
    tz = timezone or cfg.timezone
    minutes = label_sync_minutes or cfg.label_sync_minutes
    plans = {
        "pipeline": (
            name,
            Cron(cron or cfg.pipeline_cron, timezone=tz),
            {"project": project, "scheduled": True},  # the workspace: params.yaml's, never a parameter
        ),
        "label-sync": (
            f"every-{minutes:g}-minutes",
            Interval(datetime.timedelta(minutes=minutes), timezone=tz),
            {"project": project},
        ),
    }
    job_variables = {"env": env} if env else None
    ids = {}
    for flow_name, (dep_name, schedule, parameters) in plans.items():
        source = prefect_flow.from_source(source=str(REPO), entrypoint=ENTRYPOINTS[flow_name])
        dep_id = source.deploy(
            name=dep_name,
            work_pool_name=pool,
            image=image,
            build=False,
            push=False,
            schedule=schedule,
            parameters=parameters,
            job_variables=job_variables,
            tags=["anime"],
            concurrency_limit=one_at_a_time(),
            print_next_steps=False,
        )
        ids[f"{flow_name}/{dep_name}"] = str(dep_id)
    return ids


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", required=True, help="the work pool (create it first: prefect work-pool create)")
    ap.add_argument("--image", help="a container image holding this repository (Kubernetes, Docker pools)")
    ap.add_argument("--project", default=str(REPO), help="the checkout the runs work on, as the worker sees it")
    ap.add_argument("--name", default="nightly", help="the pipeline deployment's name")
    ap.add_argument("--cron")
    ap.add_argument("--timezone")
    ap.add_argument("--label-sync-minutes", type=float)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="the runs' environment")
    a = ap.parse_args(argv)
    env = dict(kv.split("=", 1) for kv in a.env if "=" in kv)
    if len(env) != len(a.env):
        ap.error("--env takes KEY=VALUE")
    ids = deploy(a.pool, a.project, a.image, a.name, a.cron, a.timezone, a.label_sync_minutes, env)
    for name, dep_id in ids.items():
        print(f"deployed {name} ({dep_id}) to work pool {a.pool}: prefect deployment run '{name}'")


if __name__ == "__main__":
    main()
