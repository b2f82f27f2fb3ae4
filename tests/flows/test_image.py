"""The container image the work-pool deployments assume: prefect.yaml is valid for Prefect's `prefect deploy` and
says what flows/deploy.py registers (entrypoints, parameters, schedules from params.yaml, one run at a time); the
Dockerfile installs the lock and puts the code where prefect.yaml's pull step looks. Where a Docker daemon answers,
the image is built and the flows import inside it."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess

import pytest
import yaml

from core.params import load_params
from tests.conftest import REPO


def _prefect_yaml() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


def test_prefect_yaml_is_what_flows_deploy_registers():
    from prefect.cli.deploy._models import PrefectYamlModel

    from flows.deploy import ENTRYPOINTS

    doc = _prefect_yaml()
    model = PrefectYamlModel.model_validate(doc)  # what `prefect deploy` reads it with
    cfg = load_params(REPO / "params.yaml").flows
    deps = {d.name: d for d in model.deployments}
    assert set(deps) == {"nightly", f"every-{cfg.label_sync_minutes:g}-minutes"}
    nightly, sync = deps["nightly"], deps[f"every-{cfg.label_sync_minutes:g}-minutes"]
    assert nightly.entrypoint == ENTRYPOINTS["pipeline"] and sync.entrypoint == ENTRYPOINTS["label-sync"]
    assert nightly.parameters == {"project": "/app", "scheduled": True}  # the workspace is never a parameter
    assert sync.parameters == {"project": "/app"}
    assert (nightly.schedules[0].cron, nightly.schedules[0].timezone) == (cfg.pipeline_cron, cfg.timezone)
    assert sync.schedules[0].interval == datetime.timedelta(minutes=cfg.label_sync_minutes)
    assert sync.schedules[0].timezone == cfg.timezone
    for dep in (nightly, sync):
        assert (dep.concurrency_limit.limit, dep.concurrency_limit.collision_strategy) == (1, "ENQUEUE")
        assert dep.work_pool.job_variables["image"] == "{{ build-image.image }}"
    workdir = re.search(r"^WORKDIR (\S+)$", (REPO / "Dockerfile").read_text(), re.M).group(1)
    pull = doc["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"]
    assert workdir == pull == nightly.parameters["project"]


def test_the_dockerfile_installs_the_lock_and_leaves_local_state_out():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^COPY requirements\.lock \.$", text, re.M) and "-r requirements.lock" in text
    assert re.search(r"^FROM python:3\.11", text, re.M)
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".venv/", "data/", "mlruns/", "services/", ".labelstudio.env", ".dvc/cache/"} <= ignored
    assert ".git/" not in ignored and ".git" not in ignored  # the scheduled run clones the checkout


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not _docker_answers(), reason="no Docker daemon answers here: the image is not built")
def test_the_image_builds_and_its_flows_import():
    tag = "anime-test:latest"
    subprocess.run(["docker", "build", "-t", tag, str(REPO)], check=True, timeout=3000)
    try:
        probe = "import flows.pipeline, flows.label_sync; print('ok')"
        out = subprocess.run(["docker", "run", "--rm", tag, "python", "-c", probe], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
