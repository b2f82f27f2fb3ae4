"""Where Label Studio listens (labeling/network.py, labeling/server.py): loopback by default; the network when asked,
with a warning and the steps to put TLS in front; a public URL sets the settings Django needs behind a proxy. No
server is started here (tests/labeling/test_labelstudio_team.py logs in through a public URL on a real one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labeling import network, server
from labeling.network import SETTINGS, Exposure, from_environment, label_studio_env, tls_warning

CREDS = server.Credentials("admin@example.com", "pw-123456789", "0123456789abcdef0123456789abcdef01234567")
EXE = Path("/venv/bin/label-studio")


def test_loopback_is_the_default_and_inherited_network_settings_never_reach_the_server(monkeypatch, tmp_path):
    for name in SETTINGS:
        monkeypatch.setenv(name, "stale")
    monkeypatch.delenv("LABEL_STUDIO_BIND", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_HOST", raising=False)
    exposure = from_environment()
    assert exposure == network.LOOPBACK and not exposure.on_network
    cmd = server.launch_command(EXE, 8080, exposure)
    assert cmd[cmd.index("--internal-host") + 1] == "127.0.0.1"
    env = server.server_env(CREDS, tmp_path, tmp_path, exposure)
    assert not set(SETTINGS) & set(env) and tls_warning(exposure, 8080) == ""
    assert exposure.local_url(8080) == "http://127.0.0.1:8080"


def test_a_network_bind_listens_there_warns_and_checks_health_on_loopback(monkeypatch, tmp_path):
    monkeypatch.setenv("LABEL_STUDIO_BIND", "0.0.0.0")
    monkeypatch.delenv("LABEL_STUDIO_HOST", raising=False)
    exposure = from_environment()
    cmd = server.launch_command(EXE, 9000, exposure)
    assert cmd[cmd.index("--internal-host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "9000"
    assert exposure.local_url(9000) == "http://127.0.0.1:9000"  # the health check and the sync stay local
    assert from_environment(bind="192.168.1.5").local_url(9000) == "http://192.168.1.5:9000"
    assert from_environment(bind="::1").local_url(9000) == "http://[::1]:9000" and not Exposure("::1").on_network
    warning = tls_warning(exposure, 9000)
    assert "reachable from the network over plain HTTP (0.0.0.0:9000)" in warning
    for step in ("caddy reverse-proxy --from", "--to 127.0.0.1:9000", "proxy_pass http://127.0.0.1:9000"):
        assert step in warning
    assert "LABEL_STUDIO_HOST=https://" in warning and "CSRF_TRUSTED_ORIGINS" in warning and "firewall" in warning
    # plain HTTP on the network needs no settings: the browser's Origin is the host it asked
    assert label_studio_env(exposure) == {}


def test_a_public_url_sets_the_host_the_trusted_origin_and_secure_cookies(tmp_path):
    exposure = from_environment(public_url="https://labels.example.org/")
    env = server.server_env(CREDS, tmp_path, tmp_path, exposure)
    assert env["LABEL_STUDIO_HOST"] == "https://labels.example.org"
    assert env["LABEL_STUDIO_CSRF_TRUSTED_ORIGINS"] == "https://labels.example.org"
    assert env["LABEL_STUDIO_ALLOWED_HOSTS"].split(",") == ["labels.example.org", "127.0.0.1", "localhost"]
    assert env["LABEL_STUDIO_SESSION_COOKIE_SECURE"] == env["LABEL_STUDIO_CSRF_COOKIE_SECURE"] == "1"
    assert tls_warning(exposure, 8080) == ""  # TLS at the proxy, Label Studio on loopback
    assert exposure.annotator_url(8080) == "https://labels.example.org"
    # a port in the public URL is part of the origin; the LAN address it listens on is an allowed host too
    lan = Exposure(bind="10.0.0.7", public_url="https://labels.example.org:8443")
    assert label_studio_env(lan)["LABEL_STUDIO_CSRF_TRUSTED_ORIGINS"] == "https://labels.example.org:8443"
    assert "10.0.0.7" in label_studio_env(lan)["LABEL_STUDIO_ALLOWED_HOSTS"].split(",")
    assert "let only the proxy reach port 8080" in tls_warning(lan, 8080)  # the server itself is still on the LAN
    assert "over plain HTTP (http://labels.example.org)" in tls_warning(
        Exposure(public_url="http://labels.example.org"), 80
    )
    assert (
        label_studio_env(Exposure(public_url="http://labels.example.org"))["LABEL_STUDIO_SESSION_COOKIE_SECURE"] == "0"
    )


def test_an_address_where_a_url_belongs_is_refused_with_what_to_set_instead():
    with pytest.raises(ValueError, match="LABEL_STUDIO_BIND=0.0.0.0"):
        from_environment(public_url="0.0.0.0")
    with pytest.raises(ValueError, match="expected an IP address"):
        from_environment(bind="http://0.0.0.0")


def _server_cli(args: list[str], tmp_path: Path, **env) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LABEL_STUDIO")}
    return subprocess.run(
        [sys.executable, "-m", "labeling.server", *args],
        env={
            **keep,
            "LABEL_STUDIO_API_KEY": CREDS.token,
            "LABEL_STUDIO_USERNAME": CREDS.username,
            "LABEL_STUDIO_PASSWORD": CREDS.password,
            **env,
        },
        cwd=server.REPO,
        capture_output=True,
        text=True,
    )


def test_the_cli_refuses_a_bind_address_in_label_studio_host_and_prints_the_public_url(tmp_path):
    bad = _server_cli(["url"], tmp_path, LABEL_STUDIO_HOST="0.0.0.0")
    assert bad.returncode == 2 and "LABEL_STUDIO_BIND=0.0.0.0" in bad.stderr and "Traceback" not in bad.stderr
    good = _server_cli(["url", "--port", "8123"], tmp_path, LABEL_STUDIO_HOST="https://labels.example.org")
    assert good.returncode == 0 and "annotators open https://labels.example.org" in good.stdout
    assert "http://127.0.0.1:8123" in good.stdout and CREDS.token not in good.stdout


def test_start_on_the_network_prints_the_warning_before_the_server_starts(monkeypatch, tmp_path, capsys):
    started = {}

    def fake_start(port, data_dir, creds=None, log=None, exposure=network.LOOPBACK):
        started.update(port=port, exposure=exposure)
        return subprocess.Popen(["true"], start_new_session=True)  # a server that ends at once, exit 0

    monkeypatch.setattr(server, "start", fake_start)
    monkeypatch.setattr(server, "credentials", lambda: CREDS)
    monkeypatch.delenv("LABEL_STUDIO_HOST", raising=False)
    args = ["labeling.server", "start", "--host", "0.0.0.0", "--port", "8124", "--data-dir", str(tmp_path / "d")]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as done:
        server.main()
    out = capsys.readouterr()
    assert done.value.code == 0 and started == {"port": 8124, "exposure": Exposure(bind="0.0.0.0")}
    assert "WARNING: Label Studio is reachable from the network over plain HTTP" in out.err
    assert "caddy reverse-proxy" in out.err and "annotators open http://<this machine's address>:8124" in out.out
