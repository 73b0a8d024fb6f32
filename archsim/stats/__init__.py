"""Statistics stage: declared statistics with units.

* :class:`Counter` — a count or sum of something (with a unit);
* :class:`Tally` — per-sample observations (count, mean, min, max, standard deviation),
  frozen into a :class:`TallySummary` for results.

All of them keep O(1) state so that statistics stay flat in memory on arbitrarily long runs.
"""

from archsim.stats.records import Counter, Tally, TallySummary

__all__ = ["Counter", "Tally", "TallySummary"]
