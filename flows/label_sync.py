"""The `label-sync` flow: the Label Studio sync on a short interval; what new labels reach runs, nothing else.

    python -m flows.label_sync                  # once, on this checkout (make schedule runs it every 15 minutes)

It pushes new tasks with pre-annotations and pulls finished annotations into labeling/exports/ (`python -m
labeling.sync push`, then `pull`: the same commands as `make label-sync`, retried on exit 75 when the server is
down). When the exports changed, it runs the `label` stage and every stage after it (DVC still skips what the new
labels do not reach); when they did not, nothing runs. It never runs while a pipeline run holds the checkout's run
lock: it is skipped, with the holder named in its log and its final state's message. The exports are the
annotators' work in the checkout: commit them (with labeling/projects.json and dvc.lock) as after `make label-sync`.
The sync commands inherit the run lock this flow holds (core/runlock.py).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from core.runlock import Busy, child_env, lock_path, run_lock
from flows import dvcrun
from flows.pipeline import REPO, retry_if_transient, run_stages, settings

EXPORTS = "labeling/exports"
SYNC = [["python", "-m", "labeling.sync", "push"], ["python", "-m", "labeling.sync", "pull"]]


def digest(folder: Path) -> str:
    """One hash of every file's path and bytes under folder ("" when it does not exist)."""
    h = hashlib.sha256()
    if folder.is_dir():
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest() if folder.is_dir() else ""


@task(name="sync", task_run_name="{label}", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient)
def sync_step(project: str, cmd: list[str], label: str, lock: dict) -> None:
    env, fds = child_env(lock)  # the sync takes the checkout's run lock too: it inherits the one this flow holds
    logger = get_run_logger()
    code, output = dvcrun.stream(cmd, Path(project), dvcrun.dvc_env(env), logger.info, pass_fds=fds)
    logger.info("%s -> %d", " ".join(cmd), code)
    if code != 0:
        raise dvcrun.StageFailed(label, code, output.strip()[-1500:])


@flow(name="label-sync", log_prints=True)
def label_sync(
    project: str = str(REPO),
    sync_commands: list[list[str]] | None = None,
    retries: int | None = None,
    retry_delay_seconds: list[float] | None = None,
):
    logger = get_run_logger()
    origin = Path(project).resolve()
    cfg = settings(origin)
    retries = cfg.retries if retries is None else retries
    delays = cfg.retry_delay_seconds if retry_delay_seconds is None else retry_delay_seconds
    try:
        with run_lock(lock_path(origin), what="label sync", wait_seconds=0) as lock:
            before = digest(origin / EXPORTS)
            step = sync_step.with_options(retries=retries, retry_delay_seconds=delays)
            for cmd in sync_commands or SYNC:
                step(str(origin), cmd, " ".join(cmd[-2:]), lock)
            if digest(origin / EXPORTS) == before:
                logger.info("the exports did not change: nothing to run")
                return Completed(message="exports unchanged: nothing ran")
            stages = dvcrun.downstream(origin, "label")
            logger.info("the exports changed: running %s", ", ".join(stages))
            results, failed = run_stages(origin, stages, retries, delays)
            md = dvcrun.report(results, origin, failed, "Label sync")
            create_markdown_artifact(md, key="label-sync", description="what the new labels reached")
            if failed is not None:
                raise failed
            return [r.stage for r in results if r.status == "ran"]
    except Busy as err:
        logger.warning("skipped: %s", err)
        return Completed(message=f"skipped: {err}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default=str(REPO))
    ap.add_argument("--retries", type=int, help="default: flows.retries")
    ap.add_argument("--retry-delay-seconds", type=float, nargs="+", help="default: flows.retry_delay_seconds")
    a = ap.parse_args(argv)
    state = label_sync(
        project=a.project, retries=a.retries, retry_delay_seconds=a.retry_delay_seconds, return_state=True
    )
    print(f"label-sync: {state.name}" + (f": {state.message}" if state.message else ""))
    sys.exit(0 if state.is_completed() else 1)


if __name__ == "__main__":
    main()
