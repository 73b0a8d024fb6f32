"""The resistive crossbar array (stage: hw).

Actions: ``read`` (one input slice applied to the driven rows and the selected columns sensed),
``row_read`` (one driven row during a read: the data-independent share of a read that grows with
the rows driven) and ``cell_read`` (one weight cell conducting because its row's input bit is 1;
counted as an expected value from the trace's bit-plane densities).
"""

from __future__ import annotations

from archsim.config.schema import CrossbarConfig
from archsim.hw.component import Component
from archsim.hw.operation import OpCost


class Crossbar(Component):
    """Every crossbar array on the chip; ``busy_cycles`` counts array-cycles in operation."""

    ACTIONS = ("read", "row_read", "cell_read")
    KIND = "crossbar"

    def __init__(self, config: CrossbarConfig, instances: int, instances_used: int) -> None:
        super().__init__(instances, instances_used)
        self.config = config

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count the reads of ``operations`` operations and the rows they drive (one per row
        per read, as the DACs drive them); the array is busy for all of each."""
        self.count("read", cost.reads * operations)
        self.count("row_read", cost.drives * operations)
        self.add_busy(cost.cycles * operations)

    def conduct(self, weight_cells: int, vectors: int, slice_activity: float) -> None:
        """Count the cells that conduct while ``vectors`` inputs are applied.

        Each weight cell is sensed once per input slice (in analog mode only while its own
        column group is sensed, the other columns floating), and conducts when its row's input
        slice is non-zero: ``slice_activity`` is the expected number of non-zero slices per
        input element (:meth:`Dac.slice_activity`).
        """
        self.count("cell_read", weight_cells * vectors * slice_activity)
