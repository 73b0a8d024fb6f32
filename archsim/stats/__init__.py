"""Statistics stage: statistics declared with units, kept per phase and unit group.

* :class:`Counter` — a count or sum of something (with a unit), per ``(phase, group)``;
* :class:`Tally` — observations (count, mean, min, max, standard deviation, and with
  ``exact=True`` percentiles), overall and per phase, frozen into a :class:`TallySummary`;
* :class:`TimeWeighted` — a level over time (its time-weighted mean and maximum);
* :class:`ComponentResult` — a component bank's declared actions, their energies and counts;
* :func:`percentile` — the one quantile every latency figure uses;
* :mod:`~archsim.stats.timeline` — the timeline recorder (what each component did, when);
* :mod:`~archsim.stats.pareto` — Pareto dominance among rows of numbers.

All of them keep O(1) state per scope so that statistics stay flat in memory on arbitrarily
long runs.
"""

from archsim.stats.records import (
    CHIP,
    FORWARD,
    ComponentResult,
    Counter,
    CounterSummary,
    LevelSummary,
    Tally,
    TallySummary,
    TimeWeighted,
    percentile,
)

__all__ = [
    "CHIP",
    "FORWARD",
    "ComponentResult",
    "Counter",
    "CounterSummary",
    "LevelSummary",
    "Tally",
    "TallySummary",
    "TimeWeighted",
    "percentile",
]
