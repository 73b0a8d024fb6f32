"""The resistive crossbar array (stage: hw).

Actions: ``read`` (one input slice applied to the driven rows and the selected columns sensed),
``row_read`` (one driven row during a read: the data-independent share of a read that grows with
the rows driven) and ``cell_read`` (one weight cell conducting because its row's input bit is 1;
counted as an expected value from the trace's bit-plane densities).
"""

from __future__ import annotations

from archsim.config.schema import CrossbarConfig
from archsim.hw.component import Component
from archsim.stats import FORWARD


class Crossbar(Component):
    """The crossbar arrays of one tile group; ``busy_cycles`` counts array-cycles in operation."""

    KIND = "crossbar"

    def __init__(
        self, config: CrossbarConfig, instances: int, instances_used: int, *, group: str = ""
    ) -> None:
        super().__init__(instances, instances_used, group=group)
        self.config = config
        energy = config.energy
        self.declare("read", energy.read, "one input slice applied to the driven rows")
        self.declare("row_read", energy.row_read, "one driven row during one read")
        self.declare("cell_read", energy.cell_read, "one weight cell conducting during a read")

    def conduct(
        self, weight_cells: int, vectors: int, slice_activity: float, phase: str = FORWARD
    ) -> None:
        """Count the cells that conduct while ``vectors`` inputs are applied.

        Each weight cell is sensed once per input slice (in analog mode only while its own
        column group is sensed, the other columns floating), and conducts when its row's input
        slice is non-zero: ``slice_activity`` is the expected number of non-zero slices per
        input element (:meth:`archsim.hw.dac.Dac.slice_activity`).
        """
        self.count("cell_read", weight_cells * vectors * slice_activity, phase)
