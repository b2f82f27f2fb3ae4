"""Disputed tasks: a tie in a tag group or a joint without a majority near the median; a third annotation resolves."""

from __future__ import annotations

import numpy as np

from labeling.disputes import joints_disputed, tags_disputed


def test_tag_disputes_need_a_strict_majority():
    one = [(1, {"smile": "yes", "blush": "no"})]
    assert tags_disputed(one) == []
    two = [*one, (2, {"smile": "no", "blush": "no"})]
    assert tags_disputed(two) == ["smile"]
    three = [*two, (3, {"smile": "yes"})]
    assert tags_disputed(three) == []  # 2 of 3 say yes
    assert tags_disputed([(1, {"smile": "yes"}), (2, {"blush": "no"})]) == []  # no group answered twice


def test_joint_disputes_follow_the_pck_rule():
    rng = np.random.default_rng(0)
    base = rng.uniform(10, 50, (11, 2))
    size = (64, 64)  # tolerance 0.05 -> 3.2 px
    close = [(1, base, size), (2, base + 1.0, size)]
    assert joints_disputed(close, 0.05) == []
    far = base.copy()
    far[5] += 12.0  # right hand 12 px away
    two = [(1, base, size), (2, far, size)]
    assert joints_disputed(two, 0.05) == [5]
    three = [*two, (3, base + 0.5, size)]
    assert joints_disputed(three, 0.05) == []  # the third sides with the first: the median has a majority
    assert joints_disputed([(1, base, size)], 0.05) == []
