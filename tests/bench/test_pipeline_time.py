"""bench/pipeline_time.py's reading of a stamped `make pipeline` log: each stage from its `Running stage` line to the
next, `source` before DVC's first, skipped stages listed, a run across midnight, and logs it must refuse; and its
stamping of a command's output."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("bench_pipeline_time", REPO / "bench" / "pipeline_time.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

LOG = """\
23:58:00 .venv/bin/python -m stages.source
23:58:30 source: 8000 generated faces
23:58:40 Running stage 'params':
23:58:41 > python -m stages.params
23:58:50 Stage 'pixel_baseline' didn't change, skipping
23:58:50 Running stage 'tagger':
00:08:50 Running stage 'train@dcgan':
00:24:00 Updating lock file 'dvc.lock'
00:24:05 Use `dvc push` to send your updates to remote storage.
"""


def test_stages_run_from_their_line_to_the_next_across_midnight():
    got = bench.parse(LOG.splitlines())
    assert got["stages"] == [
        {"stage": "source", "seconds": 40},
        {"stage": "params", "seconds": 10},
        {"stage": "tagger", "seconds": 600},
        {"stage": "train@dcgan", "seconds": 915},
    ]
    assert got["skipped"] == ["pixel_baseline"]
    assert got["total_seconds"] == 26 * 60 + 5 == sum(s["seconds"] for s in got["stages"])


@pytest.mark.parametrize(
    "log, why",
    [("no stamps here\n", "no stamped lines"), ("10:00:00 make: nothing to do\n10:00:01 done\n", "DVC ran nothing")],
)
def test_a_log_that_is_not_a_pipeline_run_is_refused(log, why):
    with pytest.raises(ValueError, match=why):
        bench.parse(log.splitlines())


def test_each_output_line_is_stamped_as_it_arrives(tmp_path):
    log = tmp_path / "run.log"
    code = "import time; print('one', flush=True); time.sleep(1.2); print('two', flush=True); raise SystemExit(3)"
    assert bench.run_stamped([sys.executable, "-c", code], tmp_path, log) == 3
    lines = log.read_text().splitlines()
    assert [line[9:] for line in lines] == ["one", "two"]
    stamps = [bench.STAMP.match(line) for line in lines]
    seconds = [int(m["h"]) * 3600 + int(m["m"]) * 60 + int(m["s"]) for m in stamps]
    assert (seconds[1] - seconds[0]) % 86400 >= 1


def test_the_trainings_seconds_come_from_the_runs_metrics(tmp_path):
    import json

    (tmp_path / "dcgan.json").write_text(json.dumps({"dcgan": {"dcgan": {"train_seconds": 700.5, "sliders_seconds": 30,
                                                                       "fd_tagger": 2.0, "watchdog": None}}}))  # fmt: skip
    (tmp_path / "tagger.json").write_text(json.dumps({"tagger": {"cnn": {"train_seconds": 240}}}))
    assert bench.trainings(tmp_path) == {"dcgan.dcgan.train_seconds": 700.5, "dcgan.dcgan.sliders_seconds": 30,
                                         "tagger.cnn.train_seconds": 240}  # fmt: skip
