"""The chip's digital vector unit: activation, pooling, residual additions (stage: hw).

One unit of ``lanes`` lanes per controller core (one per chip, or one per tile); an operation on
``elements`` elements takes ``ceil(elements x cycles_per_element / lanes)`` cycles and holds its
unit for that long, so pipeline stages on one core contend for it. With ``enabled: false`` its work is counted (``elements``) but
takes no time and charges nothing (tile-only accounting). Actions: ``relu``, ``maxpool``,
``avgpool``, ``add`` (per element). With a timeline recorder each operation is reported as a span
on its unit's track (:class:`archsim.stats.timeline.TimelineHooks`).
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from archsim.config.schema import DIGITAL_OPERATIONS, DigitalConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD
from archsim.stats.timeline import TimelineHooks

#: Record kinds the digital unit executes (its operations, as the config declares their cycles
#: and energies), and the ones that only move data (no work).
DIGITAL_KINDS = DIGITAL_OPERATIONS
PASS_KINDS = ("flatten",)


class DigitalUnit(Component):
    """The vector units of the chip, ``units`` SimPy resources of capacity 1; ``timeline``
    receives their operation spans (None: nothing is recorded)."""

    KIND = "digital"

    def __init__(
        self,
        env: simpy.Environment,
        config: DigitalConfig,
        units: int = 1,
        used: int = 1,
        *,
        timeline: TimelineHooks | None = None,
    ) -> None:
        super().__init__(units, min(used, units))
        self.env = env
        self.config = config
        self.timeline = timeline
        self.resources = tuple(simpy.Resource(env, capacity=1) for _ in range(units))
        for kind in DIGITAL_KINDS:
            self.declare(kind, getattr(config.energy, kind), f"one element of {kind}")

    def cycles(self, kind: str, elements: int) -> int:
        """Cycles one operation of ``kind`` on ``elements`` elements takes."""
        per_element = getattr(self.config.cycles, kind)
        return math.ceil(elements * per_element / self.config.lanes)

    def execute(
        self, kind: str, elements: int, unit: int = 0, phase: str = FORWARD
    ) -> Generator[simpy.Event, object, None]:
        """SimPy process body: run one operation of ``phase`` on vector unit ``unit`` (nothing,
        when the units are disabled: the run still counts the elements in its statistics)."""
        if not self.config.enabled:
            return
        self.count(kind, elements, phase)
        cycles = self.cycles(kind, elements)
        if cycles == 0:
            return
        with self.resources[unit].request() as request:
            yield request
            if self.timeline is not None:
                start = int(self.env.now)
                self.timeline.vector(unit, kind, elements, start, start + cycles)
            yield self.env.timeout(cycles)
        self.add_busy(cycles, phase)
