"""Annotations are never lost, against a real Label Studio: a reset or other server is refused by pull and push, a
restore brings the committed exports back (authors, times, ids), edits and removals are never silent, and two
syncs never interleave."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from core.errors import BadInput
from core.runlock import child_env, lock_path, run_lock
from labeling import record
from labeling.client import PROJECTS, connect
from labeling.formats import choice_results
from labeling.pull import pull
from labeling.push import push
from labeling.restore import restore
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _params(smoke_params, tag_tasks: int):
    return smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 0, "tag_tasks": tag_tasks})}
    )


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _env(server: dict) -> dict[str, str]:
    """What `labeling.sync` needs to reach the test's server, and nothing of the caller's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "MLFLOW", "ANIME_RUN_LOCK"))}
    env.update(
        PYTHONPATH=str(REPO),
        LABEL_STUDIO_URL=server["url"],
        LABEL_STUDIO_API_KEY=server["creds"].token,
        LABEL_STUDIO_DOCUMENT_ROOT=str(server["docs"]),
    )
    return env


def _sync(args: list[str], cwd, server: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "labeling.sync", *args, "--params", str(REPO / "params.yaml")]
    return subprocess.run(cmd, cwd=cwd, env=_env(server), capture_output=True, text=True)


def test_a_reset_server_is_refused_then_restored_from_the_exports(
    labelstudio_empty, smoke_params, smoke_ingest, tmp_path
):
    server = labelstudio_empty
    srv = connect(server["url"], server["creds"].token)
    ls = srv.client()
    docs, exports, projects = server["docs"], tmp_path / "exports", tmp_path / "projects.json"

    def push_tags(n: int) -> dict:
        return push(srv, _params(smoke_params, n), docs, tmp_path / "none", smoke_ingest, tmp_path / "none.csv",
                    projects=projects)  # fmt: skip

    pid = push_tags(3)["tags"]["project"]
    tasks = sorted(ls.tasks.list(project=pid, fields="all"), key=lambda t: t.id)
    ls.annotations.create(id=tasks[0].id, result=choice_results({"smile": "yes", "glasses": "no"}), lead_time=4.5)
    ls.annotations.create(id=tasks[1].id, result=choice_results({"smile": "no"}))
    ls.users.create(email="bo@example.com", username="bo@example.com")  # a second annotator
    ls.projects.import_tasks(id=pid, commit_to_project=True, request=[{
        "data": dict(tasks[2].data),
        "annotations": [{"completed_by": {"email": "bo@example.com"}, "result": choice_results({"blush": "yes"})}],
    }])  # fmt: skip
    first = pull(srv, exports)
    assert first["tags"]["tasks"] == 3 and first["tags"]["added"] == 3
    committed, recorded = _files(exports), projects.read_bytes()
    anns = record.annotations_by_key(json.loads((exports / "tags.json").read_text()))
    assert sorted(a["completed_by"] for a in anns.values()) == ["admin@example.com"] * 2 + ["bo@example.com"]
    assert all(a["created_at"] and a["updated_at"] for a in anns.values())
    image = docs / "labeling" / "tags" / f"{tasks[0].data['ref_id']}.png"
    pixels = image.read_bytes()

    # the server's data folder is reset: no project; pull and push refuse, nothing written
    for p in ls.projects.list():
        ls.projects.delete(id=p.id)
    with pytest.raises(BadInput, match=r"tags: the exports come from project #\d+ .* the server has no project"):
        pull(srv, exports)
    with pytest.raises(BadInput, match="push refused"):
        push_tags(1)
    assert _files(exports) == committed and projects.read_bytes() == recorded and not list(ls.projects.list())
    checkout = tmp_path / "checkout"  # the same through the command line, in a checkout
    shutil.copytree(exports, checkout / "labeling" / "exports")
    shutil.copy(projects, checkout / "labeling" / "projects.json")
    cli = _sync(["pull"], checkout, server)
    assert cli.returncode == 2 and "pull refused, nothing written" in cli.stderr and "Traceback" not in cli.stderr
    assert _files(checkout / "labeling" / "exports") == committed

    # another server (or a reset one someone pushed to) with a project of the same title: refused as well
    foreign = ls.projects.create(title=PROJECTS["tags"])
    with pytest.raises(BadInput, match=rf"the server has project #{foreign.id} created"):
        pull(srv, exports)
    ls.projects.import_tasks(id=foreign.id, request=[{"data": {"image": "/x.png", "ref_id": "x"}}])
    with pytest.raises(BadInput, match="restore refused: the server already has project"):
        restore(srv, smoke_params, docs, exports, projects, smoke_ingest, tmp_path / "none", tmp_path / "none")
    ls.projects.delete(id=foreign.id)

    # restore: projects, tasks, annotations with their authors; the images come back from the pipeline's data
    image.unlink()
    out = restore(srv, smoke_params, docs, exports, projects, smoke_ingest, tmp_path / "none", tmp_path / "none")
    assert out["tags"]["tasks"] == 3 and out["tags"]["annotations"] == 3 and out["tags"]["accounts_made"] == []
    assert out["tags"]["images"] == {"written": 1, "missing": 0} and image.read_bytes() == pixels
    new = record.read_projects(projects)["tags"]
    assert new.id != json.loads(recorded)["tags"]["id"] and new.id_offset == max(a for _, a in anns)
    assert _files(exports) == committed  # restore reads the record, never writes it
    again = pull(srv, exports)
    assert again["tags"] == {**again["tags"], "changed": False, "added": 0, "removed": 0, "updated": []}
    assert _files(exports) == committed  # the original times and ids: byte for byte
    users = {u.id: u.email for u in ls.users.list()}
    restored = [a for t in ls.tasks.list(project=new.id, fields="all") for a in ls.annotations.list(id=t.id)]
    assert sorted(users[a.completed_by] for a in restored) == ["admin@example.com"] * 2 + ["bo@example.com"]
    assert restore(srv, smoke_params, docs, exports, projects, smoke_ingest, tmp_path / "none", tmp_path / "none")[
        "tags"
    ]["in_place"]

    # new work on the restored server: a new id never meets a restored one; an edit is listed, keeps its birth
    fresh = push_tags(1)["tags"]
    assert fresh["imported"] == 1 and fresh["existing"] == 3
    waiting = next(t for t in ls.tasks.list(project=new.id, fields="all") if not t.total_annotations)
    ls.annotations.create(id=waiting.id, result=choice_results({"smile": "yes"}))
    edited = next(a for a in restored if users[a.completed_by] == "bo@example.com")
    ls.annotations.update(id=edited.id, result=choice_results({"blush": "no"}))
    got = pull(srv, exports)["tags"]
    assert got["added"] == 1 and len(got["updated"]) == 1 and got["removed"] == 0
    now = record.annotations_by_key(json.loads((exports / "tags.json").read_text()))
    assert len(now) == 4 and set(anns) < set(now)
    (key,) = set(now) - set(anns)
    assert key[1] > new.id_offset
    ref, ann = got["updated"][0].split("#")
    was = anns[(ref, int(ann))]
    assert (
        now[(ref, int(ann))]["created_at"] == was["created_at"]
        and now[(ref, int(ann))]["updated_at"] > was["updated_at"]
    )

    # an annotation removed on the server: refused; removing it takes the explicit flag
    ls.annotations.delete(id=edited.id)
    before = _files(exports)
    with pytest.raises(BadInput, match=rf"1 annotations of the exports are not on the server \({ref}#{ann}\)"):
        pull(srv, exports)
    assert _files(exports) == before
    assert pull(srv, exports, allow_removal=True)["tags"]["removed"] == 1
    assert len(record.annotations_by_key(json.loads((exports / "tags.json").read_text()))) == 3


def test_two_first_pushes_at_once_make_one_project_per_kind(labelstudio_empty, tmp_path):
    """Four `labeling.sync push` at once on one checkout: they take turns on the run lock, so the first creates the
    projects and the others find them."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    env = _env(labelstudio_empty)
    cmd = [sys.executable, "-m", "labeling.sync", "push", "--params", str(REPO / "params.yaml")]
    procs = [subprocess.Popen(cmd, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    ls = connect(labelstudio_empty["url"], labelstudio_empty["creds"].token).client()
    titles = sorted(p.title for p in ls.projects.list())
    assert titles == sorted(PROJECTS.values())
    assert set(record.read_projects(checkout / "labeling" / "projects.json")) == set(PROJECTS)


def test_a_sync_waits_for_the_run_lock_or_inherits_it(labelstudio_empty, tmp_path):
    """A pipeline run holds the checkout's lock: a sync started beside it waits, then gives up with 75 naming the
    holder; started by the holder itself (the label-sync flow), it inherits the lock and runs."""
    checkout = tmp_path / "checkout"
    (checkout / "labeling" / "exports").mkdir(parents=True)
    with run_lock(lock_path(checkout), "pipeline run quiet-fox") as held:
        busy = _sync(["pull", "--wait", "1"], checkout, labelstudio_empty)
        assert busy.returncode == 75 and "pipeline run quiet-fox (pid" in busy.stderr and "retry later" in busy.stderr
        assert not list((checkout / "labeling" / "exports").iterdir())
        env, fds = child_env(held)
        cmd = [sys.executable, "-m", "labeling.sync", "pull", "--wait", "1", "--params", str(REPO / "params.yaml")]
        env = {**_env(labelstudio_empty), **env}
        inherited = subprocess.run(cmd, cwd=checkout, pass_fds=fds, capture_output=True, text=True, env=env)
        assert inherited.returncode == 0, inherited.stderr[-2000:]
