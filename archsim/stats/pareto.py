"""Pareto dominance among rows of numbers (stage: stats).

A row *dominates* another when it is no worse in every column and strictly better in at least
one (all minimised); rows equal in every column do not dominate each other. The design-space
stage builds its fronts on :func:`nondominated` (:mod:`archsim.dse.pareto`), and the plots mark
them with it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nondominated"]


def nondominated(values: np.ndarray) -> np.ndarray:
    """The boolean mask of the rows of ``values`` (n points x k objectives, minimised) that no
    other row dominates. Rows holding NaN are never on the front and dominate nothing.

    Runs in O(n log n + n f k) for a front of f points: the rows are visited in lexicographic
    order, in which a dominating row always comes before the rows it dominates, and each is
    compared with the front found so far only (a row dominated by a dominated row is dominated
    by a front row too).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"expected an (n points x k objectives) array, got shape {values.shape}")
    count = values.shape[0]
    mask = np.zeros(count, dtype=bool)
    if values.shape[1] == 0:  # no objective: nothing dominates anything
        return np.ones(count, dtype=bool)
    valid = ~np.isnan(values).any(axis=1)
    rows = np.flatnonzero(valid)
    # np.lexsort sorts by its last key first: pass the objectives in reverse.
    order = rows[np.lexsort(values[rows].T[::-1])]
    front = np.empty((len(order), values.shape[1]))
    size = 0
    for index in order:
        point = values[index]
        known = front[:size]
        dominated = np.any(np.all(known <= point, axis=1) & np.any(known < point, axis=1))
        if not dominated:
            front[size] = point
            size += 1
            mask[index] = True
    return mask
