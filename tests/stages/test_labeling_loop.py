"""The labeling loop end to end, as a user runs it on a fresh clone: an untagged folder of faces, `dvc repro` (the
tagger asks for labels), `make label-sync` against a real Label Studio, annotations through its API, `make
label-sync`, `dvc repro`: the labels become the tagger's training set; more labels change it and its auto-tags.

Each `dvc repro` names the `tagger` stage: it runs the tagger and what it depends on, not the generators after it
(tests/stages/test_pipeline.py runs the whole DAG)."""

from __future__ import annotations

import csv
import json

import pytest

from core.names import GROUPS
from labeling.formats import choice_results
from tests.conftest import run, set_profile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _faces(folder, count: int, params) -> dict[str, dict[str, str]]:
    """`count` generated faces as plain PNGs (no tags anywhere); returns file name -> the hidden true attributes."""
    from dataset.imageio import write_png
    from synth.faces.render import render_index

    folder.mkdir(parents=True)
    truth = {}
    for i in range(count):
        img, attrs, _ = render_index(i, 77, params.generated)
        write_png(folder / f"face_{i:04d}.png", img)
        truth[f"face_{i:04d}.png"] = attrs
    return truth


def _annotate(ls, project: int, truth_by_id: dict[str, dict[str, str]], n: int) -> int:
    """An annotator labels the first `n` unlabelled tasks (every group, the true values)."""
    done = 0
    for t in sorted(ls.tasks.list(project=project, fields="all"), key=lambda t: t.id):
        if done == n:
            break
        if t.total_annotations:
            continue
        values = truth_by_id[t.data["ref_id"]]
        ls.annotations.create(id=t.id, result=choice_results({g: values[g] for g in GROUPS}))
        done += 1
    return done


def sync(repo, env: dict) -> None:
    """What `make label-sync` runs (make itself would build a venv in the copy)."""
    for command in ("push", "pull"):
        run(["python", "-m", "labeling.sync", command], repo, env=env)


def test_labels_train_the_tagger(repo_copy, labelstudio_empty, smoke_params, tmp_path):
    truth = _faces(tmp_path / "faces", 160, smoke_params)
    set_profile(repo_copy / "params.yaml", "smoke", ingest__source=f"dir:{tmp_path / 'faces'}")
    run(["python", "-m", "stages.source"], repo_copy)
    first = run(["dvc", "repro", "tagger"], repo_copy, check=False)
    assert first.returncode != 0 and "label some images in Label Studio" in first.stdout + first.stderr

    ls_env = {
        "LABEL_STUDIO_URL": labelstudio_empty["url"],
        "LABEL_STUDIO_API_KEY": labelstudio_empty["creds"].token,
        "LABEL_STUDIO_DOCUMENT_ROOT": str(labelstudio_empty["docs"]),
    }
    sync(repo_copy, ls_env)
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=ls_env["LABEL_STUDIO_URL"], api_key=ls_env["LABEL_STUDIO_API_KEY"])
    project = next(p for p in ls.projects.list() if p.title.startswith("anime-tags"))
    with open(repo_copy / "data" / "ingest" / "manifest.csv", newline="") as f:
        manifest = list(csv.DictReader(f))
    truth_by_id = {r["id"]: truth[r["path"].rsplit("/", 1)[-1]] for r in manifest}
    assert _annotate(ls, project.id, truth_by_id, 60) == 60

    def sync_and_repro() -> dict:
        sync(repo_copy, ls_env)
        assert json.loads((repo_copy / "labeling" / "exports" / "tags.json").read_text())
        out = run(["dvc", "repro", "tagger"], repo_copy)
        assert "Running stage 'tagger'" in out.stdout
        return json.loads((repo_copy / "metrics" / "tagger.json").read_text())["tagger"]

    m1 = sync_and_repro()
    labelled_train = {r["id"] for r in manifest if r["split"] == "train"}
    origins = m1["data"]["train_images_by_origin"]
    assert origins["generated"] == origins["source"] == 0 and 0 < origins["label_studio"] <= 60
    assert m1["data"]["train_images"] == origins["label_studio"] < len(labelled_train)
    auto1 = (repo_copy / "data" / "tagger" / "tags_auto.csv").read_bytes()
    assert auto1.count(b"\n") == len(manifest) + 1  # every image is auto-tagged, labelled or not

    # a second round: more labels, a larger training set, other auto-tags; a sync that changes nothing runs nothing
    assert _annotate(ls, project.id, truth_by_id, 60) == 60
    m2 = sync_and_repro()
    assert m2["data"]["train_images_by_origin"]["label_studio"] > origins["label_studio"]
    assert (repo_copy / "data" / "tagger" / "tags_auto.csv").read_bytes() != auto1
    sync(repo_copy, ls_env)
    assert "Running stage" not in run(["dvc", "repro", "tagger"], repo_copy).stdout
