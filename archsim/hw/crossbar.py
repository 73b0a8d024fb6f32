"""The resistive crossbar array (stage: hw).

Actions: ``read`` (one input slice applied to the driven rows and the selected columns sensed)
and ``cell_read`` (one weight cell conducting because its row's input bit is 1; counted as an
expected value from the trace's bit-plane densities).
"""

from __future__ import annotations

from archsim.config.schema import CrossbarConfig
from archsim.hw.component import Component


class Crossbar(Component):
    """Every crossbar array on the chip; ``busy_cycles`` counts array-cycles in operation."""

    ACTIONS = ("read", "cell_read")
    KIND = "crossbar"

    def __init__(self, config: CrossbarConfig, instances: int) -> None:
        super().__init__(instances)
        self.config = config
