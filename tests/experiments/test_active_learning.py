"""experiments/active_learning.py as a user runs it (`python -m experiments.active_learning`, smoke profile, one seed,
a few rounds): a private Label Studio server, the simulated annotator through its API, both orders from the same
round 0, the learning curves and the headline; SIGTERM stops its server as Ctrl-C does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _env(tmp_path: Path, labelstudio: dict) -> dict:
    creds = labelstudio["creds"]
    return {
        **os.environ,
        "BENCH_CACHE": str(tmp_path / "cache"),
        "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "LABEL_STUDIO_API_KEY": creds.token,
    }


def _args(tmp_path: Path, labelstudio: dict, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.active_learning",
        "--profile",
        "smoke",
        "--seeds",
        "5",
        "--per-round",
        "12",
        "--labelstudio-data",
        str(labelstudio["migrated"]),
        *extra,
    ]


def _servers_of(data_dir: Path) -> list[int]:
    """Processes whose Label Studio data dir is `data_dir`."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"LABEL_STUDIO_BASE_DATA_DIR={data_dir}".encode() in env.read_bytes().split(b"\0"):
                found.append(int(env.parent.name))
        except OSError:
            continue
    return found


def test_both_orders_from_one_round_zero(tmp_path, labelstudio):
    out = tmp_path / "al.json"
    args = _args(tmp_path, labelstudio, "--rounds", "1", "--random-rounds", "2", "--out", str(out))
    r = subprocess.run(args, cwd=REPO, env=_env(tmp_path, labelstudio), capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(out.read_text())
    curves = doc["curves"]["5"]
    assert [p["labels"] for p in curves["uncertainty"]] == [12, 24]
    assert [p["labels"] for p in curves["random"]] == [12, 24, 36]
    assert curves["uncertainty"][0] == {
        **curves["random"][0],
        "round_seconds": curves["uncertainty"][0]["round_seconds"],
    }
    for curve in curves.values():
        for p in curve:  # every labelled image was a training image and taught the hidden groups something
            assert p["labels_hidden_train"] == p["labels"] and 0.0 <= p["hidden_macro_f1"] <= 1.0
            assert set(p["hidden_macro_f1_by_group"]) == set(doc["config"]["hidden"])
    s = doc["summary"]
    assert s["uncertainty_labels"] == 24 and s["after_rounds"] == 1
    assert s["random_labels_to_reach"] is None or 12 <= s["random_labels_to_reach"] <= 36
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert not _servers_of(tmp_path / "cache" / "active_learning" / "smoke" / "labelstudio")

    # the CNN as the per-round tagger (model: cnn, one epoch): the same loop, other numbers
    cnn = tmp_path / "cnn.yaml"
    cnn.write_text(
        "hidden: [glasses]\nmodel: cnn\nper_round: 12\nrounds: 1\nrandom_rounds: 1\nerror_rate: 0\nseeds: [5]\n"
        "tagger: {epochs: 1}\n"
    )
    out_cnn = tmp_path / "cnn.json"
    r = subprocess.run(
        _args(tmp_path, labelstudio, "--random-rounds", "1", "--config", str(cnn), "--out", str(out_cnn)),
        cwd=REPO,
        env=_env(tmp_path, labelstudio),
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    cnn_curves = json.loads(out_cnn.read_text())["curves"]["5"]
    assert [p["labels"] for p in cnn_curves["random"]] == [12, 24]
    assert set(cnn_curves["uncertainty"][1]["hidden_macro_f1_by_group"]) == {"glasses"}

    # a bad setting is a clear exit 2 before any work
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "hidden: [hats]\nmodel: baseline\nper_round: 5\nrounds: 1\nrandom_rounds: 1\nerror_rate: 0\nseeds: [1]\n"
    )
    r = subprocess.run(
        [*args, "--config", str(bad)], cwd=REPO, env=_env(tmp_path, labelstudio), capture_output=True, text=True
    )
    assert r.returncode == 2 and "hats" in r.stderr


def test_sigterm_stops_its_label_studio(tmp_path, labelstudio):
    args = _args(tmp_path, labelstudio, "--rounds", "3", "--random-rounds", "3", "--out", str(tmp_path / "x.json"))
    proc = subprocess.Popen(
        args, cwd=REPO, env=_env(tmp_path, labelstudio), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    data_dir = tmp_path / "cache" / "active_learning" / "smoke" / "labelstudio"
    try:
        for line in proc.stdout:  # the server is up once the first round is reported
            if "round 0" in line:
                break
        assert _servers_of(data_dir), "no Label Studio server of the bench's own"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while _servers_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _servers_of(data_dir)
    assert not (tmp_path / "x.json").exists()
