"""Handlers of training records: the backward pass and the update (stage: sim).

Registered for every run by :func:`archsim.sim.registry.default_handlers`; each factory
declines (returns None) on a system without training units, so that such records stop the run
with one line saying the config has no ``training`` section.

* ``backward`` ``relu``, ``maxpool``, ``avgpool``, ``add``: the vector units, as forward
  (:class:`~archsim.sim.handlers.DigitalOp`);
* ``backward`` ``mvm_t`` (:class:`MatrixBackward`): the forward handler's schedule on the same
  crossbar groups (so that forward and backward work queue on the same arrays), with the cost
  of a transposed read (:meth:`~archsim.hw.tile.TileKind.transposed_op_cost`). The error
  vectors' NoC transfers between layers are not modelled.
* ``update`` ``outer`` (:class:`PulsedUpdate`): ``vectors`` pulse trains of ``bit_length``
  slots on every array of the layer at once (:class:`~archsim.hw.training.PulseDrivers`).
* ``update`` ``transfer`` (:class:`Transfer`): ``reads`` row reads of the gradient arrays,
  each a forward operation (with the record's input bits) of the arrays of one row block,
  then the pulse train that writes the row into W.
* ``update`` ``digital`` (:class:`DigitalUpdate`): the layer's share of the update's digital
  units (:class:`~archsim.hw.training.UpdateDigital`).
* ``update`` ``write`` (:class:`ProgramWrite`): the write-and-verify engine
  (:class:`~archsim.hw.training.WriteVerifyEngine`).

Work on the weight arrays W (pulses to W, programming) and a transfer (A's row read uses W's
peripherals) holds the layer's crossbar groups, so a pipelined run's next forward pass waits
for it; pulses to the gradient arrays A and digital work do not. Device pulses and
programmed cells are charged once per copy of the layer (every copy of W is updated alike);
the trace's counts, and the statistics, are per logical weight. The time of each update
record is booked as the arrays' (``time_tile``) or the digital units' (``time_digital``)
under phase ``update``; its counts go to the training statistics with the layer as their
group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import simpy

from archsim.hw.digital import DIGITAL_KINDS
from archsim.hw.tile import OpCost, Tile
from archsim.hw.training import TrainingUnits
from archsim.mapping.crossbar import CrossbarLayout, CrossbarSlot
from archsim.sim.handlers import (
    DigitalOp,
    Handler,
    Handlers,
    MatrixForward,
    Process,
    Simulation,
)
from archsim.stats import CHIP
from archsim.workload.trace import LayerSpec, OpRecord

__all__ = [
    "DigitalUpdate",
    "MatrixBackward",
    "ProgramWrite",
    "PulsedUpdate",
    "Transfer",
    "register_training",
]


class MatrixBackward(MatrixForward):
    """Backward ``mvm_t`` records: transposed reads on the layer's arrays."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        # The layer seen from its outputs: the cols-long error vectors in, rows-long out.
        self._transposed = dataclasses.replace(
            self.layout, rows=self.layout.cols, cols=self.layout.rows,
            row_splits=self.layout.col_splits, col_splits=self.layout.row_splits,
        )

    def cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """One transposed read of an array holding ``layout``."""
        return self.group.kind.transposed_op_cost(layout, input_bits, tile)

    def count_data(self, record: OpRecord) -> None:
        """The data-dependent work of the transposed layer: the same cells conduct; the
        partial sums of the rows are merged; error vectors in, rows-long vectors out."""
        self.group.kind.count_vectors(
            self._transposed, record.vectors, record.input_bits, self.sim.system.act_bits,
            record.bitplane_nz, record.input_nz, record.phase,
        )

    def inputs(self, record: OpRecord) -> tuple[tuple[str, str], ...]:
        """None: the error vectors' transfers are not modelled."""
        return ()


@dataclass(frozen=True)
class _Drive:
    """What a pulse train drives on some of a layer's arrays: their number, the rows and the
    physical columns holding weights."""

    arrays: int
    rows: int
    cols: int


def _drive(slots: list[tuple[CrossbarLayout, CrossbarSlot]], per_output: int) -> _Drive:
    return _Drive(
        arrays=len({id(layout) for layout, _ in slots}),
        rows=sum(slot.rows for _, slot in slots),
        cols=sum((slot.col_stop - slot.col_start) * per_output for _, slot in slots),
    )


class _UpdateHandler(Handler):
    """An update record on a mapped layer: its arrays, what their drivers drive, the units.

    W is the layer's weight arrays, every copy (an update is applied to each copy alike, so
    its device pulses and programmed cells are charged once per copy); the gradient array A
    is one copy laid out as W's first (copies only multiply the forward throughput).
    """

    def __init__(self, sim: Simulation, layer: LayerSpec, units: TrainingUnits) -> None:
        super().__init__(sim, layer)
        system = sim.system
        assert system.mapping is not None
        mapping = system.mapping.layers[layer.name]
        self.units = units
        self.group_name = mapping.group
        self.groups = system.crossbar_groups[layer.name]
        self.kind = system.group(mapping.group).kind
        self.copies = mapping.layout.copies
        per_output = mapping.layout.physical_cols_per_output
        placed = [
            (layout, crossbar, slot)
            for group in mapping.groups
            for layout, crossbar in zip(group.layouts, group.crossbars)
            for slot in layout.slots
        ]
        #: the trains on W (every copy) and on A (the first copy)
        self.w_drive = _drive([(lay, slot) for lay, _, slot in placed], per_output)
        self.a_drive = _drive([(lay, slot) for lay, _, slot in placed if slot.copy == 0],
                              per_output)
        # The arrays a one-hot read of A's first row reads: its first row block, and what
        # writing one row back into each of those arrays drives.
        block = [(lay, crossbar, slot) for lay, crossbar, slot in placed
                 if slot.copy == 0 and slot.row_start == 0]
        self.row_block = tuple((lay, system.tile_of(crossbar)) for lay, crossbar, _ in block)
        self.row_write = _Drive(
            len(block), len(block),
            sum((slot.col_stop - slot.col_start) * per_output for _, _, slot in block),
        )

    @classmethod
    def create(cls, sim: Simulation, layer: LayerSpec) -> _UpdateHandler | None:
        """The layer's handler, or None on a system without training units."""
        units = sim.system.training
        return None if units is None else cls(sim, layer, units)

    def hold_arrays(self, cycles: int) -> Process:
        """Occupy every crossbar group of the layer for ``cycles`` (work on W, or on A, whose
        peripherals are W's)."""
        env = self.sim.env
        if len(self.groups) == 1:
            yield self.groups[0].submit(1, cycles)
        else:
            yield env.all_of([group.submit(1, cycles) for group in self.groups])

    def wait(self, cycles: int) -> simpy.Timeout:
        """``cycles`` of work that holds no array."""
        return self.sim.env.timeout(cycles)


class PulsedUpdate(_UpdateHandler):
    """``outer`` records: parallel pulse trains on the layer's W or A arrays."""

    def execute(self, record: OpRecord) -> Process:
        """Apply ``vectors`` trains of ``bit_length`` slots; count the devices pulsed."""
        pulses = self.units.pulses
        cycles = record.vectors * pulses.train_cycles(record.bit_length)
        on_w = record.array == "W"
        if on_w:
            yield from self.hold_arrays(cycles)
        else:
            yield self.wait(cycles)
        drive, copies = (self.w_drive, self.copies) if on_w else (self.a_drive, 1)
        pulses.charge(
            record.vectors, record.bit_length, drive.rows, drive.cols,
            record.pulses * copies, drive.arrays, record.phase,
        )
        stats = self.sim.stats
        stats.time_tile.add(cycles, record.phase, self.group_name)
        counter = stats.pulses_w if on_w else stats.pulses_a
        counter.add(record.pulses, record.phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's pulse trains."""
        return record.vectors


class Transfer(_UpdateHandler):
    """``transfer`` records: one-hot row reads of A, each a forward operation of the arrays
    of one row block, then the row written into W (each copy) with ``bit_length`` slots."""

    def __init__(self, sim: Simulation, layer: LayerSpec, units: TrainingUnits) -> None:
        super().__init__(sim, layer, units)
        self._costs: dict[int, OpCost] = {}

    def read_cost(self, input_bits: int) -> OpCost:
        """One row read of A: the arrays of one row block, in parallel."""
        cost = self._costs.get(input_bits)
        if cost is None:
            cost = OpCost.together(
                self.kind.op_cost(lay, input_bits, tile) for lay, tile in self.row_block
            )
            if not self.kind.STATEFUL:
                self._costs[input_bits] = cost
        return cost

    def execute(self, record: OpRecord) -> Process:
        """Read ``reads`` rows of A, then pulse each into W."""
        units, phase = self.units, record.phase
        cost = self.read_cost(record.input_bits)
        cycles = record.reads * (cost.cycles + units.pulses.train_cycles(record.bit_length))
        yield from self.hold_arrays(cycles)
        self.kind.charge(cost, record.reads, phase)
        drive = self.row_write
        units.pulses.charge(
            record.reads, record.bit_length, drive.rows * self.copies,
            drive.cols * self.copies, record.pulses * self.copies, drive.arrays * self.copies,
            phase,
        )
        stats = self.sim.stats
        stats.time_tile.add(cycles, phase, self.group_name)
        stats.row_reads.add(record.reads, phase, self.layer.name)
        stats.pulses_w.add(record.pulses, phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's row reads."""
        return record.reads


class DigitalUpdate(_UpdateHandler):
    """``digital`` records: the layer's share of the update's digital units."""

    def execute(self, record: OpRecord) -> Process:
        """Run ``flops`` operations and move ``bits`` on the layer's share."""
        digital = self.units.digital
        arrays = self.w_drive.arrays
        cycles = digital.cycles(record.flops, record.bits, arrays)
        if cycles:
            yield self.wait(cycles)
        digital.charge(record.flops, record.bits, cycles, arrays, record.phase)
        stats = self.sim.stats
        stats.time_digital.add(cycles, record.phase, CHIP)
        stats.flops.add(record.flops, record.phase, self.layer.name)
        stats.memory_bits.add(record.bits, record.phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's FLOPs."""
        return record.flops


class ProgramWrite(_UpdateHandler):
    """``write`` records: cells programmed by write-and-verify on the layer's W (each copy)."""

    def execute(self, record: OpRecord) -> Process:
        """Program ``cells`` with ``pulses`` pulses and ``verify_reads`` verify reads."""
        engine = self.units.write_verify
        cycles = engine.cycles(record.pulses, record.verify_reads, record.rounds)
        if cycles:
            yield from self.hold_arrays(cycles)
        copies = self.copies
        engine.charge(record.pulses * copies, record.verify_reads * copies, cycles,
                      record.phase)
        stats = self.sim.stats
        stats.time_tile.add(cycles, record.phase, self.group_name)
        stats.cell_writes.add(record.cells, record.phase, self.layer.name)
        stats.write_pulses.add(record.pulses, record.phase, self.layer.name)
        stats.verify_reads.add(record.verify_reads, record.phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's cells."""
        return record.cells


def _backward(sim: Simulation, layer: LayerSpec) -> MatrixBackward | None:
    return None if sim.system.training is None else MatrixBackward(sim, layer)


def _backward_digital(sim: Simulation, layer: LayerSpec) -> DigitalOp | None:
    system = sim.system
    return None if system.training is None and system.fabric is None else DigitalOp(sim, layer)


def register_training(handlers: Handlers) -> Handlers:
    """``handlers`` with the training handlers registered (see the module docstring)."""
    for kind in DIGITAL_KINDS:
        handlers = handlers.register("backward", kind, _backward_digital)
    for (phase, kind), factory in (
        (("backward", "mvm_t"), _backward),
        (("update", "outer"), PulsedUpdate.create),
        (("update", "transfer"), Transfer.create),
        (("update", "digital"), DigitalUpdate.create),
        (("update", "write"), ProgramWrite.create),
    ):
        handlers = handlers.register(phase, kind, factory)
    return handlers
