"""Reject codes: one list, documented, checked where a reject is made, and the report's layout."""

from __future__ import annotations

import csv
import pickle
import re

import pytest

from dataset.imageio import RejectedImage
from dataset.rejects import CODES, Reject, count_by_code, describe, write_report
from tests.conftest import REPO


def test_every_code_is_in_the_docs():
    page = REPO.joinpath("docs", "data.md").read_text(encoding="utf-8")
    section = page[page.index("## Hostile and broken input") : page.index("## Speed and scale")]
    listed = set(re.findall(r"`([a-z_]+)`", section))
    assert sorted(set(CODES) - listed) == []


def test_unknown_code_refused():
    with pytest.raises(ValueError, match="not one of dataset.rejects.CODES"):
        Reject("a.png", "broken", "broken")


def test_rejected_image_keeps_its_code_across_processes():
    err = pickle.loads(pickle.dumps(RejectedImage("corrupt_image", "corrupt image: truncated")))
    assert err.code == "corrupt_image" and str(err) == "corrupt image: truncated"


def test_report_counts_and_description(tmp_path):
    rejects = [
        Reject("b.png", "empty_file", "empty file"),
        Reject("a,b.png", "corrupt_image", "corrupt image: broken"),
        Reject("c.png", "empty_file", "empty file"),
        Reject("a.png", "near_duplicate", "near duplicate of dir:x:a.png (1 bits)", "dir:y"),
    ]
    write_report(tmp_path / "rejects.csv", rejects)
    with open(tmp_path / "rejects.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["source", "path", "code", "reason"],
        ["", "a,b.png", "corrupt_image", "corrupt image: broken"],
        ["", "b.png", "empty_file", "empty file"],
        ["", "c.png", "empty_file", "empty file"],
        ["dir:y", "a.png", "near_duplicate", "near duplicate of dir:x:a.png (1 bits)"],
    ]
    assert count_by_code(rejects) == {"corrupt_image": 1, "empty_file": 2, "near_duplicate": 1}
    assert describe(rejects) == (
        "corrupt_image 1, empty_file 2, near_duplicate 1 (e.g. b.png: empty file; a,b.png: corrupt image: broken; "
        "a.png: near duplicate of dir:x:a.png (1 bits))"
    )
