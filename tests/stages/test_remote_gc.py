"""The DVC remote from a fresh clone, and cleaning up: `dvc gc` (what -w, -A, -a, -T and --cloud keep) and `mlflow gc`.

On copies of the repository (smoke profile) with a remote in tmp_path: a clone with no data and no cache gets the
outputs with `dvc pull` and reproduces pixel_baseline's metrics; `dvc gc` drops only what no kept revision uses; the
real `mlflow gc` CLI removes a deleted run and its artifacts for good. test_pipeline.py covers push/pull in place.

    .venv/bin/pytest tests/stages/test_remote_gc.py     # about 2 minutes on 2 cores
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.hashing import file_digest
from tests.conftest import run, set_profile

pytestmark = pytest.mark.slow

# written by the stage from time.perf_counter(): the one field of metrics/pixel_baseline.json a re-run may change
WALL_CLOCK = "seconds"


def objects(root: Path) -> set[str]:
    """The md5s (`.dir` for a folder's listing) of the objects in a DVC cache or a local remote (DVC 3 layout)."""
    md5_root = root / "files" / "md5"
    return {f"{p.parent.name}{p.name}" for p in md5_root.glob("*/*")} if md5_root.is_dir() else set()


def object_path(root: Path, md5: str) -> Path:
    return root / "files" / "md5" / md5[:2] / md5[2:]


def folder_objects(repo: Path, stage: str, path: str) -> dict[str, str]:
    """{relpath: md5} of folder out `path` of `stage` in dvc.lock, plus {"<listing>": its `.dir` md5}."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    dir_md5 = next(o["md5"] for o in lock["stages"][stage]["outs"] if o["path"] == path)
    listing = json.loads(object_path(repo / ".dvc" / "cache", dir_md5).read_text())
    return {"<listing>": dir_md5} | {e["relpath"]: e["md5"] for e in listing}


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def use_remote(repo: Path, remote: Path) -> None:
    """Point the default remote `local` at `remote` in .dvc/config.local (git-ignored): nothing tracked changes."""
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], repo)


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "params.yaml", "dvc.lock", "metrics", "source.lock.json", "pose_source.lock.json"], repo)
    run(["git", "commit", "-qm", message], repo)


def ran(proc) -> list[str]:
    """The stages a `dvc repro` ran, from its output."""
    return [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage '")]


def test_fresh_clone_pulls_then_reproduces(repo_copy, tmp_path):
    remote = tmp_path / "remote"
    run(["python", "-m", "stages.source"], repo_copy)
    assert ran(run(["dvc", "repro", "pixel_baseline"], repo_copy)) == ["params", "ingest", "pixel_baseline"]
    commit(repo_copy, "pipeline up to pixel_baseline")
    use_remote(repo_copy, remote)
    run(["dvc", "push"], repo_copy)
    pushed = folder_objects(repo_copy, "ingest", "data/ingest")
    assert set(pushed.values()) == objects(remote)  # the folder's files and its listing; uncached outs stay out
    assert run(["git", "status", "--porcelain"], repo_copy).stdout == ""  # config.local is git-ignored

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo_copy), str(clone)], tmp_path)
    assert not (clone / "data").exists() and not (clone / ".dvc" / "cache").exists()
    use_remote(clone, remote)
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    # The outs of this stage and of everything upstream: a bare `dvc pull` also asks for the outs of stages that
    # were never run (no hash in dvc.lock), checks out what it has and exits 1 (asserted below).
    pulled = run(["dvc", "pull", "--with-deps", "pixel_baseline"], clone)
    assert f"{len(pushed)} files fetched" in pulled.stdout, pulled.stdout
    assert files_under(clone / "data" / "ingest") == files_under(repo_copy / "data" / "ingest")
    assert files_under(clone / "metrics") == files_under(repo_copy / "metrics")  # from git
    bare = run(["dvc", "pull"], clone, check=False)
    assert bare.returncode == 1 and "No file hash info found" in bare.stderr + bare.stdout

    # data/params is an uncached out under the git-ignored data/: in neither git nor the remote, so the clone's
    # first repro re-runs stage `params` (a second); its files hash as recorded, so nothing downstream runs.
    assert ran(run(["dvc", "repro", "pixel_baseline"], clone)) == ["params"]
    assert files_under(clone / "data" / "params") == files_under(repo_copy / "data" / "params")
    status = run(["dvc", "status", "--with-deps", "pixel_baseline"], clone)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert ran(run(["dvc", "repro", "pixel_baseline"], clone)) == []
    assert run(["git", "status", "--porcelain"], clone).stdout == ""

    # Re-run for real: the same figures. Only the stage's own wall time may differ (it is written into the metrics).
    assert ran(run(["dvc", "repro", "-f", "-s", "pixel_baseline"], clone)) == ["pixel_baseline"]
    again = json.loads((clone / "metrics" / "pixel_baseline.json").read_text())
    committed = json.loads((repo_copy / "metrics" / "pixel_baseline.json").read_text())
    again["pixel_baseline"]["pixel_linear"].pop(WALL_CLOCK)
    committed["pixel_baseline"]["pixel_linear"].pop(WALL_CLOCK)
    assert again == committed
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], clone).stdout or "{}")
    assert set(diff.get("metrics/pixel_baseline.json", {})) <= {f"pixel_baseline.pixel_linear.{WALL_CLOCK}"}, diff
    changed = set(run(["git", "diff", "--name-only"], clone).stdout.split())
    assert changed <= {"dvc.lock", "metrics/pixel_baseline.json"}, changed  # the metrics file's md5 in dvc.lock


def test_dvc_gc_keeps_what_the_flags_name(repo_copy, tmp_path):
    cache, remote = repo_copy / ".dvc" / "cache", tmp_path / "remote"
    use_remote(repo_copy, remote)
    run(["python", "-m", "stages.source"], repo_copy)
    run(["dvc", "repro", "ingest"], repo_copy)
    commit(repo_copy, "v1: sizes 32, 64")
    run(["git", "tag", "v1"], repo_copy)
    run(["git", "branch", "old"], repo_copy)
    run(["dvc", "push"], repo_copy)
    v1 = folder_objects(repo_copy, "ingest", "data/ingest")
    branch = run(["git", "branch", "--show-current"], repo_copy).stdout.strip()

    set_profile(repo_copy / "params.yaml", "smoke", ingest__sizes=[32, 48])
    assert ran(run(["dvc", "repro", "ingest"], repo_copy)) == ["params", "ingest"]
    commit(repo_copy, "v2: sizes 32, 48")
    run(["dvc", "push"], repo_copy)
    v2 = folder_objects(repo_copy, "ingest", "data/ingest")
    old_only = set(v1.values()) - set(v2.values())
    assert v1["images_64.npy"] in old_only and v2["images_32.npy"] == v1["images_32.npy"]  # 32 px: the same bytes
    both = set(v1.values()) | set(v2.values())
    assert both <= objects(cache)

    # Every flag that names a revision holding v1 keeps v1's objects (-w keeps the workspace, i.e. v2).
    for keep in (["-A"], ["-a"], ["-T"]):  # all commits; branch tips (`old` is at v1); tags (`v1`)
        run(["dvc", "gc", "-w", *keep, "-f"], repo_copy)
        assert both <= objects(cache), keep
    before = objects(cache)
    run(["dvc", "gc", "-w", "-f"], repo_copy)
    after = objects(cache)
    assert before - after == old_only and not object_path(cache, v1["images_64.npy"]).exists()
    print(f"dvc gc -w: {len(before)} -> {len(after)} objects in the cache")
    for rel, md5 in v2.items():  # the workspace keeps its files, and DVC agrees
        assert rel == "<listing>" or md5_of(repo_copy / "data" / "ingest" / rel) == md5
    assert "Data and pipelines are up to date" in run(["dvc", "status", "--with-deps", "ingest"], repo_copy).stdout
    assert objects(remote) == both  # the local gc leaves the remote alone

    # v1 is gone from the cache but not from the remote: a checkout fails, a pull restores it.
    run(["git", "checkout", "-q", "v1"], repo_copy)
    assert run(["dvc", "checkout", "ingest"], repo_copy, check=False).returncode != 0
    run(["dvc", "pull", "ingest"], repo_copy)
    assert md5_of(repo_copy / "data" / "ingest" / "images_64.npy") == v1["images_64.npy"]
    run(["git", "checkout", "-q", branch], repo_copy)
    run(["dvc", "checkout", "ingest"], repo_copy)

    # --cloud applies the same keep rule to the remote: v1 can then be had only by running the pipeline again.
    run(["dvc", "gc", "-w", "--cloud", "-f"], repo_copy)
    assert objects(remote) == set(v2.values()) and objects(cache) == after
    run(["git", "checkout", "-q", "v1"], repo_copy)
    lost = run(["dvc", "pull", "ingest"], repo_copy, check=False)
    assert lost.returncode != 0 and not (repo_copy / "data" / "ingest" / "images_64.npy").exists()
    run(["git", "checkout", "-q", branch], repo_copy)


def test_mlflow_gc_removes_a_deleted_run_and_its_artifacts(store, tmp_path):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from core import tracking

    uri = tracking.default_uri()  # sqlite:///<store>/mlflow.db, artifacts under <store>/artifacts: the repo's layout
    client = MlflowClient(tracking_uri=uri)  # no global tracking URI: nothing leaks into other tests
    exp = client.create_experiment("gc", artifact_location=f"{tracking.artifact_root()}/gc")
    runs = {}
    for name in ("kept", "deleted"):
        run_id = client.create_run(exp, run_name=name).info.run_id
        note = tmp_path / f"{name}.txt"
        note.write_text(name)
        client.log_artifact(run_id, str(note))
        client.set_terminated(run_id)
        runs[name] = (run_id, Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://")))
    assert all((folder / f"{name}.txt").is_file() for name, (_, folder) in runs.items())
    gone_id, gone_folder = runs["deleted"]
    client.delete_run(gone_id)
    assert client.get_run(gone_id).info.lifecycle_stage == "deleted"  # soft: still in the store
    assert (gone_folder / "deleted.txt").is_file()

    # mlflow 3.17 refuses to start without a tracking URI (env or --tracking-uri), even given the backend store
    refused = run(["mlflow", "gc", "--backend-store-uri", uri], tmp_path, check=False)
    assert refused.returncode != 0 and "Tracking URL is not set" in refused.stderr
    done = run(["mlflow", "gc", "--backend-store-uri", uri, "--tracking-uri", uri], tmp_path)
    assert f"Run with ID {gone_id} has been permanently deleted" in done.stdout + done.stderr

    with pytest.raises(MlflowException, match="not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        client.get_run(gone_id)
    assert not gone_folder.exists()
    assert not [p for p in gone_folder.parent.rglob("*") if p.is_file()]  # only the empty run folder is left
    kept_id, kept_folder = runs["kept"]
    assert client.get_run(kept_id).info.lifecycle_stage == "active"
    assert (kept_folder / "kept.txt").read_text() == "kept"
