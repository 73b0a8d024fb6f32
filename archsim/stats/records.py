"""Statistics declared with a unit and a description, kept per phase and unit group (stage: stats).

Three kinds, each O(1) memory per scope (a histogram grows with the number of *distinct* values
only, which for cycle counts stays small):

* :class:`Counter`: a count or sum (``tile_ops`` in operations, ``header_bits`` in bits), kept
  per ``(phase, group)``: the phase of the trace records that did the work (``forward``, and
  later ``backward`` and ``update``) and the unit group it ran on (a tile group's name, or
  ``""`` for chip-level units such as the NoC);
* :class:`Tally`: observations of one quantity (a sample's latency, a packet's latency) with
  count, mean, min, max and standard deviation (Welford), kept per phase; with ``exact=True``
  also an exact histogram, from which :func:`percentile` computes any quantile and the mean
  and standard deviation are computed exactly (rounded once) rather than running;
* :class:`TimeWeighted`: a level that changes over time (samples in flight), with its
  time-weighted mean and its maximum.

:meth:`Counter.summary`, :meth:`Tally.summary` and :meth:`TimeWeighted.summary` freeze them into
immutable summaries that keep the name, unit and description into the report.

:func:`percentile` is the one quantile used for every latency figure: linear interpolation
between order statistics (Hyndman and Fan's definition 7, NumPy's default), computed from a
histogram so that memory does not grow with the run, and equal, bit for bit, to
``numpy.percentile`` of the expanded data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from archsim.workload.trace import FORWARD

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

#: The group name of chip-level units (controller, vector units, NoC) that belong to no tile group.
CHIP: Final = ""


def percentile(histogram: Mapping[float, int], q: float) -> float:
    """The ``q`` quantile (0 <= q <= 1) of the values counted in ``histogram`` (value -> count).

    Linear interpolation between the order statistics around position ``(n - 1) q`` of the
    ``n`` sorted observations; the arithmetic is NumPy's, so the result equals
    ``numpy.percentile(values, 100 q)`` exactly. 0.0 for an empty histogram.
    """
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    position = (total - 1) * q
    if position >= total - 1:
        return float(max(histogram))
    lower_rank = math.floor(position)
    gamma = position - lower_rank
    lower = upper = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lower is None and seen > lower_rank:
            lower = value
        if seen > lower_rank + 1:
            upper = value
            break
    assert lower is not None and upper is not None  # position < total - 1
    difference = upper - lower
    if gamma >= 0.5:
        return float(upper - difference * (1 - gamma))
    return float(lower + difference * gamma)


# --------------------------------------------------------------------------------------------
# Component banks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentResult:
    """Per component bank: instances, busy instance-cycles and action counts.

    ``actions`` are whole-run counts keyed ``"<kind>.<action>"``; ``energy_per_action_j`` the
    energy of one performance of each, as the component declared it; ``actions_by_phase`` and
    ``busy_by_phase`` split counts and busy cycles by the phase of the work. ``group`` is the
    tile group the bank belongs to (``""`` for chip-level units), ``part`` the part of it
    (``""`` for none: a hybrid group's ``slc`` and ``mlc`` arrays).
    """

    kind: str
    instances: int
    instances_used: int
    timed: bool
    busy_cycles: int
    actions: Mapping[str, float]
    group: str = ""
    energy_per_action_j: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    actions_by_phase: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    busy_by_phase: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    descriptions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    part: str = ""


# --------------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterSummary:
    """A frozen :class:`Counter`: its total and its values by phase and by group."""

    name: str
    unit: str
    description: str
    total: float
    by_phase: Mapping[str, float]
    by_group: Mapping[str, float]


class Counter:
    """A running count or sum in ``unit``, kept per ``(phase, group)``."""

    __slots__ = ("name", "unit", "description", "_values")

    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self._values: dict[tuple[str, str], float] = {}

    def add(self, amount: float = 1, phase: str = FORWARD, group: str = CHIP) -> None:
        """Add ``amount`` to the scope ``(phase, group)``."""
        key = (phase, group)
        self._values[key] = self._values.get(key, 0) + amount

    @property
    def value(self) -> float:
        """The total over every scope."""
        return sum(self._values.values())

    def by_phase(self) -> dict[str, float]:
        """Totals per phase, in the order the phases first counted."""
        out: dict[str, float] = {}
        for (phase, _), amount in self._values.items():
            out[phase] = out.get(phase, 0) + amount
        return out

    def by_group(self) -> dict[str, float]:
        """Totals per group, in the order the groups first counted."""
        out: dict[str, float] = {}
        for (_, group), amount in self._values.items():
            out[group] = out.get(group, 0) + amount
        return out

    def summary(self) -> CounterSummary:
        """An immutable snapshot."""
        return CounterSummary(
            self.name, self.unit, self.description, self.value,
            MappingProxyType(self.by_phase()), MappingProxyType(self.by_group()),
        )


# --------------------------------------------------------------------------------------------
# Tallies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TallySummary:
    """A frozen snapshot of a :class:`Tally` (``min``/``max`` are ``None`` when empty).

    ``p50`` and ``p99`` are the median and 99th percentile (:func:`percentile`) when the tally
    was exact, else None; ``by_phase`` holds the same figures per phase (empty for an unscoped
    tally).
    """

    name: str
    unit: str
    description: str
    count: int
    mean: float
    min: float | None
    max: float | None
    std: float
    p50: float | None = None
    p99: float | None = None
    by_phase: Mapping[str, TallySummary] = field(default_factory=lambda: MappingProxyType({}))


class _Moments:
    """Count, mean, variance accumulator (Welford), min and max of inexact observations."""

    __slots__ = ("count", "mean", "m2", "min", "max")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def observe(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def summary(self, name: str, unit: str, description: str) -> TallySummary:
        empty = self.count == 0
        return TallySummary(
            name, unit, description, self.count, self.mean,
            None if empty else self.min, None if empty else self.max,
            math.sqrt(self.m2 / self.count) if self.count > 1 else 0.0,
        )


def _histogram_summary(
    histogram: Mapping[float, int], name: str, unit: str, description: str
) -> TallySummary:
    """The summary of the observations counted in ``histogram``, each figure rounded once."""
    count = sum(histogram.values())
    if not count:
        return TallySummary(name, unit, description, 0, 0.0, None, None, 0.0, None, None)
    mean, std = _exact_moments(histogram, count)
    return TallySummary(
        name, unit, description, count, mean, min(histogram), max(histogram), std,
        percentile(histogram, 0.50), percentile(histogram, 0.99),
    )


def _exact_moments(histogram: Mapping[float, int], count: int) -> tuple[float, float]:
    """Mean and population standard deviation of a histogram, rounded once: exact integer
    sums when every value is an integer (cycle counts), else compensated sums."""
    if all(isinstance(value, int) for value in histogram):
        total = sum(value * n for value, n in histogram.items())
        squares = sum(value * value * n for value, n in histogram.items())
        return total / count, math.sqrt((count * squares - total * total) / (count * count))
    total_f = math.fsum(value * n for value, n in histogram.items())
    mean = total_f / count
    spread = math.fsum((value - mean) ** 2 * n for value, n in histogram.items())
    return mean, math.sqrt(spread / count)


def _merged(histograms: Iterable[Mapping[float, int]]) -> dict[float, int]:
    merged: dict[float, int] = {}
    for histogram in histograms:
        for value, n in histogram.items():
            merged[value] = merged.get(value, 0) + n
    return merged


class Tally:
    """Observations of one quantity in ``unit``: count, mean, min, max, std, overall and per
    phase.

    An inexact tally keeps running moments (Welford, O(1)). An ``exact`` one keeps a histogram
    per phase instead (O(distinct values): cycle counts), from which every figure is computed
    exactly when asked, percentiles included, and an observation costs one dictionary update.
    """

    __slots__ = ("name", "unit", "description", "exact", "count", "_all", "_phases", "_hist")

    def __init__(self, name: str, unit: str, description: str, *, exact: bool = False) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.exact = exact
        #: observations so far
        self.count = 0
        self._all = _Moments()
        self._phases: dict[str, _Moments] = {}
        #: exact: observations by value, per phase ("" for observations of no phase)
        self._hist: dict[str, dict[float, int]] = {}

    def observe(self, value: float, phase: str | None = None) -> None:
        """Add one observation (to ``phase`` as well, when given)."""
        self.count += 1
        if self.exact:
            key = phase or ""
            histogram = self._hist.get(key)
            if histogram is None:
                histogram = self._hist[key] = {}
            histogram[value] = histogram.get(value, 0) + 1
            return
        self._all.observe(value)
        if phase is not None:
            moments = self._phases.get(phase)
            if moments is None:
                moments = self._phases[phase] = _Moments()
            moments.observe(value)

    def observe_each(self, values: Iterable[float], phase: str | None = None) -> None:
        """:meth:`observe` every value of ``values``, in order."""
        if not self.exact:
            for value in values:
                self.observe(value, phase)
            return
        key = phase or ""
        histogram = self._hist.get(key)
        if histogram is None:
            histogram = self._hist[key] = {}
        count = 0
        for value in values:
            histogram[value] = histogram.get(value, 0) + 1
            count += 1
        self.count += count

    @property
    def histogram(self) -> Mapping[float, int]:
        """Observations by value over every phase (read-only; empty unless ``exact``)."""
        return MappingProxyType(_merged(self._hist.values()))

    @property
    def mean(self) -> float:
        """Mean of the observations (0 when empty)."""
        return self.summary().mean

    @property
    def min(self) -> float:
        """Smallest observation (inf when empty)."""
        low = self.summary().min
        return math.inf if low is None else low

    @property
    def max(self) -> float:
        """Largest observation (-inf when empty)."""
        high = self.summary().max
        return -math.inf if high is None else high

    @property
    def std(self) -> float:
        """Population standard deviation (0 for fewer than two observations)."""
        return self.summary().std

    def summary(self) -> TallySummary:
        """An immutable snapshot, with the per-phase figures."""
        name, unit, description = self.name, self.unit, self.description
        if self.exact:
            overall = _histogram_summary(_merged(self._hist.values()), name, unit, description)
            phases = {
                phase: _histogram_summary(histogram, name, unit, description)
                for phase, histogram in self._hist.items() if phase
            }
        else:
            overall = self._all.summary(name, unit, description)
            phases = {
                phase: moments.summary(name, unit, description)
                for phase, moments in self._phases.items()
            }
        return TallySummary(
            overall.name, overall.unit, overall.description, overall.count, overall.mean,
            overall.min, overall.max, overall.std, overall.p50, overall.p99,
            MappingProxyType(phases),
        )


# --------------------------------------------------------------------------------------------
# Time-weighted levels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSummary:
    """A frozen :class:`TimeWeighted`: its time-weighted mean and maximum over ``[0, until)``."""

    name: str
    unit: str
    description: str
    mean: float
    max: float
    until: int


class TimeWeighted:
    """A level in ``unit`` that changes at integer cycles: its integral over time and its
    maximum (a queue's occupancy, samples in flight). Each change costs O(1)."""

    __slots__ = ("name", "unit", "description", "level", "_since", "_area", "_max")

    def __init__(self, name: str, unit: str, description: str) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.level = 0.0
        self._since = 0
        self._area = 0.0
        self._max = 0.0

    def change(self, now: int, delta: float) -> None:
        """Move the level by ``delta`` at cycle ``now`` (not before the last change)."""
        self._area += self.level * (now - self._since)
        self._since = now
        self.level += delta
        if self.level > self._max:
            self._max = self.level

    def summary(self, until: int) -> LevelSummary:
        """Time-weighted mean over ``[0, until)`` (0 for an empty interval) and the maximum."""
        area = self._area + self.level * (until - self._since)
        mean = area / until if until > 0 else 0.0
        return LevelSummary(self.name, self.unit, self.description, mean, self._max, until)
