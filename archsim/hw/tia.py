"""Trans-impedance amplifiers / integrators of a crossbar tile (stage: hw).

One TIA sits in front of each ADC and senses the column the ADC's multiplexer selects. With
analog accumulation it integrates every input slice before the conversion. Action: ``sample``
(one column sensed for one input slice).
"""

from __future__ import annotations

from archsim.config.schema import TiaConfig
from archsim.hw.component import Component


class Tia(Component):
    """The column TIAs of one tile group (one per ADC)."""

    KIND = "tia"

    def __init__(
        self, config: TiaConfig, instances: int, instances_used: int, *, group: str = ""
    ) -> None:
        super().__init__(instances, instances_used, group=group)
        self.declare("sample", config.energy.sample, "one column sensed for one input slice")
