"""The chip: tiles, controller cores, vector units and NoC, and how a record runs (stage: hw).

:class:`Chip` turns one trace record into SimPy events, following the instruction stream of
:mod:`archsim.mapping.program`:

* a matrix-layer record (``mvm``) is split over the layer's copies and sent as jobs to the ports
  of its crossbar groups (:class:`~archsim.hw.crossbar_group.CrossbarGroup`, one SimPy process
  each), which run their shares as VMM steps whose length the tile model computes
  (:meth:`Tiles.op_cost`), issued by the core of the group's tile; the groups of different
  copies work in parallel; then every core the layer used joins the barrier;
* before it, the layer's input activations travel from the tiles that produced them
  (:meth:`Chip.transfer`, through the tiles' :class:`~archsim.hw.network_interface.
  NetworkInterface`); without a NoC the tiles share one buffer and nothing travels;
* a digital record runs on the vector unit of every tile that holds a share of its input, in
  parallel, after the core issued its ``valu`` instructions.

Time is in integer cycles of the chip clock. Per record the chip books where the time went
(:class:`TimeSplit`): the arrays' own time, the vector units', the controller's and the NoC's.
Given a timeline recorder (:mod:`archsim.hw.trace_hooks`), the chip builds its components to
report their spans to it; without one, nothing is recorded and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig
from archsim.errors import TraceError
from archsim.hw.component import Component
from archsim.hw.controller import Controller, Core, RecordedController
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DIGITAL_KINDS, PASS_KINDS, DigitalUnit
from archsim.hw.network_interface import NetworkInterface
from archsim.hw.noc.network import Network
from archsim.hw.operation import OpCost
from archsim.hw.tile import Tiles
from archsim.hw.trace_hooks import ArrayWork, TimelineHooks, conversion_phases
from archsim.mapping.placement import LayerMapping, NetworkMapping
from archsim.mapping.program import GroupStep, Program
from archsim.mapping.traffic import Traffic
from archsim.stats import Counter
from archsim.workload.trace import OpRecord

Process = Generator[simpy.Event, object, None]


@dataclass(frozen=True)
class GroupPlan:
    """A crossbar group's costs for one input precision: operation cycles and per-crossbar
    costs; ``work`` labels its jobs on a timeline (None when the chip records none)."""

    unit: CrossbarGroup
    op_cycles: int
    costs: tuple[OpCost, ...]
    work: ArrayWork | None = None


def split(total: int, fractions: list[float]) -> list[int]:
    """``total`` split in proportion to ``fractions``, in whole units that sum to ``total``
    (largest remainders first, ties to the earlier part)."""
    weight = sum(fractions)
    if not fractions or weight <= 0:
        return [total] + [0] * (len(fractions) - 1) if fractions else []
    exact = [total * f / weight for f in fractions]
    parts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


class TimeSplit:
    """Where the records' time went, in cycles summed over records (see the report schema).

    ``tile``: the arrays' own time (per matrix record, the longest group's steps x operation
    cycles); ``digital``: the vector units' time (per digital record, the longest share);
    ``controller``: the rest of each record's compute phase (instruction issue, stores,
    barriers, waiting for a shared core); ``noc``: the input transfer phase of matrix records.
    In layer-sequential mode the four sum to the run's sample latencies.
    """

    def __init__(self) -> None:
        self.tile = 0
        self.digital = 0
        self.controller = 0
        self.noc = 0


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

    def __init__(self, chip: Chip, mapping: LayerMapping, steps: tuple[GroupStep, ...]) -> None:
        self.chip = chip
        self.mapping = mapping
        self.layout = mapping.layout
        self.groups = tuple(
            CrossbarGroup(chip.env, placed, chip.controller, chip.timeline)
            for placed in mapping.groups
        )
        self.steps = steps
        controller = chip.controller
        self.cores = tuple(controller.core_of(step.tile) for step in steps)
        self._core_set = tuple(dict.fromkeys(self.cores))
        # Core cycles per step: load + trigger before it, the loop instruction during it, and
        # the stores of each step's outputs.
        self._issue = tuple(controller.cost({"load": s.load, "mvm": s.mvm}) for s in steps)
        self._retire = tuple(controller.cost({"loop": s.loop}) for s in steps)
        self._store = tuple(controller.cost({"store": s.store}) for s in steps)
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
            tiles = self.chip.tiles
            for unit in self.groups:
                layouts = unit.placed.layouts
                costs = tuple(tiles.op_cost(lay, input_bits) for lay in layouts)
                work = None
                if self.chip.timeline is not None:
                    phases = tuple(conversion_phases(tiles, lay, input_bits) for lay in layouts)
                    work = ArrayWork(self.mapping.name, phases)
                built.append(GroupPlan(unit, max(c.cycles for c in costs), costs, work))
            plans = self._plans[input_bits] = tuple(built)
        return plans

    def shares(self, vectors: int) -> list[dict[int, int]]:
        """Vectors per copy, per group: dealt round-robin over the layer's copies."""
        base, extra = divmod(vectors, self.layout.copies)
        return [
            {copy: base + (copy < extra) for copy in group.copies} for group in self.mapping.groups
        ]

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: send one ``mvm`` record's share to each crossbar group's port,
        wait until every group has done its steps (the copies work in parallel), then let
        every core the layer used join the barrier."""
        chip = self.chip
        env, controller = chip.env, chip.controller
        plans = self.plans(record.input_bits)
        begin = int(env.now)
        for core in self._core_set:
            core.begin(begin)
        jobs = []
        done = []
        for index, (plan, shares, copy_macs) in enumerate(
            zip(plans, self.shares(record.vectors), self._copy_macs)
        ):
            steps = max(shares.values())  # packed copies step in lockstep
            if steps:
                macs = sum(n * copy_macs[copy] for copy, n in shares.items())
                jobs.append((plan, steps, macs, index))
                done.append(
                    plan.unit.submit(
                        steps, plan.op_cycles, self.cores[index],
                        issue=self._issue[index], retire=self._retire[index],
                        store=self._store[index], work=plan.work,
                    )
                )
        yield done[0] if len(done) == 1 else env.all_of(done)
        barrier = controller.cost({"barrier": 1})
        now = int(env.now)
        end = now
        for core in self._core_set:
            controller.tally("barrier", 1)
            end = max(end, controller.reserve(core, now, barrier, "barrier"))
        if end > now:
            yield env.timeout(end - now)
        finish = int(env.now)
        for core in self._core_set:
            core.end(finish)
        self.active_cycles += finish - begin
        tile_cycles = max(plan.op_cycles * steps for plan, steps, _, _ in jobs)
        chip.time.tile += tile_cycles
        chip.time.controller += finish - begin - tile_cycles
        self._account(record, jobs)

    def _account(self, record: OpRecord, jobs: list[tuple[GroupPlan, int, int, int]]) -> None:
        chip, layout = self.chip, self.layout
        tiles, counters, controller = chip.tiles, chip.counters, chip.controller
        for plan, steps, macs, index in jobs:
            for cost in plan.costs:
                tiles.charge(cost, steps)
            crossbars = plan.unit.placed.crossbars
            chip.crossbar_busy[list(crossbars)] += steps * plan.op_cycles
            counters.tile_ops.add(steps * len(crossbars))
            counters.macs.add(macs)
            step = self.steps[index]
            controller.tally("load", steps * step.load)
            controller.tally("mvm", steps * step.mvm)
            controller.tally("store", steps * step.store)
            controller.tally("loop", steps * step.loop)
        counters.vmm_steps.add(max(steps for _, steps, _, _ in jobs))
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
    """The simulated chip for one mapped network.

    ``network`` is the NoC (None: the tiles share one buffer, activations do not travel),
    ``nodes[t]`` the router of tile ``t`` in use and ``hops`` the routers' hop-count matrix.
    ``timeline`` receives the components' spans (None: nothing is recorded).
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: HardwareConfig,
        mapping: NetworkMapping,
        act_bits: int,
        program: Program,
        traffic: Traffic,
        network: Network | None = None,
        nodes: tuple[int, ...] = (),
        hops: np.ndarray | None = None,
        *,
        timeline: TimelineHooks | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.mapping = mapping
        self.act_bits = act_bits
        self.program = program
        self.traffic = traffic
        self.network = network
        self.nodes = nodes
        self.hops = hops
        self.timeline = timeline
        crossbars = config.chip.tiles * config.chip.crossbars_per_tile
        self.tiles = Tiles(config.tile, crossbars, config.chip.tiles, mapping.crossbars)
        tiles, used = config.chip.tiles, mapping.tiles_used
        self.controller = (
            Controller(config.controller, tiles, used) if timeline is None
            else RecordedController(config.controller, tiles, used, timeline)
        )
        self.digital = DigitalUnit(
            env, config.digital, len(self.controller.cores), self.controller.instances_used,
            timeline=timeline,
        )
        self.counters = ChipCounters()
        self.time = TimeSplit()
        self.interface = (
            NetworkInterface(env, network, nodes, self.controller, timeline=timeline)
            if network is not None else None
        )
        self.crossbar_busy = np.zeros(mapping.crossbars, dtype=np.int64)
        self.layers = {
            name: MatrixLayer(self, lm, program.steps[name]) for name, lm in mapping.layers.items()
        }
        self._edges: dict[str, list[tuple[str, str]]] = {}
        for edge in program.transfers:
            self._edges.setdefault(edge[1], []).append(edge)

    def components(self) -> tuple[Component, ...]:
        """Every component bank, in pipeline order."""
        banks: tuple[Component, ...] = (self.controller, *self.tiles.components(), self.digital)
        return banks + ((self.network,) if self.network is not None else ())

    def execute(self, record: OpRecord, transfer_inputs: bool = True) -> Process:
        """SimPy process body: run one trace record; with ``transfer_inputs``, a matrix
        layer's input activations travel first (the pipeline sends them itself, earlier)."""
        kind = record.kind
        if kind == "mvm":
            if transfer_inputs:
                begin = int(self.env.now)
                events = [
                    event for edge in self._edges.get(record.layer, ())
                    if (event := self.transfer(edge)) is not None
                ]
                if events:
                    yield events[0] if len(events) == 1 else self.env.all_of(events)
                self.time.noc += int(self.env.now) - begin
            yield from self.layers[record.layer].execute(record)
        elif kind in DIGITAL_KINDS:
            self.counters.digital_elements.add(record.elements)
            yield from self._digital(record)
        elif kind not in PASS_KINDS:
            raise TraceError(
                f"record {record.index}: {record.phase} '{kind}' operations are not supported "
                "by this hardware model yet (forward inference only)"
            )

    def transfer(self, edge: tuple[str, str]) -> simpy.Process | None:
        """Start moving one sample's activations along ``edge`` (input layer, matrix layer);
        the process ends when every packet has been received. None if nothing travels."""
        if self.interface is None:
            return None
        return self.interface.transfer(self.program.transfers.get(edge, ()))

    def _digital(self, record: OpRecord) -> Process:
        """Run a digital record on the vector units of the tiles holding its input, in
        parallel, each after its core issued the ``valu`` instructions of its share."""
        env, controller, digital = self.env, self.controller, self.digital
        shares = self.program.shares.get(record.layer, ((0, 1.0),))
        per_core: dict[Core, int] = {}
        for (tile, _), elements in zip(shares, split(record.elements, [p for _, p in shares])):
            core = controller.core_of(tile)
            per_core[core] = per_core.get(core, 0) + elements
        lanes = self.config.digital.lanes
        begin = int(env.now)
        processes = []
        longest = 0
        enabled = digital.config.enabled
        for core, elements in per_core.items():
            if not elements:
                continue
            count = -(-elements // lanes)
            # A disabled vector unit's work is counted, neither timed nor charged: its valu
            # instructions too.
            controller.tally("valu", count, charged=enabled)
            if not enabled:
                continue
            core.begin(begin)
            processes.append(env.process(self._digital_share(core, record.kind, elements, count)))
            longest = max(longest, digital.cycles(record.kind, elements))
        if processes:
            yield processes[0] if len(processes) == 1 else env.all_of(processes)
        finish = int(env.now)
        self.time.digital += longest
        self.time.controller += finish - begin - longest

    def _digital_share(self, core: Core, kind: str, elements: int, count: int) -> Process:
        env, controller = self.env, self.controller
        begin = int(env.now)
        # The core issues the valu instructions while its vector unit works on them.
        issued = controller.reserve(core, begin, controller.cost({"valu": count}), "valu")
        yield from self.digital.execute(kind, elements, core.index)
        now = int(env.now)
        if issued > now:
            yield env.timeout(issued - now)
        core.end(int(env.now))
