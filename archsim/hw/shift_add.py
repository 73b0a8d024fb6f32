"""Digital shift-and-add / partial-sum merging (stage: hw).

Merges the physical partial results of one logical output: input slices (digital accumulation),
weight slices, differential pairs and row-split partial sums. Its additions are pipelined behind
the array and add no cycles. Action: ``add``.
"""

from __future__ import annotations

from archsim.config.schema import ShiftAddConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD


class ShiftAdd(Component):
    """The shift-and-add units of one tile group (one per tile)."""

    KIND = "shift_add"
    TIMED = False

    def __init__(self, config: ShiftAddConfig, instances: int, *, group: str = "") -> None:
        super().__init__(instances, group=group)
        self.declare("add", config.energy.add, "one partial-sum addition")

    def merge(self, outputs: int, partials: int, phase: str = FORWARD) -> None:
        """Count the additions that merge ``partials`` partial results into each of ``outputs``."""
        self.count("add", outputs * (partials - 1), phase)
