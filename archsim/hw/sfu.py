"""Special-function units: softmax, LayerNorm and GELU (stage: hw).

A transformer's nonlinear functions run on a special-function unit per processing unit (one per
tile group, counted in it; HyFlexPIM, archsim/REFERENCES.md [HyFlexPIM]). A function on
``elements`` inputs makes ``passes`` passes over them (a softmax finds the maximum, sums the exponentials, then
scales) at ``inputs_per_cycle`` elements per cycle: ``ceil(elements x passes /
inputs_per_cycle)`` cycles, holding its unit (a SimPy resource of capacity 1) for that long.
Actions: ``softmax``, ``layernorm``, ``gelu`` (one input element each).
"""

from __future__ import annotations

import math
from typing import Generator

import simpy

from archsim.config.schema import SFU_FUNCTIONS, SfuConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD
from archsim.stats.timeline import TimelineHooks

__all__ = ["SFU_FUNCTIONS", "Sfu"]


class Sfu(Component):
    """The special-function unit of one processing unit, tile group ``group`` (``used``: the
    workload runs functions on it)."""

    KIND = "sfu"

    def __init__(
        self, env: simpy.Environment, config: SfuConfig, *, used: bool, group: str,
        unit: int = 0, timeline: TimelineHooks | None = None,
    ) -> None:
        super().__init__(1, int(used), group=group)
        self.env = env
        self.config = config
        #: the processing unit's index (its tile group's position), for a timeline
        self.unit = unit
        self.timeline = timeline
        self.resource = simpy.Resource(env, capacity=1)
        for function in SFU_FUNCTIONS:
            self.declare(
                function, getattr(config.energy, function), f"one input element of {function}"
            )

    def cycles(self, function: str, elements: int) -> int:
        """Cycles ``function`` takes on ``elements`` inputs."""
        passes = getattr(self.config.passes, function)
        return math.ceil(elements * passes / self.config.inputs_per_cycle)

    def execute(
        self, function: str, elements: int, phase: str = FORWARD
    ) -> Generator[simpy.Event, object, None]:
        """SimPy process body: ``function`` on ``elements`` inputs, once the unit is free."""
        self.count(function, elements, phase)
        cycles = self.cycles(function, elements)
        with self.resource.request() as request:
            yield request
            if self.timeline is not None:
                start = int(self.env.now)
                self.timeline.processing_unit(
                    "sfu", self.unit, self.group, function, elements, start, start + cycles
                )
            if cycles:
                yield self.env.timeout(cycles)
        self.add_busy(cycles, phase)
