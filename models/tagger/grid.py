"""The regularisation strength of the linear baselines, chosen on validation until the choice is interior.

A baseline whose chosen C sits at the end of its grid may be under-tuned: the best value could lie beyond it. So the
grid of `params.yaml` is where the search starts, not where it must end: while the best validation score is at an
end of the grid, the grid grows by one decade on that side and the new value is fitted and scored, up to `widen`
decades a side. The result says which values were tried and whether the choice ended inside the grid (`interior`),
so that a figure from an edge choice is never mistaken for a tuned one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Choice:
    C: float  # the chosen value
    model: Any  # what `fit(C)` returned for it
    scores: dict[float, float]  # every value tried and its validation score
    interior: bool  # the chosen value has a tried neighbour on each side


def choose_C(fit: Callable[[float], tuple[float, Any]], grid: list[float], widen: int = 3) -> Choice:
    """`fit(C)` -> (validation score, model) for each C of `grid` (ascending after sorting), widened by a decade on
    the side where the best score lies at the end, at most `widen` times a side. Ties go to the smaller C (the
    stronger regularisation)."""
    if not grid or any(c <= 0 for c in grid):
        raise ValueError(f"C grid {grid}: positive values expected")
    tried: dict[float, tuple[float, Any]] = {}

    def run(c: float) -> None:
        c = float(f"{c:.6g}")  # a decade away from 0.001 is 0.0001, not 0.00010000000000000002
        if c not in tried:
            tried[c] = fit(c)

    for c in sorted(set(grid)):
        run(c)
    added = {"low": 0, "high": 0}
    while True:
        values = sorted(tried)
        best = max(values, key=lambda c: (tried[c][0], -c))
        if best == values[-1] and added["high"] < widen:  # (a grid of one value grows upwards first)
            added["high"] += 1
            run(values[-1] * 10)
        elif best == values[0] and added["low"] < widen:
            added["low"] += 1
            run(values[0] / 10)
        else:
            break
    values = sorted(tried)
    interior = values[0] < best < values[-1]
    return Choice(best, tried[best][1], {c: tried[c][0] for c in values}, interior)
