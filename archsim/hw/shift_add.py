"""Digital shift-and-add / partial-sum merging (stage: hw).

Merges the physical partial results of one logical output: input slices (digital accumulation),
weight slices, differential pairs and row-split partial sums. Its additions are pipelined behind
the array and add no cycles. Action: ``add``.
"""

from __future__ import annotations

from archsim.config.schema import ShiftAddConfig
from archsim.hw.component import Component


class ShiftAdd(Component):
    """The shift-and-add units of every tile."""

    ACTIONS = ("add",)
    KIND = "shift_add"
    TIMED = False

    def __init__(self, config: ShiftAddConfig, instances: int) -> None:
        super().__init__(instances)
