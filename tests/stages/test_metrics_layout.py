"""One metrics layout for every stage (docs/pipeline.md): `metrics/<stage>.json` = {<stage>: {...}} where a value
is a scalar (number, string, bool, null) or a dict. A dict named `<figure>_by_<group|kind|...>` holds scalars; any
other dict is a model, baseline or floor section (top level only) holding scalars and `_by_` dicts. Model figures
on test have a validation twin (`val_<figure>`) whenever the model chooses anything."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO

BY = re.compile(r"^[A-Za-z0-9_]+_by_[a-z0-9_]+$")  # the figure keeps its own name (`C` of scikit-learn)
SCALAR = (int, float, str, bool, type(None))


def layout_problems(doc: dict, stage: str) -> list[str]:
    problems = []
    if list(doc) != [stage]:
        return [f"top level {list(doc)}, expected [{stage!r}]"]

    def check(d: dict, where: str, depth: int) -> None:
        for key, value in d.items():
            at = f"{where}.{key}"
            if isinstance(value, SCALAR):
                continue
            if not isinstance(value, dict):
                problems.append(f"{at}: a {type(value).__name__}, expected a scalar or a dict")
            elif BY.match(key):
                problems.extend(f"{at}.{k}: not a scalar" for k, v in value.items() if not isinstance(v, SCALAR))
            elif depth == 0:
                check(value, at, 1)
            else:
                problems.append(f"{at}: a nested dict not named <figure>_by_<kind>")

    check(doc[stage], stage, 0)
    return problems


def test_the_checker_catches_the_old_layout():
    old = {"pose": {"pck_0_05": {"stick": 0.9}, "retrieval_top1": 0.9}}
    assert layout_problems(old, "pose") == []  # a top-level dict could be a model section...
    nested = {"pose": {"posenet": {"pck_0_05": {"stick": 0.9}}}}
    assert layout_problems(nested, "pose") == ["pose.posenet.pck_0_05: a nested dict not named <figure>_by_<kind>"]
    assert layout_problems({"pose": {"x_by_kind": {"a": {"b": 1}}}}, "pose") == ["pose.x_by_kind.a: not a scalar"]
    assert layout_problems({"pose": {"runs": [1, 2]}}, "pose")[0].endswith("a list, expected a scalar or a dict")


@pytest.mark.parametrize("path", sorted((REPO / "metrics").glob("*.json")), ids=lambda p: p.name)
def test_committed_metrics_follow_the_layout(path):
    doc = json.loads(path.read_text())
    assert layout_problems(doc, path.stem) == []


def test_models_report_validation_beside_test():
    pose = json.loads((REPO / "metrics" / "pose.json").read_text())["pose"]
    tagger = json.loads((REPO / "metrics" / "tagger.json").read_text())["tagger"]
    pixel = json.loads((REPO / "metrics" / "pixel_baseline.json").read_text())["pixel_baseline"]
    dcgan = json.loads((REPO / "metrics" / "dcgan.json").read_text())["dcgan"]
    for model, figures in (
        (pose["posenet"], ("pck_0_05", "retrieval_top1")),
        (pose["joints_embedding"], ("retrieval_top1",)),
        (tagger["cnn"], ("macro_f1",)),
        (tagger["hog_baseline"], ("macro_f1",)),
        (pixel["pixel_linear"], ("macro_f1",)),
        (dcgan["dcgan"], ("fd_tagger", "precision", "recall", "tag_tv", "cond_accuracy")),  # ndb: split-free
        (dcgan["pca_gaussian"], ("fd_tagger",)),
        (dcgan["transfer"], ("kid_tagger",)),
    ):
        for f in figures:
            assert isinstance(model[f], float) and isinstance(model[f"val_{f}"], float), f
