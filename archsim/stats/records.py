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

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"value": self.value, "unit": self.unit, "description": self.description}


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

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``None`` for min/max of an empty tally)."""
        empty = self.count == 0
        return {
            "count": self.count,
            "mean": self.mean,
            "min": None if empty else self.min,
            "max": None if empty else self.max,
            "std": self.std,
            "unit": self.unit,
            "description": self.description,
        }


@dataclass
class TimeWeighted:
    """A level (e.g. busy units) integrated over time; ``mean(now)`` is its time average."""

    name: str
    unit: str
    description: str
    level: float = 0.0
    _area: float = field(default=0.0, repr=False)
    _since: float = field(default=0.0, repr=False)

    def set(self, level: float, now: float) -> None:
        """Change the level to ``level`` at time ``now``."""
        self._area += self.level * (now - self._since)
        self.level = level
        self._since = now

    def mean(self, now: float) -> float:
        """Time-averaged level over ``[0, now]``."""
        if now <= 0:
            return 0.0
        return (self._area + self.level * (now - self._since)) / now
