"""The chip: tiles, digital unit and controller, and how a trace record runs on them (stage: hw).

:class:`Chip` turns one trace record into SimPy events. A matrix-layer record (``mvm``) is split
over the layer's copies and sent as jobs to the ports of its crossbar groups
(:class:`~archsim.hw.crossbar_group.CrossbarGroup`, one SimPy process each), which run their
shares as VMM steps, one timeout per step whose length the tile model computes
(:meth:`Tiles.op_cost`); the groups of different copies work in parallel. Digital records go to
the shared :class:`DigitalUnit`.

Time is in integer cycles of the chip clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig
from archsim.errors import TraceError
from archsim.hw.component import Component
from archsim.hw.controller import Controller
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DIGITAL_KINDS, PASS_KINDS, DigitalUnit
from archsim.hw.operation import OpCost
from archsim.hw.tile import Tiles
from archsim.mapping.placement import LayerMapping, NetworkMapping
from archsim.stats import Counter
from archsim.workload.trace import OpRecord

Process = Generator[simpy.Event, object, None]


@dataclass(frozen=True)
class GroupPlan:
    """A crossbar group's costs for one input precision: operation cycles and per-crossbar costs."""

    unit: CrossbarGroup
    op_cycles: int
    costs: tuple[OpCost, ...]


class ChipCounters:
    """Workload-level statistics of a run (see the report schema)."""

    def __init__(self) -> None:
        self.tile_ops = Counter("tile_ops", "operations", "crossbar activations")
        self.vmm_steps = Counter(
            "vmm_steps", "steps", "sequential VMM steps (the crossbars of a layer in parallel)"
        )
        self.macs = Counter("macs", "MACs", "multiply-accumulates performed by the crossbars")
        self.vectors = Counter("vectors", "vectors", "input vectors applied to matrix layers")
        self.digital_elements = Counter(
            "digital_elements", "elements", "elements of activation, pooling and add work"
        )


class MatrixLayer:
    """A mapped matrix layer: executes its ``mvm`` records on its crossbar groups."""

    def __init__(self, chip: Chip, mapping: LayerMapping) -> None:
        self.chip = chip
        self.mapping = mapping
        self.layout = mapping.layout
        self.groups = tuple(
            CrossbarGroup(chip.env, placed, chip.controller) for placed in mapping.groups
        )
        # MACs one step of a group performs for each copy it holds, from the placed blocks.
        self._copy_macs = tuple(
            {
                copy: sum(
                    slot.rows * (slot.col_stop - slot.col_start)
                    for layout in placed.layouts
                    for slot in layout.slots
                    if slot.copy == copy
                )
                for copy in placed.copies
            }
            for placed in mapping.groups
        )
        self._plans: dict[int, tuple[GroupPlan, ...]] = {}
        self.active_cycles = 0  # from sending a record's jobs until all are done, summed

    def plans(self, input_bits: int) -> tuple[GroupPlan, ...]:
        """Per-group costs for ``input_bits``-bit inputs (computed once per precision)."""
        plans = self._plans.get(input_bits)
        if plans is None:
            built = []
            for unit in self.groups:
                costs = tuple(self.chip.tiles.op_cost(lay, input_bits) for lay in unit.placed.layouts)
                built.append(GroupPlan(unit, max(c.cycles for c in costs), costs))
            plans = self._plans[input_bits] = tuple(built)
        return plans

    def shares(self, vectors: int) -> list[dict[int, int]]:
        """Vectors per copy, per group: dealt round-robin over the layer's copies."""
        base, extra = divmod(vectors, self.layout.copies)
        return [
            {copy: base + (copy < extra) for copy in group.copies} for group in self.mapping.groups
        ]

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: send one ``mvm`` record's share to each crossbar group's port
        and wait until every group has done its steps (the copies work in parallel)."""
        plans = self.plans(record.input_bits)
        jobs = []
        for plan, shares, copy_macs in zip(plans, self.shares(record.vectors), self._copy_macs):
            steps = max(shares.values())  # packed copies step in lockstep
            if steps:
                macs = sum(n * copy_macs[copy] for copy, n in shares.items())
                jobs.append((plan, steps, macs))
        done = [plan.unit.submit(steps, plan.op_cycles) for plan, steps, _ in jobs]
        begin = self.chip.env.now
        yield done[0] if len(done) == 1 else self.chip.env.all_of(done)
        self.active_cycles += self.chip.env.now - begin
        self._account(record, jobs)

    def _account(self, record: OpRecord, jobs: list[tuple[GroupPlan, int, int]]) -> None:
        chip, layout = self.chip, self.layout
        tiles, counters, controller = chip.tiles, chip.counters, chip.controller
        for plan, steps, macs in jobs:
            for cost in plan.costs:
                tiles.charge(cost, steps)
            crossbars = plan.unit.placed.crossbars
            chip.crossbar_busy[list(crossbars)] += steps * plan.op_cycles
            counters.tile_ops.add(steps * len(crossbars))
            counters.macs.add(macs)
            controller.count("issue", steps)
            controller.add_busy(steps * controller.issue_cycles)
        counters.vmm_steps.add(max(steps for _, steps, _ in jobs))
        vectors = record.vectors
        counters.vectors.add(vectors)
        per_output = layout.physical_cols_per_output
        tiles.crossbar.conduct(
            weight_cells=layout.rows * layout.cols * per_output,
            vectors=vectors,
            slice_activity=tiles.dac.slice_activity(record.bitplane_nz, record.input_nz),
        )
        tiles.shift_add.merge(vectors * layout.cols, per_output * layout.row_splits)
        tiles.buffer.move(vectors, layout.rows * record.input_bits, layout.cols * chip.act_bits)


class Chip:
    """The simulated chip for one mapped network."""

    def __init__(
        self,
        env: simpy.Environment,
        config: HardwareConfig,
        mapping: NetworkMapping,
        act_bits: int,
    ) -> None:
        self.env = env
        self.config = config
        self.mapping = mapping
        self.act_bits = act_bits
        crossbars = config.chip.tiles * config.chip.crossbars_per_tile
        self.tiles = Tiles(config.tile, crossbars, config.chip.tiles, mapping.crossbars)
        self.digital = DigitalUnit(env, config.digital)
        self.controller = Controller(config.controller)
        self.counters = ChipCounters()
        self.crossbar_busy = np.zeros(mapping.crossbars, dtype=np.int64)
        self.layers = {name: MatrixLayer(self, lm) for name, lm in mapping.layers.items()}

    def components(self) -> tuple[Component, ...]:
        """Every component bank, in pipeline order."""
        return (self.controller, *self.tiles.components(), self.digital)

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: run one trace record."""
        kind = record.kind
        if kind == "mvm":
            yield from self.layers[record.layer].execute(record)
        elif kind in DIGITAL_KINDS:
            self.counters.digital_elements.add(record.elements)
            yield from self.digital.execute(kind, record.elements)
        elif kind not in PASS_KINDS:
            raise TraceError(
                f"record {record.index}: {record.phase} '{kind}' operations are not supported "
                "by this hardware model yet (forward inference only)"
            )
