"""The linear baselines' C, chosen on validation until the choice is interior (models/tagger/grid.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.tagger.grid import choose_C


def peaked(at: float):
    """A validation score that peaks at C = `at` (a decade away costs 0.1 per decade), and the calls made."""
    calls: list[float] = []

    def fit(C: float):
        calls.append(C)
        return 1.0 - 0.1 * abs(math.log10(C / at)), f"model@{C:g}"

    return fit, calls


def test_a_best_value_beyond_the_low_end_is_found_by_widening_the_grid():
    fit, calls = peaked(1e-5)
    choice = choose_C(fit, [0.001, 0.01, 0.1])
    assert choice.C == pytest.approx(1e-5) and choice.model == "model@1e-05" and choice.interior
    assert sorted(choice.scores) == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert len(calls) == len(set(calls)) == 6  # every value fitted once


def test_an_interior_choice_fits_the_grid_alone():
    fit, calls = peaked(0.01)
    choice = choose_C(fit, [0.1, 0.001, 0.01])
    assert choice.C == 0.01 and choice.interior and sorted(calls) == [0.001, 0.01, 0.1]


def test_the_widening_stops_after_its_decades_and_says_the_choice_is_at_an_edge():
    calls: list[float] = []

    def always_better_higher(C: float):
        calls.append(C)
        return C, None

    choice = choose_C(always_better_higher, [0.01, 0.1], widen=2)
    assert choice.C == 10.0 and not choice.interior and sorted(choice.scores) == [0.01, 0.1, 1.0, 10.0]


def test_a_tie_goes_to_the_stronger_regularisation_and_a_one_value_grid_grows_both_ways():
    choice = choose_C(lambda C: (0.5, C), [0.1, 1.0, 10.0])
    # flat: each tie goes to the smallest value, so the grid grows downwards its 3 decades and ends at its edge
    assert choice.C == pytest.approx(1e-4) == min(choice.scores) and not choice.interior
    assert max(choice.scores) == 10.0
    fit, _ = peaked(1.0)
    one = choose_C(fit, [1.0])
    assert one.C == 1.0 and one.interior and sorted(one.scores) == [0.1, 1.0, 10.0]


def test_a_grid_without_a_positive_value_is_refused():
    with pytest.raises(ValueError, match="positive"):
        choose_C(lambda C: (0.0, None), [0.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        choose_C(lambda C: (0.0, None), [])


def test_the_pixel_baseline_reports_the_values_tried_and_an_interior_choice():
    from models.tagger.pixel_baseline import fit_predict

    rng = np.random.default_rng(0)
    n = 90
    y = np.zeros((n, 6), np.int64) - 1
    y[:, 3] = rng.integers(0, 2, n)  # glasses: a cue in one pixel, plus noise
    x = rng.integers(0, 255, (n, 4, 4, 3)).astype(np.uint8)
    x[:, 0, 0, 0] = np.where(y[:, 3] == 1, 200, 40) + rng.integers(-30, 30, n)
    _, _, chosen, grid = fit_predict(x[:50], y[:50], x[50:70], y[50:70], x[70:], [0.01], 100, 0)
    assert set(chosen) == {"glasses"} and set(grid) == {"glasses"}
    tried = [float(c) for c in grid["glasses"]["tried"].split(", ")]
    assert chosen["glasses"] in tried and len(tried) >= 2
    assert grid["glasses"]["interior"] == (min(tried) < chosen["glasses"] < max(tried))


def test_widen_zero_keeps_the_grid_as_given():
    """The smoke profile's setting: the params grid alone, the edge choice said as such."""
    fit, calls = peaked(1e-5)
    choice = choose_C(fit, [0.001, 0.01, 0.1], widen=0)
    assert choice.C == 0.001 and not choice.interior and sorted(calls) == [0.001, 0.01, 0.1]
