"""A team of annotators on a real Label Studio (the session's server of tests/conftest.py): `labeling.team add`
makes an account the annotator logs in with, their annotation is exported under their e-mail, `list` shows them;
and a server started with a public URL accepts a browser's log-in through a TLS proxy (the CSRF trusted origin)."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import urllib.parse

import pytest

from labeling import configs, server, team
from labeling.client import PROJECTS, connect
from labeling.formats import choice_results
from labeling.network import Exposure
from labeling.pull import pull
from tests.conftest import REPO, free_port

# The session's Label Studio is shared with other tests, which add annotators of their own (the fault tests add
# bo@example.com): this test's annotators have addresses no other test uses.
_RUN = secrets.token_hex(3)
ANN, BO = f"ann-{_RUN}@example.com", f"bo-{_RUN}@example.com"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _team(args: list[str], cwd, token: str, stdin: str = "") -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO")}
    return subprocess.run(
        [sys.executable, "-m", "labeling.team", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO), "LABEL_STUDIO_API_KEY": token},
        input=stdin,
        capture_output=True,
        text=True,
    )


def _env_file(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_an_added_annotator_logs_in_annotates_and_is_the_exported_author(labelstudio_empty, tmp_path):
    from label_studio_sdk import LabelStudio

    url, admin = labelstudio_empty["url"], labelstudio_empty["creds"].token
    srv = connect(url, admin)
    ls = srv.client()
    project = ls.projects.create(title=PROJECTS["tags"], label_config=configs.tags_config())
    ls.projects.import_tasks(id=project.id, request=[{"ref_id": "img-1", "image": "/data/local-files/?d=x/img-1.png"}])

    folder = tmp_path / "team"
    args = ["add", ANN, "--name", "Ann Example", "--folder", str(folder), "--url", url]
    got = _team(args, tmp_path, admin)
    assert got.returncode == 0, got.stderr
    secret = folder / f"{ANN}.env"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    password = _env_file(secret)["LABEL_STUDIO_PASSWORD"]
    assert len(password) >= 20 and password not in got.stdout + got.stderr
    assert f"log in at {url}/user/login/" in got.stdout and str(secret) in got.stdout

    # the annotator logs in through Label Studio's form, takes their own token and annotates with it
    session = team.log_in(url, ANN, password)
    token = session.get_json("/api/current-user/token")["token"]
    assert token and token != admin
    as_ann = LabelStudio(base_url=url, api_key=token)
    assert as_ann.users.whoami().email == ANN
    assert [p.id for p in as_ann.projects.list()] == [project.id]  # a member of the organisation sees its projects
    (task,) = list(as_ann.tasks.list(project=project.id))
    as_ann.annotations.create(id=task.id, result=choice_results({"smile": "yes"}))
    with pytest.raises(Exception, match="refused the log-in"):
        team.log_in(url, ANN, password + "x")

    pull(srv, tmp_path / "labeling" / "exports")
    (entry,) = json.loads((tmp_path / "labeling" / "exports" / "tags.json").read_text())
    assert [a["completed_by"] for a in entry["annotations"]] == [ANN]

    # a password from stdin: the account works and no file is written
    args = ["add", BO, "--password-stdin", "--folder", str(folder), "--url", url]
    got = _team(args, tmp_path, admin, "bo-secret-pw-42\n")
    assert got.returncode == 0, got.stderr
    assert "the password given on stdin" in got.stdout
    assert not (folder / f"{BO}.env").exists() and "bo-secret-pw-42" not in got.stdout + got.stderr
    team.log_in(url, BO, "bo-secret-pw-42")

    # the list: every member, Ann's name and her exported annotation (the exports of the working directory)
    listed = _team(["list", "--url", url], tmp_path, admin)
    assert listed.returncode == 0, listed.stderr
    ann_row = next(line for line in listed.stdout.splitlines() if ANN in line)
    assert "Ann Example" in ann_row and re.search(r"\s0\s+1$", ann_row)  # 0 pose, 1 tags annotation
    assert BO in listed.stdout and labelstudio_empty["creds"].username in listed.stdout

    # the same e-mail again: refused with exit 2, the account and its file untouched
    before = secret.read_bytes()
    again = _team(["add", ANN, "--folder", str(tmp_path / "other"), "--url", url], tmp_path, admin)
    assert again.returncode == 2 and "has an account" in again.stderr and "Traceback" not in again.stderr
    assert not (tmp_path / "other" / f"{ANN}.env").exists() and secret.read_bytes() == before
    team.log_in(url, ANN, password)


def _browser_login(port: int, host: str, origin: str, email: str, password: str) -> int:
    """A browser's log-in as a TLS proxy hands it on: the public Host and Origin, over plain HTTP on loopback."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/user/login/", headers={"Host": host})
    page = conn.getresponse()
    page.read()
    csrf = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie", "")).group(1)
    body = urllib.parse.urlencode({"email": email, "password": password, "csrfmiddlewaretoken": csrf})
    headers = {
        "Host": host,
        "Origin": origin,
        "Cookie": f"csrftoken={csrf}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    conn.request("POST", "/user/login/", body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_a_server_with_a_public_url_accepts_log_ins_through_a_tls_proxy(labelstudio, tmp_path):
    creds = labelstudio["creds"]
    public = Exposure(public_url="https://labels.example.test")
    server.copy_data_dir(labelstudio["migrated"], tmp_path / "data")
    port = free_port()
    proc = server.start(port, tmp_path / "data", labelstudio["docs"], creds, tmp_path / "log", exposure=public)
    try:
        origin = "https://labels.example.test"
        assert _browser_login(port, "labels.example.test", origin, creds.username, creds.password) == 302
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/user/login/", headers={"Host": "elsewhere.example.test"})
        assert conn.getresponse().status == 400  # a Host the server is not published under (ALLOWED_HOSTS)
        conn.close()
    finally:
        server.stop(proc)
    # the session's server, started without it, refuses the proxied log-in: the setting is what makes it work
    plain = int(labelstudio["url"].rsplit(":", 1)[1])
    assert _browser_login(plain, "labels.example.test", origin, creds.username, creds.password) == 403
