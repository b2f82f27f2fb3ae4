"""A real Label Studio server, started by the test from its own venv on 127.0.0.1: the admin's fixed token works,
a wrong one is refused, the labeling configs are accepted, and local files under the document root are served."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from labeling import configs, server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    """A migrated data dir made once per session (about 35 s), copied for the server, which starts in seconds."""
    root = tmp_path_factory.mktemp("labelstudio")
    creds = server.Credentials("admin@example.com", "test-password-123", "0123456789abcdef0123456789abcdef01234567")
    docs = root / "files"
    (docs / "labeling").mkdir(parents=True)
    exe = server.ensure_venv()
    server.init_data_dir(exe, creds, root / "migrated", docs)
    server.copy_data_dir(root / "migrated", root / "data")
    port = _free_port()
    proc = server.start(port, root / "data", docs, creds, log=root / "server.log")
    try:
        yield {"url": f"http://127.0.0.1:{port}", "creds": creds, "docs": docs, "log": root / "server.log"}
    finally:
        server.stop(proc)


def test_token_login_and_configs(labelstudio):
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=labelstudio["url"], api_key=labelstudio["creds"].token)
    project = ls.projects.create(title="pose-check", label_config=configs.pose_config())
    got = ls.projects.get(project.id)
    assert "KeyPointLabels" in got.label_config and all(j in got.label_config for j in ("head", "right_foot"))
    tags = ls.projects.create(title="tags-check", label_config=configs.tags_config())
    assert ls.projects.get(tags.id).title == "tags-check"

    req = urllib.request.Request(f"{labelstudio['url']}/api/projects/", headers={"Authorization": "Token " + "0" * 40})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401


def test_binds_only_loopback(labelstudio):
    port = int(labelstudio["url"].rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for addr in addresses - {"127.0.0.1"}:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((addr, port)) != 0, f"Label Studio answers on {addr}"
