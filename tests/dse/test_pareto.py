"""Pareto fronts against brute force: nothing dominated on the front, nothing non-dominated off."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.dse.pareto import nondominated, pareto_front


def dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def brute_force(points) -> list[bool]:
    valid = [not any(math.isnan(v) for v in p) for p in points]
    return [
        ok and not any(valid[j] and dominates(points[j], p) for j in range(len(points)) if j != i)
        for i, (p, ok) in enumerate(zip(points, valid))
    ]


# Small integer coordinates make ties and duplicates common; NaN stands for a failed point.
coordinate = st.integers(0, 4).map(float) | st.just(math.nan)


@st.composite
def point_sets(draw):
    k = draw(st.integers(1, 4))
    return draw(st.lists(st.lists(coordinate, min_size=k, max_size=k), max_size=40))


@settings(max_examples=400, deadline=None)
@given(point_sets())
def test_the_front_is_exactly_the_non_dominated_points(points):
    k = len(points[0]) if points else 2
    mask = nondominated(np.array(points, dtype=float).reshape(len(points), k))
    assert mask.tolist() == brute_force(points)


@settings(max_examples=100, deadline=None)
@given(point_sets())
def test_rows_with_names_and_maximised_objectives(points):
    k = len(points[0]) if points else 1
    names = [f"m{i}" for i in range(k)]
    rows = [dict(zip(names, p)) for p in points]
    negated = [[-v if i == 0 else v for i, v in enumerate(p)] for p in points]
    assert pareto_front(rows, names, maximize=[names[0]]).tolist() == brute_force(negated)


def test_ties_duplicates_and_failed_points():
    rows = [
        {"latency": 1.0, "energy": 2.0},
        {"latency": 1.0, "energy": 2.0},  # a duplicate: both on the front
        {"latency": 1.0, "energy": 3.0},  # equal latency, worse energy: dominated
        {"latency": 2.0, "energy": 1.0},
        {"latency": None, "energy": 0.0},  # a failed point: off the front, dominates nothing
        {"energy": 0.5},  # missing objective
        {"latency": "fast", "energy": 0.1},
    ]
    assert pareto_front(rows, ["latency", "energy"]).tolist() == [
        True,
        True,
        False,
        True,
        False,
        False,
        False,
    ]


def test_bad_objectives_are_refused():
    with pytest.raises(ValueError, match="at least one objective"):
        pareto_front([{"a": 1}], [])
    with pytest.raises(ValueError, match="repeated"):
        pareto_front([{"a": 1}], ["a", "a"])
    with pytest.raises(ValueError, match="not objectives"):
        pareto_front([{"a": 1}], ["a"], maximize=["b"])
