"""Stage `summary` (stages/summary.py, core/headline.py): the headline figures in one small metrics file, the same
definitions as the README's results table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from core.headline import MAX_FIGURES, TARGETS, Metrics, summary
from stages.summary import INPUTS, OUT
from tests.conftest import REPO


def test_the_committed_summary_is_what_the_committed_metrics_give():
    committed = json.loads((REPO / OUT).read_text())["summary"]
    assert committed == json.loads(json.dumps(summary(Metrics(REPO / "metrics"))))
    assert len(committed) <= MAX_FIGURES
    assert committed["targets"] == len([k for k in committed if k in {t.key for t in TARGETS}])


def test_the_stage_counts_a_missed_bar_and_names_it(tmp_path):
    for path in INPUTS:
        shutil.copy(REPO / path, tmp_path / path.name)
    dcgan = json.loads((tmp_path / "dcgan.json").read_text())
    base = dcgan["dcgan"]["pca_gaussian"]["fd_tagger"]
    before = summary(Metrics(files=[tmp_path / p.name for p in INPUTS]))
    dcgan["dcgan"]["dcgan"]["fd_tagger"] = base  # the bar is half the baseline's
    (tmp_path / "dcgan.json").write_text(json.dumps(dcgan))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.summary", "--metrics", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    after = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert after["dcgan_fd_tagger"] == base and "dcgan_fd_tagger" in after["targets_missed"].split(", ")
    assert after["targets_met"] == before["targets_met"] - (0 if "dcgan_fd_tagger" in before["targets_missed"] else 1)
    assert f"{after['targets_met']} of {after['targets']} targets met" in proc.stdout

    (tmp_path / "pose.json").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "stages.summary", "--metrics", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "pose.json" in proc.stderr and "Traceback" not in proc.stderr
