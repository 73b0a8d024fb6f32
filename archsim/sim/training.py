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
  one forward operation each with the record's input bits, then the pulse train that writes
  the rows read into W.
* ``update`` ``digital`` (:class:`DigitalUpdate`): the layer's share of the update's digital
  units (:class:`~archsim.hw.training.UpdateDigital`).
* ``update`` ``write`` (:class:`ProgramWrite`): the write-and-verify engine
  (:class:`~archsim.hw.training.WriteVerifyEngine`).

Work on the weight arrays W (pulses to W, a transfer's write, programming) holds the layer's
crossbar groups, so a pipelined run's next forward pass waits for it; work only on the
gradient arrays A (pulses to A) and digital work does not. The time of each update record is
booked as the arrays' (``time_tile``) or the digital units' (``time_digital``) under phase
``update``; its counts go to the training statistics with the layer as their group.
"""

from __future__ import annotations

import dataclasses

import simpy

from archsim.hw.tile import OpCost, Tile
from archsim.hw.training import TrainingUnits
from archsim.mapping.crossbar import CrossbarLayout
from archsim.hw.digital import DIGITAL_KINDS
from archsim.sim.handlers import (
    DigitalOp,
    Handler,
    Handlers,
    MatrixForward,
    Process,
    Simulation,
)
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


class _UpdateHandler(Handler):
    """An update record on a mapped layer: its arrays, their drivers' sizes, the units."""

    def __init__(self, sim: Simulation, layer: LayerSpec, units: TrainingUnits) -> None:
        super().__init__(sim, layer)
        system = sim.system
        assert system.mapping is not None
        mapping = system.mapping.layers[layer.name]
        self.units = units
        self.group_name = mapping.group
        self.groups = system.crossbar_groups[layer.name]
        layouts = [lay for placed in mapping.groups for lay in placed.layouts]
        #: the layer's arrays, and the rows and columns they drive for a pulse train
        self.arrays = len(layouts)
        self.rows = sum(lay.rows_used for lay in layouts)
        self.cols = sum(lay.cols_used for lay in layouts)

    @classmethod
    def create(cls, sim: Simulation, layer: LayerSpec) -> _UpdateHandler | None:
        """The layer's handler, or None on a system without training units."""
        units = sim.system.training
        return None if units is None else cls(sim, layer, units)

    def hold_arrays(self, cycles: int) -> Process:
        """Occupy every crossbar group of the layer for ``cycles`` (work on W)."""
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
        if record.array == "W":
            yield from self.hold_arrays(cycles)
        else:
            yield self.wait(cycles)
        pulses.charge(
            record.vectors, record.bit_length, self.rows, self.cols, record.pulses,
            self.arrays, record.phase,
        )
        stats = self.sim.stats
        stats.time_tile.add(cycles, record.phase, self.group_name)
        counter = stats.pulses_w if record.array == "W" else stats.pulses_a
        counter.add(record.pulses, record.phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's pulse trains."""
        return record.vectors


class Transfer(_UpdateHandler):
    """``transfer`` records: row reads of A, then the pulses that write them into W."""

    def __init__(self, sim: Simulation, layer: LayerSpec, units: TrainingUnits) -> None:
        super().__init__(sim, layer, units)
        system = sim.system
        assert system.mapping is not None
        mapping = system.mapping.layers[layer.name]
        kind = system.group(mapping.group).kind
        self._kind = kind
        self._costs: dict[int, OpCost] = {}
        self._placed = tuple(
            (lay, system.tile_of(crossbar))
            for placed in mapping.groups
            for lay, crossbar in zip(placed.layouts, placed.crossbars)
        )

    def read_cost(self, input_bits: int) -> OpCost:
        """One row read of every gradient array of the layer (a forward operation each, in
        parallel): the same as the weight arrays', A being laid out as W."""
        cost = self._costs.get(input_bits)
        if cost is None:
            cost = OpCost.together(
                self._kind.op_cost(lay, input_bits, tile) for lay, tile in self._placed
            )
            if not self._kind.STATEFUL:
                self._costs[input_bits] = cost
        return cost

    def execute(self, record: OpRecord) -> Process:
        """Read ``reads`` rows of A, then pulse them into W (``bit_length`` slots each)."""
        units, phase = self.units, record.phase
        cost = self.read_cost(record.input_bits)
        read_cycles = record.reads * cost.cycles
        write_cycles = record.reads * units.pulses.train_cycles(record.bit_length)
        yield self.wait(read_cycles)
        if write_cycles:
            yield from self.hold_arrays(write_cycles)
        self._kind.charge(cost, record.reads, phase)
        # Each read row is written back into one row of each array of W: one row driver
        # per array, every column.
        units.pulses.charge(
            record.reads, record.bit_length, self.arrays, self.cols, record.pulses,
            self.arrays, phase,
        )
        stats = self.sim.stats
        stats.time_tile.add(read_cycles + write_cycles, phase, self.group_name)
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
        cycles = digital.cycles(record.flops, record.bits, self.arrays)
        if cycles:
            yield self.wait(cycles)
        digital.charge(record.flops, record.bits, cycles, self.arrays, record.phase)
        stats = self.sim.stats
        stats.time_digital.add(cycles, record.phase, "chip")
        stats.flops.add(record.flops, record.phase, self.layer.name)
        stats.memory_bits.add(record.bits, record.phase, self.layer.name)

    def size(self, record: OpRecord) -> int:
        """The record's FLOPs."""
        return record.flops


class ProgramWrite(_UpdateHandler):
    """``write`` records: cells programmed by write-and-verify on the layer's arrays."""

    def execute(self, record: OpRecord) -> Process:
        """Program ``cells`` with ``pulses`` pulses and ``verify_reads`` verify reads."""
        engine = self.units.write_verify
        cycles = engine.cycles(record.cells, record.pulses, record.verify_reads, record.rounds)
        if cycles:
            yield from self.hold_arrays(cycles)
        engine.charge(record.pulses, record.verify_reads, cycles, record.phase)
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
    return None if sim.system.training is None else DigitalOp(sim, layer)


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
