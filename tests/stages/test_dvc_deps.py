"""Every domain module a stage imports is a DVC dependency of that stage, so a code change re-runs what it affects
(and, with explicit lists instead of whole folders, nothing else)."""

from __future__ import annotations

import json
import subprocess
import sys

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


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_imports(name):
    module = STAGES[name]["cmd"].split()[2]
    lazily = []
    if name.startswith("train@"):  # the family's module (imported by name) and every metric (the registry's)
        from models.metrics import MODULES
        from stages.train import FAMILIES

        lazily = [FAMILIES[name.split("@")[1]], *(f"models.metrics.{m}" for m in MODULES)]
    if name == "evaluate":
        from models.metrics import MODULES

        lazily = [*SCORED, *SERVED, *(f"models.metrics.{m}" for m in MODULES)]
    if name == "deploy":
        lazily = SERVED
    code = (
        "import json, sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, module, *lazily],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    files = {
        str(__import__("pathlib").Path(f).resolve().relative_to(REPO))
        for f in json.loads(out.stdout.strip().splitlines()[-1])
        if f and f.startswith(str(REPO)) and "/.venv" not in f
    }
    deps = STAGES[name].get("deps", [])
    missing = [
        f
        for f in sorted(files)
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
