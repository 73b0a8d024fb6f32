"""Digital shift-and-add / partial-sum merging (stage: hw).

Merges the physical partial results of one logical output: input slices (digital accumulation),
weight slices, differential pairs and row-split partial sums. Its additions are pipelined behind
the array and add no cycles. Action: ``add``.
"""

from __future__ import annotations

from archsim.config.schema import ShiftAddConfig
from archsim.hw.component import Component
from archsim.hw.operation import OpCost


class ShiftAdd(Component):
    """The shift-and-add units of every tile."""

    ACTIONS = ("add",)
    KIND = "shift_add"
    TIMED = False

    def __init__(self, config: ShiftAddConfig, instances: int) -> None:
        super().__init__(instances)

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count the additions that accumulate digitally converted input slices."""
        self.count("add", cost.slice_adds * operations)

    def merge(self, outputs: int, partials: int) -> None:
        """Count the additions that merge ``partials`` partial results into each of ``outputs``."""
        self.count("add", outputs * (partials - 1))
