"""Every domain module a stage imports is a DVC dependency of that stage, so a code change re-runs what it affects
(and, with explicit lists instead of whole folders, nothing else)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

# core/: the modules that decide what a stage writes (names, checkpoints, rounding of figures, PNG bytes)
CHECKED = (
    "dataset/",
    "models/",
    "stages/",
    "synth/",
    "labeling/",
    "serve/",
    "core/names.py",
    "core/checkpoint.py",
    "core/rounding.py",
    "core/png.py",
)
# what the evaluate and deploy stages import lazily (models/evaluate/scorers.py, serve/bundles.py)
SCORED = [
    "models.dcgan.family",
    "models.stylegan.family",
    "models.sr.family",
    "models.pose2sketch.family",
    "models.tagger.baseline",
    "models.tagger.net",
    "models.pose.net",
    "synth.pose.poseset",
]
SERVED = [
    "models.dcgan.net",
    "models.dcgan.conditions",
    "models.stylegan.net",
    "models.stylegan.conditional",
    "models.stylegan.task",
    "models.sr.net",
    "models.sr.train",
    "models.pose2sketch.net",
    "models.pose2sketch.task",
    "models.pose.net",
    "models.pose.retrieval",
    "models.tagger.baseline",
    "models.tagger.net",
    "models.tagger.evaluate",
    "models.engine.gan",
    "synth.pose.figure",
    "synth.pose.poseset",
]


def _expand(stages: dict) -> dict:
    """Stages by name, a `foreach` stage as one `<name>@<key>` per item (${key}, ${item.<field>} substituted)."""
    out = {}
    for name, stage in stages.items():
        if "foreach" not in stage:
            out[name] = stage
            continue
        for key, item in stage["foreach"].items():
            text = yaml.safe_dump(stage["do"]).replace("${key}", key)
            for field, value in item.items():
                text = text.replace(f"${{item.{field}}}", str(value))
            out[f"{name}@{key}"] = yaml.safe_load(text)
    return out


STAGES = {
    name: stage
    for name, stage in _expand(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]).items()
    if stage["cmd"].startswith("python -m stages.")
}


# One process imports the heavy third-party packages once, then forks a child per stage, which imports that stage's
# modules (and what it imports lazily) and lists the repository files among them: what a fresh `python -m stages.<x>`
# process would load of the project, at the cost of one interpreter rather than one per stage. The preloaded packages
# import nothing of the project, so a child's project files are the stage's own.
PRELOAD = (
    "numpy",
    "torch",
    "torch.optim",
    "torchmetrics",
    "mlflow",
    "mlflow.pyfunc",
    "sklearn.neighbors",
    "sklearn.metrics",
    "scipy.linalg",
    "pandas",
    "cv2",
    "PIL",
    "matplotlib.pyplot",
    "safetensors.torch",
)
_PROBE = r"""
import importlib, json, os, sys
for m in sys.argv[1].split(","):
    try:
        importlib.import_module(m)
    except ImportError:
        pass
out = {"": [getattr(m, "__file__", None) for m in list(sys.modules.values())]}  # what the preload brought
for name, modules in json.loads(sys.stdin.read()).items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            for m in modules:
                importlib.import_module(m)
            files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
            os.write(w, json.dumps(files).encode())
            os._exit(0)
        except BaseException as e:
            os.write(w, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
            os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out[name] = json.loads(f.read())
    os.waitpid(pid, 0)
print(json.dumps(out))
"""


def _imported_by_each_stage() -> dict[str, list[str]]:
    """Per stage: the modules its process imports (its command's module, and what it imports lazily by name)."""
    from models.metrics import MODULES
    from stages.train import FAMILIES

    metrics = [f"models.metrics.{m}" for m in MODULES]
    wanted = {}
    for name, stage in STAGES.items():
        lazily = []
        if name.startswith("train@"):  # the family's module (imported by name) and every metric (the registry's)
            lazily = [FAMILIES[name.split("@")[1]], *metrics]
        if name == "evaluate":
            lazily = [*SCORED, *SERVED, *metrics]
        if name == "deploy":
            lazily = SERVED
        wanted[name] = [stage["cmd"].split()[2], *lazily]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(PRELOAD)],
        input=json.dumps(wanted),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    files = {}
    for name, listed in found.items():
        assert isinstance(listed, list), f"stage {name}: {listed['error']}"
        files[name] = sorted(
            {
                str(Path(f).resolve().relative_to(REPO))
                for f in listed
                if f and f.startswith(str(REPO)) and "/.venv" not in f
            }
        )
    preloaded = files.pop("")
    assert not preloaded, (
        f"the preload imported project modules, which every stage would then seem to import: {preloaded}"
    )
    return files


@pytest.fixture(scope="module")
def imported() -> dict[str, list[str]]:
    return _imported_by_each_stage()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_imports(name, imported):
    deps = STAGES[name].get("deps", [])
    missing = [
        f
        for f in imported[name]
        if f.startswith(CHECKED)
        and not f.endswith("__init__.py")
        and not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)
    ]
    assert not missing, f"stage {name} imports {missing} but dvc.yaml does not list them as deps"


def test_every_family_is_a_train_item_with_its_own_folder():
    from stages.train import FAMILIES

    items = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]["foreach"]
    assert set(items) == set(FAMILIES)
    for key, item in items.items():
        assert FAMILIES[key].startswith(item["code"].replace("/", ".") + "."), (key, item)
