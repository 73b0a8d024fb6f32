"""Trans-impedance amplifiers / integrators of a crossbar tile (stage: hw).

One TIA sits in front of each ADC and senses the column the ADC's multiplexer selects. With
analog accumulation it integrates every input slice before the conversion. Action: ``sample``
(one column sensed for one input slice).
"""

from __future__ import annotations

from archsim.config.schema import TiaConfig
from archsim.hw.component import Component
from archsim.hw.operation import OpCost


class Tia(Component):
    """The column TIAs of every crossbar on the chip (one per ADC)."""

    ACTIONS = ("sample",)
    KIND = "tia"

    def __init__(self, config: TiaConfig, instances: int, instances_used: int) -> None:
        super().__init__(instances, instances_used)

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count the column samples of ``operations`` operations and the cycles spent sensing."""
        self.count("sample", cost.samples * operations)
        self.add_busy(cost.tia_busy_cycles * operations)
