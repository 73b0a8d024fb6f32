"""Statistic records with units and descriptions (stage: stats)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Counter:
    """A running count or sum in ``unit``."""

    name: str
    unit: str
    description: str
    value: float = 0

    def add(self, amount: float = 1) -> None:
        """Add ``amount``."""
        self.value += amount


@dataclass
class Tally:
    """Observations of one quantity in ``unit``: count, mean, min, max, std (Welford, O(1))."""

    name: str
    unit: str
    description: str
    count: int = 0
    mean: float = 0.0
    _m2: float = field(default=0.0, repr=False)
    min: float = math.inf
    max: float = -math.inf

    def observe(self, value: float) -> None:
        """Add one observation."""
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    @property
    def std(self) -> float:
        """Population standard deviation (0 for fewer than two observations)."""
        return math.sqrt(self._m2 / self.count) if self.count > 1 else 0.0

    def summary(self) -> TallySummary:
        """An immutable snapshot of the tally."""
        empty = self.count == 0
        return TallySummary(
            self.name,
            self.unit,
            self.description,
            self.count,
            self.mean,
            None if empty else self.min,
            None if empty else self.max,
            self.std,
        )


@dataclass(frozen=True)
class TallySummary:
    """A frozen snapshot of a :class:`Tally` (``min``/``max`` are ``None`` when empty)."""

    name: str
    unit: str
    description: str
    count: int
    mean: float
    min: float | None
    max: float | None
    std: float
