"""DVC as the flows see it: the stages in order, one stage reproduced with its own exit code, what ran, the metrics.

The flows never call stage functions: they run `dvc repro --single-item <stage>` in a subprocess, one Prefect task per
stage, in the DAG's order, so DVC alone decides what is stale and records what ran in dvc.lock. `dvc repro` exits
255 for any failed stage; the stage's own exit code (0 done, 2 bad input, 75 transient: core/errors.py) is in its
message, "failed to reproduce '<stage>': ... exited with N", and is read from there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REAPER = Path(__file__).resolve().parent / "reaper.py"
EXITED = re.compile(r"exited with (-?\d+)")
RAN = re.compile(r"Running stage '([^']+)'")
CACHED = re.compile(r"Stage '([^']+)' is cached|Restored stage '([^']+)'")


def dvc_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment stages run in: this interpreter's venv first on PATH (so `python` and `dvc` are the venv's),
    Python's output unbuffered (a stage's lines reach the flow's log as they are printed)."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "DO_NOT_TRACK": "1"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def stage_order(project: Path) -> list[str]:
    """Every stage (foreach items as `train@dcgan`), dependencies first; ties in dvc.yaml's order."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        graph = repo.index.graph  # edges run from a stage to the stages it depends on
        position = {s.name: i for i, s in enumerate(repo.index.stages)}
        names = {s: s.name for s in graph.nodes}
        order = nx.lexicographical_topological_sort(graph.reverse(copy=True), key=lambda s: position[names[s]])
        return [names[s] for s in order]


def downstream(project: Path, start: str) -> list[str]:
    """`start` and every stage that depends on it, directly or not, in run order."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        graph = repo.index.graph
        by_name = {s.name: s for s in graph.nodes}
        if start not in by_name:
            raise KeyError(f"no stage {start!r} in {project}/dvc.yaml")
        reached = {s.name for s in nx.ancestors(graph, by_name[start])} | {start}
    return [s for s in stage_order(project) if s in reached]


class StageFailed(Exception):
    """A stage failed; `code` is the stage's own exit code (75: worth a retry; 2: not), None when DVC gave none."""

    def __init__(self, stage: str, code: int | None, detail: str):
        what = f"exited with {code}" if code is not None else "failed"
        super().__init__(f"stage {stage!r} {what}: {detail}")
        self.stage, self.code, self.detail = stage, code, detail

    def __reduce__(self):  # picklable (Prefect may persist a task's exception)
        return (StageFailed, (self.stage, self.code, self.detail))

    @property
    def transient(self) -> bool:
        return self.code == 75


@dataclass
class StageResult:
    stage: str
    status: str  # "ran" | "up to date" | "restored from cache"
    seconds: float
    ran: list[str] = field(default_factory=list)


def stage_exit_code(returncode: int, output: str) -> int | None:
    """The failed stage's own code from DVC's message; a bare exit code if DVC itself failed before any stage."""
    if returncode == 0:
        return 0
    found = EXITED.findall(output)
    if found:
        return int(found[-1])
    return None if returncode == 255 else returncode


def stream(cmd: list[str], cwd: Path, env: dict[str, str], on_line=None, **popen) -> tuple[int, str]:
    """Run cmd with stdout and stderr merged; each line goes to `on_line` as it is printed (a flow's logger: a long
    stage shows its progress while it runs); returns (exit code, the whole output)."""
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", **popen
    ) as proc:
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None and line.strip():
                on_line(line.rstrip("\n"))
    return proc.returncode, "".join(lines)


def repro(
    project: Path, stage: str, env: dict[str, str] | None = None, force: bool = False, on_line=None
) -> StageResult:
    """`dvc repro --single-item <stage>` in project, its output line by line to `on_line`; raises StageFailed with
    the stage's own exit code."""
    dvc = ["dvc", "repro", "--single-item", stage] + (["--force"] if force else [])
    cmd = [sys.executable, str(REAPER), "--", *dvc]  # dies with this process: a killed flow run ends its stage
    t0 = time.monotonic()
    returncode, output = stream(cmd, project, env or dvc_env(), on_line)
    seconds = time.monotonic() - t0
    if returncode != 0:
        tail = "\n".join(line for line in output.splitlines() if line.strip())[-1500:]
        raise StageFailed(stage, stage_exit_code(returncode, output), tail)
    ran = RAN.findall(output)
    cached = [a or b for a, b in CACHED.findall(output)]
    status = "ran" if stage in ran else "restored from cache" if stage in cached else "up to date"
    return StageResult(stage, status, round(seconds, 1), ran)


def mlflow_runs(project: Path, flow_run_id: str, env: dict[str, str] | None = None) -> list[dict]:
    """The MLflow runs the stages of one flow run logged (their `prefect_flow_run` tag, core/tracking.py), in the store
    those stages used (`MLFLOW_TRACKING_URI`, else `ANIME_MLFLOW_STORE`, else the project's mlruns/), each with a link
    into the MLflow UI (the server's, or `make mlflow`'s on MLFLOW_PORT for a local store); [] when there is none."""
    env = env if env is not None else dict(os.environ)
    uri = env.get("MLFLOW_TRACKING_URI")
    if not uri:
        db = Path(env.get("ANIME_MLFLOW_STORE") or Path(project) / "mlruns") / "mlflow.db"
        if not db.exists():
            return []
        uri = f"sqlite:///{db}"
    ui = (
        uri.rstrip("/")
        if uri.startswith(("http://", "https://"))
        else f"http://127.0.0.1:{env.get('MLFLOW_PORT', '5000')}"
    )
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri)
    try:
        experiments = {e.experiment_id: e.name for e in client.search_experiments()}
        runs = client.search_runs(
            list(experiments), filter_string=f"tags.prefect_flow_run = '{flow_run_id}'", order_by=["start_time ASC"]
        )
    except MlflowException:
        return []
    return [
        {
            "experiment": experiments[r.info.experiment_id],
            "run": r.info.run_name,
            "run_id": r.info.run_id,
            "stage": r.data.tags.get("stage", ""),
            "link": f"{ui}/#/experiments/{r.info.experiment_id}/runs/{r.info.run_id}",
        }
        for r in runs
    ]


# -- what a run shows: its stages, its key figures, the champions it moved --------------------------------------------

HEADLINE = (
    "macro_f1",
    "pck_0_05",
    "fd_tagger",
    "precision",
    "recall",
    "psnr_db",
    "ssim",
    "l1",
    "cond_accuracy",
    "control_success",
)


def champion_changes(project: Path) -> list[dict]:
    """metrics/evaluate.json (the evaluate stage): per model its primary figure, candidate vs champion, promoted."""
    path = project / "metrics" / "evaluate.json"
    if not path.exists():
        return []
    rows = []
    for model, row in sorted(json.loads(path.read_text()).get("evaluate", {}).items()):
        primary = row.get("primary")
        rows.append(
            {
                "model": model,
                "primary": primary,
                "candidate": row.get("candidate_version"),
                "candidate_val": row.get(f"candidate_val_{primary}"),
                "champion": row.get("champion_version"),
                "champion_val": row.get(f"champion_val_{primary}"),
                "promoted": bool(row.get("promoted")),
            }
        )
    return rows


def key_metrics(project: Path, limit: int = 100) -> list[tuple[str, str, float]]:
    """(file, dotted key, value) of the headline figures among DVC's metrics (`dvc metrics show`), test split: every
    figure of the `summary` stage's file (stages/summary.py), and in other files those named in HEADLINE."""
    proc = subprocess.run(["dvc", "metrics", "show", "--json"], cwd=project, env=dvc_env(), capture_output=True)
    try:
        files = json.loads(proc.stdout or b"{}").get("", {}).get("data", {})
    except ValueError:
        return []
    out = []

    def walk(name, node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(name, v, f"{prefix}.{k}" if prefix else k)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            if prefix.startswith("summary.") or prefix.rsplit(".", 1)[-1] in HEADLINE:
                out.append((name, prefix, float(node)))

    for name, entry in sorted(files.items()):
        if Path(name).name != "evaluate.json":  # evaluate's figures are the champions table
            walk(name, entry.get("data", {}), "")
    return out[:limit]


def report(
    results: list[StageResult],
    project: Path,
    failed: StageFailed | None = None,
    title: str = "",
    runs: list[dict] | None = None,
) -> str:
    """The run's Markdown summary (the Prefect artifact): stages, champion changes, the MLflow runs it logged (`runs`,
    from `mlflow_runs`) and key figures."""
    lines = [f"# {title or 'Pipeline run'}", ""]
    if failed is not None:
        lines += [f"**Failed at stage `{failed.stage}`** (exit code {failed.code}).", ""]
    lines += ["| stage | result | seconds |", "| --- | --- | ---: |"]
    lines += [f"| `{r.stage}` | {r.status} | {r.seconds:.1f} |" for r in results]
    if failed is not None:
        lines.append(f"| `{failed.stage}` | failed (exit {failed.code}) | |")
    changes = champion_changes(project)
    if changes:
        lines += ["", "## Champions (validation, primary metric)", ""]
        lines += ["| model | metric | candidate | champion | promoted |", "| --- | --- | --- | --- | --- |"]
        for c in changes:
            lines.append(
                f"| {c['model']} | {c['primary']} | v{c['candidate']} ({c['candidate_val']}) "
                f"| v{c['champion']} ({c['champion_val']}) | {'**yes**' if c['promoted'] else 'no'} |"
            )
    if runs:
        lines += ["", "## MLflow runs", "", "| stage | experiment | run |", "| --- | --- | --- |"]
        lines += [f"| {r['stage']} | {r['experiment']} | [{r['run']}]({r['link']}) |" for r in runs]
    figures = key_metrics(project)
    if figures:
        lines += ["", "## Key figures (test split, metrics/)", "", "| file | metric | value |", "| --- | --- | ---: |"]
        lines += [f"| {f} | {k} | {v:.4g} |" for f, k, v in figures]
    return "\n".join(lines) + "\n"
