"""Pareto fronts of design points (stage: dse).

A point *dominates* another when it is no worse in every objective and strictly better in at
least one (all objectives minimised). The front is the set of points no other point dominates.
Ties: two points with equal values in every objective do not dominate each other, so both are on
the front when nothing else dominates them; a point equal to another in some objectives and worse
in the rest is dominated.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from archsim.stats.pareto import nondominated

__all__ = ["nondominated", "pareto_front"]


def _number(point: Any, objective: Hashable) -> float:
    """``point[objective]`` as a float; NaN when missing or not a number (a failed point)."""
    try:
        value = point[objective]
    except (KeyError, IndexError, TypeError):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return math.nan
    return float(value)


def pareto_front(
    points: Sequence[Mapping[str, Any]] | Sequence[Sequence[float]] | np.ndarray,
    objectives: Sequence[Hashable],
    *,
    maximize: Collection[Hashable] = (),
) -> np.ndarray:
    """Which ``points`` are on the Pareto front of ``objectives`` (minimised).

    Args:
        points: result rows (mappings, e.g. a sweep's rows: objectives are column names) or
            sequences / a 2-D array (objectives are column indices).
        objectives: the columns to minimise, at least one.
        maximize: those of ``objectives`` to maximise instead (e.g. a throughput).

    Returns:
        A boolean array, one entry per point: True for the points no other point dominates.
        A point lacking an objective, or holding a non-number there (None, a string: a failed
        design point), is never on the front and dominates nothing.

    Raises:
        ValueError: no objectives, a repeated objective, or a ``maximize`` entry that is not an
            objective.
    """
    objectives = list(objectives)
    if not objectives:
        raise ValueError("pareto_front needs at least one objective")
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"repeated objective in {objectives!r}")
    unknown = [o for o in maximize if o not in objectives]
    if unknown:
        raise ValueError(f"maximize names {unknown!r}, which are not objectives")
    sign = np.array([-1.0 if o in maximize else 1.0 for o in objectives])
    values = np.array(
        [[_number(point, o) for o in objectives] for point in points], dtype=float
    ).reshape(len(points), len(objectives))
    return nondominated(values * sign)
