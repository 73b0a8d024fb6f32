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
from archsim.hw.tile import OpCost, Tiles
from archsim.mapping.placement import LayerMapping, NetworkMapping
from archsim.workload.trace import OpRecord

Process = Generator[simpy.Event, object, None]


@dataclass(frozen=True)
class GroupPlan:
    """A crossbar group's costs for one input precision: step cycles and per-crossbar costs."""

    unit: CrossbarGroup
    step_cycles: int
    costs: tuple[OpCost, ...]


@dataclass
class ChipCounters:
    """Workload-level counts of a run (see the report schema)."""

    tile_ops: int = 0
    vmm_steps: int = 0
    macs: int = 0
    vectors: int = 0
    digital_elements: int = 0


class MatrixLayer:
    """A mapped matrix layer: executes its ``mvm`` records on its crossbar groups."""

    def __init__(self, chip: Chip, mapping: LayerMapping) -> None:
        self.chip = chip
        self.mapping = mapping
        self.layout = mapping.layout
        self.groups = tuple(CrossbarGroup(chip.env, placed) for placed in mapping.groups)
        self._plans: dict[int, tuple[GroupPlan, ...]] = {}
        self.busy_cycles = 0

    def plans(self, input_bits: int) -> tuple[GroupPlan, ...]:
        """Per-group costs for ``input_bits``-bit inputs (computed once per precision)."""
        plans = self._plans.get(input_bits)
        if plans is None:
            issue = self.chip.controller.issue_cycles
            built = []
            for unit in self.groups:
                layouts = unit.placed.layouts
                costs = tuple(self.chip.tiles.op_cost(lay, input_bits) for lay in layouts)
                built.append(GroupPlan(unit, issue + max(c.cycles for c in costs), costs))
            plans = self._plans[input_bits] = tuple(built)
        return plans

    def shares(self, vectors: int) -> list[int]:
        """Steps per group: vectors dealt round-robin over copies, packed copies in lockstep."""
        copies = self.layout.copies
        base, extra = divmod(vectors, copies)
        return [
            max(base + (copy < extra) for copy in group.copies) for group in self.mapping.groups
        ]

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: send one ``mvm`` record's share to each crossbar group's port
        and wait until every group has done its steps (the copies work in parallel)."""
        plans = self.plans(record.input_bits)
        steps = self.shares(record.vectors)
        jobs = [(plan, n) for plan, n in zip(plans, steps) if n]
        done = [plan.unit.submit(n, plan.step_cycles) for plan, n in jobs]
        yield done[0] if len(done) == 1 else self.chip.env.all_of(done)
        self._account(record, jobs)

    def _account(self, record: OpRecord, jobs: list[tuple[GroupPlan, int]]) -> None:
        chip, layout = self.chip, self.layout
        tiles, counters = chip.tiles, chip.counters
        for plan, n in jobs:
            for cost in plan.costs:
                tiles.charge(cost, n)
            chip.crossbar_busy[list(plan.unit.placed.crossbars)] += n * plan.step_cycles
            counters.tile_ops += n * len(plan.unit.placed.crossbars)
            chip.controller.count("issue", n)
            chip.controller.add_busy(n * chip.controller.issue_cycles)
        longest = max(n for _, n in jobs)
        self.busy_cycles += max(plan.step_cycles * n for plan, n in jobs)
        counters.vmm_steps += longest
        vectors = record.vectors
        counters.vectors += vectors
        counters.macs += vectors * layout.rows * layout.cols
        per_output = layout.physical_cols_per_output
        activity = tiles.dac.slice_activity(record.bitplane_nz, record.input_nz)
        tiles.crossbar.count("cell_read", vectors * activity * layout.rows * layout.cols * per_output)
        partials = per_output * layout.row_splits
        tiles.shift_add.count("add", vectors * layout.cols * (partials - 1))
        buffer = tiles.buffer
        buffer.count("read", vectors * buffer.accesses(layout.rows * record.input_bits))
        buffer.count("write", vectors * buffer.accesses(layout.cols * chip.act_bits))


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
        self.tiles = Tiles(config.tile, crossbars, config.chip.tiles)
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
            self.counters.digital_elements += record.elements
            yield from self.digital.execute(kind, record.elements)
        elif kind not in PASS_KINDS:
            raise TraceError(
                f"record {record.index}: {record.phase} '{kind}' operations are not supported "
                "by this hardware model yet (forward inference only)"
            )
