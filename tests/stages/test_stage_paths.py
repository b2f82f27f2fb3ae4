"""Each stage's data paths are named twice, in its module (OUT, METRICS, the inputs it reads: module-level constants,
which its argparse defaults use) and in dvc.yaml (its outs, metrics and deps); this test holds the two together, so
a path changed on one side only fails here instead of running a stage DVC does not re-run, or caching the wrong
folder.

For every stage of dvc.yaml (`python -m stages.<name>`; a `foreach` item as `<name>@<key>`, `{family}` in a
constant standing for the key), the paths its module names (upper-case module attributes that are, or hold in a
dict / tuple, a path under data/, metrics/, docs/ or labeling/exports, or a *.lock.json):
- every named path is one of its deps, outs or metrics, or lies inside one (a file of a folder it depends on);
- every out and metric is named exactly;
- every data dep is named, or holds a named path (the stage reads a file of it); data/params/<section>.json deps
  (the resolved params, read through core/params.py) name a section that exists.
The code deps (every module a stage imports) are tests/stages/test_dvc_deps.py's.
"""

from __future__ import annotations

import importlib
from pathlib import Path, PurePosixPath

import pytest

from core.params import Params
from tests.stages.test_dvc_deps import STAGES

DATA = ("data/", "metrics/", "docs/", "labeling/exports")
PARAMS = "data/params/"


def _is_data(path: str) -> bool:
    return path.startswith(DATA) or path.endswith(".lock.json")


def _collect(value, found: set[str]) -> None:
    if isinstance(value, PurePosixPath | Path):
        value = value.as_posix()
    if isinstance(value, str):
        if _is_data(value):
            found.add(value.rstrip("/"))
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, found)
    elif isinstance(value, tuple | list):
        for v in value:
            _collect(v, found)


def declared(module, key: str | None = None) -> set[str]:
    """The data paths a stage module names (its upper-case attributes), `{family}` replaced by the foreach key."""
    found: set[str] = set()
    for name, value in vars(module).items():
        if name.isupper():
            _collect(value, found)
    return {p.replace("{family}", key) for p in found} if key else found


def _paths(entries: list) -> list[str]:
    return [(next(iter(e)) if isinstance(e, dict) else e).rstrip("/") for e in entries]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def mismatches(stage: dict, named: set[str]) -> list[str]:
    """What differs between a stage's dvc.yaml entry and the paths its module names (empty: they agree)."""
    outs = _paths(stage.get("outs", [])) + _paths(stage.get("metrics", []))
    deps = [d for d in _paths(stage.get("deps", [])) if _is_data(d)]
    out = [
        f"{p}: named in the code, not in dvc.yaml" for p in sorted(named) if not any(_inside(p, d) for d in outs + deps)
    ]
    out += [f"{o}: an out in dvc.yaml the code does not name" for o in outs if o not in named]
    for d in deps:
        if d.startswith(PARAMS):
            if PurePosixPath(d).stem not in Params.model_fields:
                out.append(f"{d}: no such params section")
        elif not any(_inside(p, d) for p in named):
            out.append(f"{d}: a dep in dvc.yaml the code does not name")
    return out


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_paths_match_dvc_yaml(name):
    module = importlib.import_module(STAGES[name]["cmd"].split()[2])
    named = declared(module, name.split("@")[1] if "@" in name else None)
    assert named, f"stage {name} names no path"
    assert not mismatches(STAGES[name], named), (name, mismatches(STAGES[name], named))


def test_a_drifted_path_is_caught():
    from stages import label

    stage = STAGES["label"]
    named = declared(label)
    assert not mismatches(stage, named)
    moved = {p.replace("data/render", "data/renders") for p in named}
    assert mismatches(stage, moved) == [
        "data/renders: named in the code, not in dvc.yaml",
        "data/render: a dep in dvc.yaml the code does not name",
    ]
    renamed = {**stage, "outs": ["data/labels"]}
    assert "data/labels: an out in dvc.yaml the code does not name" in mismatches(renamed, named)
    typo = {**stage, "deps": [*stage["deps"], "data/params/lable.json"]}
    assert mismatches(typo, named) == ["data/params/lable.json: no such params section"]
