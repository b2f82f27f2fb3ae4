"""The `pipeline` flow: every DVC stage in order, one Prefect task each (`dvc repro --single-item <stage>`).

    python -m flows.pipeline                          # this checkout, every stage (what is stale runs)
    python -m flows.pipeline --stages tagger pose     # those stages only, in DAG order
    python -m flows.pipeline --scheduled              # a scheduled run: its own clone (params.yaml flows.workspace),
                                                      # recorded as a DVC experiment nightly-<date>-<time>

A stage that exits 75 (transient: a service down) is retried with backoff (params `flows.retries`,
`flows.retry_delay_seconds`); any other failure, exit 2 (bad input) first, is not, and the run ends Failed naming the
stage. A second run while one is in progress waits for it (`flows.on_busy: wait`, up to `flows.wait_minutes`) or
ends at once with the reason (`skip`). Every run ends with a Markdown artifact (key `pipeline-run`): the stages and
whether each ran, the key figures from metrics/, the champions evaluate kept or moved. Needs a Prefect server
(`make prefect-server`, then PREFECT_API_URL=http://127.0.0.1:4200/api).

A scheduled run's workspace comes from params.yaml (`flows.workspace`) only, never from the run's parameters: a
deployment's parameters can say "scheduled" but cannot name a folder to reset (flows/workspace.py refuses one it did
not make itself). Each stage's `dvc repro` runs under flows/reaper.py, so killing the flow run (SIGKILL included)
ends the stage it started.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed

from core.params import load_params
from core.runlock import Busy, lock_path, run_lock
from flows import dvcrun, workspace

REPO = Path(__file__).resolve().parent.parent


def settings(project: Path):
    """params.yaml's `flows` section: the project's own when it has one (a typo there fails, naming the key), else
    this repository's (a project that is not this pipeline, such as a test's small DVC project)."""
    import yaml

    own = Path(project) / "params.yaml"
    doc = yaml.safe_load(own.read_text()) if own.is_file() else None
    if isinstance(doc, dict) and "flows" in doc:
        return load_params(own).flows
    return load_params(REPO / "params.yaml").flows


def retry_if_transient(task, task_run, state) -> bool:
    """Retry only a stage that exited 75; a bad-input failure (2) or anything else ends the task at once."""
    try:
        state.result()
    except dvcrun.StageFailed as err:
        return err.transient
    except BaseException:  # noqa: BLE001 (any other failure is not worth a retry)
        return False
    return False


@task(name="dvc-repro", task_run_name="{stage}", cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient)
def repro_stage(project: str, stage: str, extra_env: dict[str, str]) -> dict:
    logger = get_run_logger()
    result = dvcrun.repro(Path(project), stage, dvcrun.dvc_env(extra_env), on_line=logger.info)
    logger.info("stage %s: %s in %.1f s", stage, result.status, result.seconds)
    return asdict(result)


def run_stages(
    project: Path, stages: list[str], retries: int, delays: list[float], extra_env: dict | None = None
) -> tuple[list[dvcrun.StageResult], dvcrun.StageFailed | None]:
    """Each stage as a task, in order; stops at the first failure (after its retries) and returns it."""
    task_ = repro_stage.with_options(retries=retries, retry_delay_seconds=delays)
    results = []
    for stage in stages:
        try:
            results.append(dvcrun.StageResult(**task_(str(project), stage, extra_env or {})))
        except dvcrun.StageFailed as err:
            return results, err
    return results, None


def default_experiment_name() -> str:
    """nightly-<date>-<time>: each run its own experiment (two runs on one day never replace each other)."""
    return f"nightly-{datetime.datetime.now():%Y-%m-%d-%H%M%S}"


@flow(name="pipeline", log_prints=True)
def pipeline(
    project: str = str(REPO),
    stages: list[str] | None = None,
    scheduled: bool = False,
    experiment: str | None = None,
    push: bool = True,
    retries: int | None = None,
    retry_delay_seconds: list[float] | None = None,
    on_busy: str | None = None,
    wait_minutes: float | None = None,
    keep_experiments: int = workspace.KEEP,
):
    """Reproduce the DVC pipeline of `project` (or, `scheduled`, of its own clone at params.yaml's flows.workspace)."""
    logger = get_run_logger()
    origin = Path(project).resolve()
    cfg = settings(origin)
    retries = cfg.retries if retries is None else retries
    delays = cfg.retry_delay_seconds if retry_delay_seconds is None else retry_delay_seconds
    on_busy = on_busy or cfg.on_busy
    wait = 60.0 * (cfg.wait_minutes if wait_minutes is None else wait_minutes) if on_busy == "wait" else 0.0
    name = flow_run.get_name() or "pipeline"
    try:
        with run_lock(lock_path(origin), what=f"pipeline run {name}", wait_seconds=wait):
            ws = workspace.location(origin, cfg.workspace) if scheduled else None
            return _pipeline(origin, stages, ws, experiment, push, retries, delays, logger, keep_experiments)
    except Busy as err:
        if on_busy == "skip":
            logger.warning("skipped: %s", err)
            return Completed(message=f"skipped: {err}")
        raise RuntimeError(f"gave up waiting after {wait / 60:.0f} min: {err}") from None


def _pipeline(origin, stages, ws, experiment, push, retries, delays, logger, keep=workspace.KEEP):
    work, extra_env = origin, {}
    if ws is not None:
        work = workspace.prepare(origin, ws)
        extra_env = workspace.store_env(origin)
        logger.info("workspace %s at %s's HEAD", work, origin)
    run_id = flow_run.get_id()
    if run_id:  # every MLflow run a stage opens carries it (core/tracking.py): the artifact links to them
        extra_env = {**extra_env, "ANIME_FLOW_RUN": str(run_id)}
    order = dvcrun.stage_order(work)
    if stages:
        unknown = sorted(set(stages) - set(order))
        if unknown:
            raise ValueError(f"no such stage(s) {unknown} in {work}/dvc.yaml (stages: {order})")
        order = [s for s in order if s in stages]
    results, failed = run_stages(work, order, retries, delays, extra_env)
    recorded = None
    if failed is None and ws is not None:
        recorded = workspace.record(work, experiment or default_experiment_name(), push=push)
    runs = dvcrun.mlflow_runs(work, str(run_id), dvcrun.dvc_env(extra_env)) if run_id else []
    title = f"Pipeline run {flow_run.get_name() or ''}".strip()
    md = dvcrun.report(results, work, failed, title=title, runs=runs)
    if recorded:
        md += f"\nRecorded as DVC experiment `{recorded['experiment']}`"
        if recorded["pushed"]:
            md += f", outputs pushed to DVC remote `{recorded['remote']}`" if recorded["remote"] else ""
            md += f". Adopt it in the checkout: `dvc exp apply {recorded['experiment']}` then `dvc pull`.\n"
        elif recorded.get("push_error"):
            md += (
                f". **`dvc exp push` failed**: {recorded['push_error']}\n\nThe experiment is kept in the workspace "
                f"`{work}` (`dvc exp list` there); push it by hand: `cd {work} && dvc exp push origin "
                f"{recorded['experiment']}`.\n"
            )
            logger.warning("dvc exp push failed: %s", recorded["push_error"])
        # retention: the newest `keep` scheduled runs' experiments and every adopted one, in the checkout, and in the
        # clone once this run's push went through (an experiment whose push failed stays where it is)
        for where in (origin, work) if recorded["pushed"] else (origin,):
            kept = workspace.retain(where, keep)
            if kept["removed"]:
                md += f"\nRetention ({where}): removed {', '.join(kept['removed'])}; kept {len(kept['kept'])}.\n"
                logger.info("retention in %s: removed %s", where, ", ".join(kept["removed"]))
    create_markdown_artifact(md, key="pipeline-run", description="stages, key figures and champion changes of this run")
    if failed is not None:
        raise failed
    return {"stages": [asdict(r) for r in results], "experiment": recorded}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default=str(REPO), help="the DVC project (default: this checkout)")
    ap.add_argument("--stages", nargs="*", help="only these stages (DAG order kept)")
    ap.add_argument(
        "--scheduled", action="store_true", help="run on the project's own clone (flows.workspace), as an experiment"
    )
    ap.add_argument("--experiment", help="the experiment's name (default nightly-<date>-<time>)")
    ap.add_argument("--no-push", action="store_true", help="record the experiment without pushing it")
    ap.add_argument("--retries", type=int)
    ap.add_argument("--retry-delay-seconds", type=float, nargs="+")
    ap.add_argument("--on-busy", choices=["wait", "skip"])
    ap.add_argument("--wait-minutes", type=float)
    ap.add_argument(
        "--keep-experiments",
        type=int,
        default=workspace.KEEP,
        help="scheduled runs: newest experiments kept (adopted ones always are)",
    )
    a = ap.parse_args(argv)
    state = pipeline(
        project=a.project,
        stages=a.stages,
        scheduled=a.scheduled,
        experiment=a.experiment,
        push=not a.no_push,
        retries=a.retries,
        retry_delay_seconds=a.retry_delay_seconds,
        on_busy=a.on_busy,
        wait_minutes=a.wait_minutes,
        keep_experiments=a.keep_experiments,
        return_state=True,
    )
    print(f"pipeline: {state.name}" + (f": {state.message}" if state.message else ""))
    if state.is_completed():
        sys.exit(0)
    err = state.result(raise_on_failure=False)
    sys.exit(err.code if isinstance(err, dvcrun.StageFailed) and err.code in (2, 75) else 1)


if __name__ == "__main__":
    main()
