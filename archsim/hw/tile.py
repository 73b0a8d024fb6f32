"""The crossbar tile: array, row DACs, TIAs, ADCs, shift-and-add and buffer (stage: hw).

:class:`Tiles` holds one bank per kind of tile component for the whole chip and computes what
one *tile operation* (one activation of one crossbar on one input vector, or on several packed
vectors) costs in cycles and actions. Cycle semantics of one operation with ``S`` input slices
and ``G`` column groups (``r`` = crossbar read cycles, ``c`` = ADC conversion cycles at the configured resolution,
:func:`archsim.hw.adc.conversion_cycles`):

* analog accumulation (the TIA integrates the slices, Wu et al. 2023):
  ``G x (S x r + c)`` cycles; the rows are driven again for every column group;
* digital accumulation (one conversion per slice, ISAAC): ``S x (r + G x c)`` cycles, or with
  ``overlap_with_read`` ``r + (S - 1) x max(r, G x c) + G x c`` (conversion of slice k
  overlaps the read of slice k + 1).
"""

from __future__ import annotations

from archsim.config.schema import TileConfig
from archsim.hw.adc import Adc, conversion_cycles
from archsim.hw.buffer import Buffer
from archsim.hw.component import Component
from archsim.hw.crossbar import Crossbar
from archsim.hw.dac import Dac
from archsim.hw.operation import OpCost
from archsim.hw.shift_add import ShiftAdd
from archsim.hw.tia import Tia
from archsim.mapping.crossbar import CrossbarLayout


class Tiles:
    """The tile components of a chip of ``crossbars`` arrays (``used`` of them mapped), and the
    per-operation cost model."""

    def __init__(self, config: TileConfig, crossbars: int, tiles: int, used: int) -> None:
        self.config = config
        xbar = config.crossbar
        adcs_per_array = xbar.cols // config.adc.columns_per_adc
        self.crossbar = Crossbar(xbar, crossbars, used)
        self.dac = Dac(config.dac, crossbars * xbar.rows, used * xbar.rows)
        self.tia = Tia(config.tia, crossbars * adcs_per_array, used * adcs_per_array)
        self.adc = Adc(config.adc, xbar.cols, crossbars * adcs_per_array, used * adcs_per_array)
        self.shift_add = ShiftAdd(config.shift_add, tiles)
        self.buffer = Buffer(config.buffer, tiles)
        self.ops = TileOps(crossbars, used)
        #: cycles of one conversion at the configured resolution
        self.conversion_cycles = conversion_cycles(config.adc)

    def components(self) -> tuple[Component, ...]:
        """Every component bank of the tiles, in pipeline order."""
        return (self.dac, self.crossbar, self.tia, self.adc, self.shift_add, self.buffer, self.ops)

    def op_cost(self, layout: CrossbarLayout, input_bits: int) -> OpCost:
        """Cost of one operation of a crossbar holding ``layout`` on ``input_bits`` inputs."""
        cfg = self.config
        slices = self.dac.slices(input_bits)
        groups = self.adc.column_groups(layout.cols_used)
        converted = self.adc.columns_converted(layout.cols_used)
        rows_driven = layout.rows_used if cfg.gate_idle_rows else cfg.crossbar.rows
        read = cfg.crossbar.read_cycles
        conv = self.conversion_cycles
        if cfg.adc.accumulate == "analog":
            cycles = groups * (slices * read + conv)
            reads = groups * slices
            conversions = converted
            slice_adds = 0
        else:
            convert_all = groups * conv
            if cfg.adc.overlap_with_read:
                cycles = read + (slices - 1) * max(read, convert_all) + convert_all
            else:
                cycles = slices * (read + convert_all)
            reads = slices
            conversions = converted * slices
            slice_adds = converted * (slices - 1)
        if cfg.adc.accumulate == "analog":
            # Each converted column's TIA integrates for every slice of its own group only.
            tia_busy = converted * slices * read
        else:
            # Every TIA with a converted column senses once per read (all groups sampled).
            tia_busy = -(-converted // groups) * reads * read
        return OpCost(
            cycles=cycles,
            reads=reads,
            drives=rows_driven * reads,
            dac_busy_cycles=rows_driven * reads * read,
            samples=converted * slices,
            tia_busy_cycles=tia_busy,
            conversions=conversions,
            adc_busy_cycles=conversions * conv,
            slice_adds=slice_adds,
        )

    def charge(self, cost: OpCost, operations: int) -> None:
        """Let every tile component count its share of ``operations`` operations of ``cost``."""
        for component in self.components():
            component.charge(cost, operations)


class TileOps(Component):
    """Tile operations themselves: the sequencing, clocking and leakage charged per operation."""

    ACTIONS = ("op",)
    KIND = "tile"
    TIMED = False

    def charge(self, cost: OpCost, operations: int) -> None:
        """Count ``operations`` tile operations."""
        self.count("op", operations)
