"""The chip's digital vector unit: activation, pooling, residual additions (stage: hw).

A shared unit of ``lanes`` lanes; an operation on ``elements`` elements takes
``ceil(elements x cycles_per_element / lanes)`` cycles and holds the unit for that long, so
pipeline stages contend for it. With ``enabled: false`` its work is counted (``elements``) but
takes no time and charges nothing (tile-only accounting). Actions: ``relu``, ``maxpool``,
``avgpool``, ``add`` (per element).
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from archsim.config.schema import DigitalConfig
from archsim.hw.component import Component

#: Record kinds the digital unit executes, and the ones that only move data (no work).
DIGITAL_KINDS = ("relu", "maxpool", "avgpool", "add")
PASS_KINDS = ("flatten",)


class DigitalUnit(Component):
    """The chip's vector unit, a SimPy resource of capacity 1."""

    ACTIONS = DIGITAL_KINDS
    KIND = "digital"

    def __init__(self, env: simpy.Environment, config: DigitalConfig) -> None:
        super().__init__(1)
        self.env = env
        self.config = config
        self.resource = simpy.Resource(env, capacity=1)

    def cycles(self, kind: str, elements: int) -> int:
        """Cycles one operation of ``kind`` on ``elements`` elements takes."""
        per_element = getattr(self.config.cycles, kind)
        return math.ceil(elements * per_element / self.config.lanes)

    def execute(self, kind: str, elements: int) -> Generator[simpy.Event, object, None]:
        """SimPy process body: run one operation (nothing, when the unit is disabled: the chip
        still counts the elements in its workload counters)."""
        if not self.config.enabled:
            return
        self.count(kind, elements)
        cycles = self.cycles(kind, elements)
        if cycles == 0:
            return
        with self.resource.request() as request:
            yield request
            yield self.env.timeout(cycles)
        self.add_busy(cycles)
