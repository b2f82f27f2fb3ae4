"""The MLflow helper against a real local store: lineage tags, params, metrics, images, registered bundle + alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from core import tracking
from core.errors import BadInput
from models.promote import history, promote, promote_if_absent, rollback


def test_run_with_lineage_and_registered_bundle(store, tmp_path, smoke_params, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "inputs"
    data.mkdir()
    (data / "a.bin").write_bytes(b"abc")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    save_file({"w": torch.ones(2, 2)}, str(bundle / "weights.safetensors"))
    (bundle / "config.json").write_text(json.dumps({"arch": "tiny"}))

    with tracking.start_run("unit", smoke_params, "unit", ["ingest"], [str(data)], run_name="r1") as run:
        tracking.log_metrics({"macro_f1": 0.5, "by_group": {"hair_color": 0.25}, "by_tag": {"smile=yes": 0.75}})
        tracking.log_image(np.zeros((8, 8, 3), np.uint8), "grid.png")
        version = tracking.register_bundle(bundle, "anime-unit")
    assert tracking.alias_version("anime-unit", "champion") is None
    assert promote("anime-unit", version, "champion", "first", by="test") is None

    assert tracking.tracking_uri() == f"sqlite:///{store / 'mlflow.db'}"
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    # tag names hold '=', which MLflow refuses in a metric name: smile=yes is logged as smile/yes
    assert got.data.metrics == {"macro_f1": 0.5, "by_group/hair_color": 0.25, "by_tag/smile/yes": 0.75}
    assert got.data.params["ingest.sizes"] == "[32, 64]" and got.data.params["profile"] == "smoke"
    tags = got.data.tags
    assert tags["profile"] == "smoke" and tags["stage"] == "unit"
    commit, dirty = tracking.git_state()
    assert tags["git_commit"] == commit and tags["git_dirty"] == str(dirty).lower()
    key = next(k for k in tags if k.startswith("dvc_md5/"))
    assert tags[key].endswith(".dir")
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"grid.png", "model"} <= arts

    mv = client.get_model_version_by_alias("anime-unit", "champion")
    assert str(mv.version) == version == "1" and mv.run_id == run.info.run_id
    assert mv.tags["profile"] == "smoke" and mv.tags["params_digest"] == tags["params_digest"]
    local = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(tmp_path / "dl"))
    assert sorted(p.name for p in __import__("pathlib").Path(local).iterdir()) == ["config.json", "weights.safetensors"]
    assert mv.source.startswith((store / "artifacts" / "unit").as_uri()), (
        mv.source
    )  # artifacts live in the project's store, not the working folder


def _two_versions(tmp_path, smoke_params) -> list[str]:
    """Two registered versions of `anime-unit`, each from its own run."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text("{}")
    versions = []
    for name in ("a", "b"):
        with tracking.start_run("unit", smoke_params, "unit", [], [], run_name=name):
            versions.append(tracking.register_bundle(bundle, "anime-unit"))
    return versions


def test_promote_records_who_why_and_the_previous_version(store, tmp_path, smoke_params):
    import mlflow

    versions = _two_versions(tmp_path, smoke_params)
    assert promote_if_absent("anime-unit", versions[0], "champion", "first model", by="test")
    assert not promote_if_absent("anime-unit", versions[1], "champion", "first model", by="test")
    assert tracking.alias_version("anime-unit", "champion") == versions[0]
    assert promote("anime-unit", versions[1], "champion", "better on validation", by="someone") == versions[0]
    mv = mlflow.MlflowClient().get_model_version("anime-unit", versions[1])
    assert mv.tags["alias/champion/by"] == "someone" and mv.tags["alias/champion/why"] == "better on validation"
    assert mv.tags["alias/champion/previous"] == versions[0]
    with pytest.raises(BadInput, match="no version 9"):
        promote("anime-unit", "9")
    with pytest.raises(BadInput, match="alias 'best'"):
        promote("anime-unit", versions[0], "best")
    # a roll back is one call: back to the version the last move replaced, recorded like any move
    assert rollback("anime-unit", "champion", "b regressed", by="someone") == (versions[1], versions[0])
    assert tracking.alias_version("anime-unit", "champion") == versions[0]
    mv = mlflow.MlflowClient().get_model_version("anime-unit", versions[0])
    assert mv.tags["alias/champion/why"] == f"roll back from {versions[1]}: b regressed"
    assert any(line.startswith(f"v{versions[0]} @champion (now): by someone") for line in history("anime-unit"))
    with pytest.raises(BadInput, match="no alias 'challenger'"):
        rollback("anime-unit", "challenger", "x")


def test_the_promote_command_records_each_move_for_the_deploy_stage(store, tmp_path, smoke_params, monkeypatch):
    """`python -m models.promote` (the command, as a person runs it) appends each move to promotions.json, the deploy
    stage's dependency; a broken record stops the command before any alias moves."""
    import json
    import sys

    from models import promote as command

    versions = _two_versions(tmp_path, smoke_params)
    promote("anime-unit", versions[0], "champion", "first", by="stage evaluate")  # a stage's move: not recorded
    record = tmp_path / "promotions.json"

    def cli(*argv: str) -> None:
        monkeypatch.setattr(sys, "argv", ["promote", "anime-unit", *argv, "--record", str(record)])
        command.main()

    cli(versions[1], "--why", "better on real sketches")
    cli("--rollback", "--why", "b regressed")
    moves = json.loads(record.read_text())["moves"]
    assert [(m["alias"], m["version"], m["previous"]) for m in moves] == [
        ("champion", versions[1], versions[0]),
        ("champion", versions[0], versions[1]),
    ]
    assert moves[0]["why"] == "better on real sketches" and moves[1]["why"] == "roll back: b regressed"
    assert all(m["by"] and m["at"] for m in moves)
    record.write_text("[1, 2")
    with pytest.raises(BadInput, match="not a record of promotions"):
        cli(versions[1], "--why", "x")
    assert tracking.alias_version("anime-unit", "champion") == versions[0]  # nothing moved


def test_git_state_reads_the_commit_and_local_changes(tmp_path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@l", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@l"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        if cmd[1] == "add":
            (tmp_path / "f.txt").write_text("1")
        subprocess.run(cmd, cwd=tmp_path, check=True, env={**os.environ, **env})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert tracking.git_state(tmp_path) == (head, False)
    (tmp_path / "untracked.txt").write_text("new")  # untracked files do not make the code differ
    assert tracking.git_state(tmp_path) == (head, False)
    (tmp_path / "f.txt").write_text("2")
    assert tracking.git_state(tmp_path) == (head, True)
    assert tracking.git_state(Path("/")) == ("unknown", True)


def test_git_dirty_means_code_or_params_not_the_pipelines_records(tmp_path):
    """A run rewrites dvc.lock and metrics/: a fresh clone's `make pipeline` is not dirty for that; code is."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@l", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@l"}
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  a:\n    cmd: x\n    outs: [{data/a: {cache: false}}]\n    metrics: [{metrics/a.json: {cache: false}}]\n"
        "  train:\n    foreach:\n      f: {code: models/f}\n      g: {code: models/g}\n    do:\n      cmd: t ${key}\n"
        "      deps: ['${item.code}']\n      outs: ['data/train/${key}']\n"
        "      metrics: [{'metrics/${key}.json': {cache: false}}]\n      plots: [{'docs/${key}_samples.png': {cache: false}}]\n"
    )
    for name in ("dvc.lock", "metrics/a.json", "data/a/out.txt", "stages/a.py", "params.yaml", "docs/f_samples.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env={**os.environ, **env})
    assert tracking.pipeline_records(tmp_path) == {
        "dvc.lock",
        "source.lock.json",
        "pose_source.lock.json",
        "data/a",
        "metrics/a.json",
        "data/train/f",
        "data/train/g",
        "metrics/f.json",
        "metrics/g.json",
        "docs/f_samples.png",
        "docs/g_samples.png",
    }
    (tmp_path / "README.md").write_text("1")
    for cmd in (["git", "add", "README.md"], ["git", "commit", "-qm", "docs"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env={**os.environ, **env})
    for name in ("dvc.lock", "metrics/a.json", "data/a/out.txt", "README.md", "docs/f_samples.png"):  # a foreach's too
        (tmp_path / name).write_text("2")
    assert tracking.git_state(tmp_path)[1] is False
    (tmp_path / "params.yaml").write_text("2")
    assert tracking.git_state(tmp_path)[1] is True
    subprocess.run(["git", "checkout", "params.yaml"], cwd=tmp_path, check=True)
    subprocess.run(["git", "mv", "stages/a.py", "stages/b.py"], cwd=tmp_path, check=True)  # a staged rename
    assert tracking.git_state(tmp_path)[1] is True


def test_dvc_md5_matches_dvc_for_a_file_and_a_folder(tmp_path):
    """The hash is the one `dvc add` records, for a file and for a folder (DVC's `.dir` hash)."""
    f = tmp_path / "x.txt"
    f.write_bytes(b"hello\n")
    d = tmp_path / "folder"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"\x00\x01")
    (d / "sub" / "b.txt").write_text("b")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "add", "-q", "x.txt", "folder"], cwd=tmp_path, check=True)
    for target in ("x.txt", "folder"):
        recorded = yaml.safe_load((tmp_path / f"{target}.dvc").read_text())["outs"][0]["md5"]
        assert tracking.dvc_md5(tmp_path / target) == recorded


def test_dvc_md5_hashes_what_is_read_not_the_lock(tmp_path, monkeypatch):
    """A hand run on changed data must not log (or resume under) the hash dvc.lock recorded for the old data."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "ingest").mkdir(parents=True)
    (tmp_path / "data" / "ingest" / "a.txt").write_text("old")
    before = tracking.dvc_md5("data/ingest")
    (tmp_path / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  ingest:\n    outs:\n    - path: data/ingest\n      md5: {before}\n"
    )
    (tmp_path / "data" / "ingest" / "a.txt").write_text("new")
    assert tracking.dvc_md5("data/ingest") != before


def test_units_are_taken_up_by_a_retry_and_never_after_the_stage_finished(store, tmp_path, smoke_params, monkeypatch):
    """A unit registered by an attempt that did not finish comes back (bundle, files, figures, version); once the
    stage run completes, or with other inputs or params, it does not."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "inputs"
    data.mkdir()
    (data / "a.bin").write_bytes(b"abc")
    out = tmp_path / "out"
    (out / "unit-a").mkdir(parents=True)
    (out / "unit-a" / "config.json").write_text('{"n": 1}')
    np.save(out / "samples.npy", np.arange(6))
    units = tracking.Units(smoke_params, "train@unit", [str(data)])
    assert units.earlier("unit-a", "anime-unit", tmp_path / "x") is None  # no such model yet
    with tracking.start_run("unit", smoke_params, "train", ["ingest"], [str(data)], run_name="unit-a"):
        figures = {"fd": np.float32(1.5), "by": {"k": np.arange(2)}}
        version = units.register("unit-a", "anime-unit", out / "unit-a", figures, [out / "samples.npy"])
    assert version == "1"

    retry = tracking.Units(smoke_params, "train@unit", [str(data)])
    again = tmp_path / "again"
    assert retry.earlier("unit-b", "anime-unit", again) is None  # another unit
    assert retry.earlier("unit-a", "anime-unit", again) == {"fd": 1.5, "by": {"k": [0, 1]}, "version": "1"}
    assert json.loads((again / "unit-a" / "config.json").read_text()) == {"n": 1}
    assert np.load(again / "samples.npy").tolist() == list(range(6))
    assert sorted(p.name for p in again.iterdir()) == ["samples.npy", "unit-a"]  # no download folder left behind

    other = smoke_params.model_copy(update={"seed": smoke_params.seed + 1})
    assert tracking.Units(other, "train@unit", [str(data)]).earlier("unit-a", "anime-unit", tmp_path / "o") is None
    (data / "a.bin").write_bytes(b"abd")
    assert (
        tracking.Units(smoke_params, "train@unit", [str(data)]).earlier("unit-a", "anime-unit", tmp_path / "d") is None
    )
    (data / "a.bin").write_bytes(b"abc")

    retry.complete()
    assert mlflow.MlflowClient().get_model_version("anime-unit", "1").tags["stage_done"] == "true"
    assert (
        tracking.Units(smoke_params, "train@unit", [str(data)]).earlier("unit-a", "anime-unit", tmp_path / "z") is None
    )


def test_a_taken_up_unit_brings_its_plots_back_and_a_plot_path_cannot_climb_out(
    store, tmp_path, smoke_params, monkeypatch
):
    """A unit's DVC plots (its curve and grids, models/engine/plots.py) are stored with it: a retry that takes the
    unit up finds them under its own output's plots/ folder. A stored plot path that leaves that folder is refused."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    (out / "u").mkdir(parents=True)
    (out / "u" / "config.json").write_text("{}")
    root = out / tracking.PLOTS
    (root / "losses").mkdir(parents=True)
    (root / "losses" / "u.csv").write_text("step,loss_g,loss_d\n2,1.0,0.5\n")
    (root / "samples" / "u").mkdir(parents=True)
    (root / "samples" / "u" / "step_000002.png").write_bytes(b"png")
    rels = [Path("losses/u.csv"), Path("samples/u/step_000002.png")]
    with tracking.start_run("unit", smoke_params, "train", ["ingest"], [], run_name="u"):
        tracking.Units(smoke_params, "train@unit", []).register("u", "anime-unit", out / "u", {}, plots=(root, rels))
    again = tmp_path / "again"
    assert tracking.Units(smoke_params, "train@unit", []).earlier("u", "anime-unit", again) == {"version": "1"}
    assert (again / "plots" / "losses" / "u.csv").read_text().startswith("step,loss_g,loss_d")
    assert (again / "plots" / "samples" / "u" / "step_000002.png").read_bytes() == b"png"

    with tracking.start_run("unit", smoke_params, "train", ["ingest"], [], run_name="v"):
        tracking.Units(smoke_params, "train@unit", []).register("v", "anime-unit", out / "u", {})
        doc = {"unit": "v", "bundle": "u", "files": [], "figures": {}, "plots": ["../../evil.csv"]}
        mlflow.log_text(json.dumps(doc), "unit/unit.json")
    with pytest.raises(ValueError, match="not a relative path inside the plots folder"):
        tracking.Units(smoke_params, "train@unit", []).earlier("v", "anime-unit", tmp_path / "o")
    assert not (tmp_path / "evil.csv").exists()


def test_a_unit_record_naming_a_path_is_refused(store, tmp_path, smoke_params, monkeypatch):
    """unit.json comes from the store: a file name that climbs out of the output folder is refused."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text("{}")
    units = tracking.Units(smoke_params, "train@unit", [])
    with tracking.start_run("unit", smoke_params, "train", ["ingest"], [], run_name="u"):
        units.register("u", "anime-unit", tmp_path / "b", {})
        mlflow.log_text(json.dumps({"unit": "u", "bundle": "b", "files": ["../evil"], "figures": {}}), "unit/unit.json")
    with pytest.raises(ValueError, match="not a plain name"):
        tracking.Units(smoke_params, "train@unit", []).earlier("u", "anime-unit", tmp_path / "o")
    assert not (tmp_path / "evil").exists()


def test_code_identity_follows_local_changes(tmp_path):
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    run("add", "a.py")
    run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "a")
    clean = tracking.code_identity(tmp_path)
    assert "+" not in clean and len(clean) == 40
    (tmp_path / "a.py").write_text("x = 2\n")
    one = tracking.code_identity(tmp_path)
    (tmp_path / "a.py").write_text("x = 3\n")
    assert one.startswith(clean + "+") and tracking.code_identity(tmp_path) != one
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("docs do not count\n")
    assert tracking.code_identity(tmp_path) == clean
    (tmp_path / "new.py").write_text("y = 1\n")
    assert tracking.code_identity(tmp_path) != clean


def test_a_model_whose_bundle_path_climbs_out_is_refused(tmp_path, monkeypatch):
    """download_version reads the bundle's path from the version's MLmodel: one that leaves the model is refused,
    nothing fetched from outside it."""
    import mlflow

    model = tmp_path / "model"
    (model / "artifacts" / "bundle").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("not yours")

    class Client:
        def get_model_version_download_uri(self, name, version):
            return model.as_uri()

    monkeypatch.setattr(tracking, "connect", lambda: (mlflow, Client()))
    for path, ok in (("artifacts/bundle", True), ("../secret", False), ("/etc", False)):
        flavor = {"python_function": {"artifacts": {"bundle": {"path": path}}}}
        (model / "MLmodel").write_text(yaml.safe_dump({"flavors": flavor}))
        dst = tmp_path / "dl" / path.replace("/", "_")
        if ok:
            assert Path(tracking.download_version("m", "1", dst)) == dst / "bundle"
        else:
            with pytest.raises(ValueError, match="outside the model"):
                tracking.download_version("m", "1", dst)
            assert not (dst / "secret").exists() and not any(dst.rglob("key"))
