"""Operation handlers: what each (phase, kind) of trace record does on the system (stage: sim).

A :class:`Handler` executes the records of one (phase, kind) on one layer, as a SimPy process
body over the units of a :class:`~archsim.hw.system.System`. A :class:`Handlers` registry maps
``(phase, kind)`` to the factory that makes a layer's handler; the engine looks each record up
there and never needs to know what a kind means. Adding a kind of work (a sparse unit's
``mvm``, a new update) is registering a handler::

    handlers = default_handlers().register("forward", "mvm", SparseForward)
    simulate(config, trace, handlers=handlers)

A record whose (phase, kind) has no handler stops the run with one
:class:`~archsim.errors.TraceError` naming the record, the phase and kind, and what the
hardware lacks.

The built-in handlers, for forward (inference) records:

* ``mvm`` (:class:`MatrixForward`): the record's vectors are dealt over the layer's copies and
  sent as jobs to the ports of its crossbar groups (:class:`~archsim.hw.crossbar_group.
  CrossbarGroup`, one SimPy process each), which run their shares as VMM steps whose length the
  tile kind computes (:meth:`~archsim.hw.tile.TileKind.op_cost`), issued by the core of the
  group's tile; the groups of different copies work in parallel; then every core the layer used
  joins the barrier;
* ``relu``, ``maxpool``, ``avgpool``, ``add`` (:class:`DigitalOp`): the vector unit of
  every tile that holds a share of the input, in parallel, after its core issued the ``valu``
  instructions of its share;
* ``flatten`` (:class:`PassThrough`): moves no data, costs nothing.

Time is in integer cycles of the chip clock. Per record a handler books where the time went
(:class:`RunStatistics` ``time_*``): the arrays' own time, the vector units', the controller's;
the schedule books the NoC's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import simpy

from archsim.errors import TraceError
from archsim.hw.controller import Core
from archsim.hw.crossbar_group import CrossbarGroup
from archsim.hw.digital import DIGITAL_KINDS, PASS_KINDS
from archsim.hw.system import GroupHardware, System
from archsim.hw.tile import Charges, OpCost, Tile
from archsim.limits import Limits
from archsim.mapping.crossbar import CrossbarLayout
from archsim.mapping.placement import LayerMapping
from archsim.stats import CHIP, FORWARD, Counter, Tally, TimeWeighted
from archsim.stats.fabric import FabricStatistics
from archsim.stats.timeline import ArrayWork
from archsim.workload.trace import RECORD_KINDS, LayerSpec, OpRecord

__all__ = [
    "DigitalOp",
    "Handler",
    "Handlers",
    "MatrixForward",
    "PassThrough",
    "RecordCost",
    "RunStatistics",
    "Simulation",
    "forward_handlers",
    "split",
]

Process = Generator[simpy.Event, object, None]


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


class RunStatistics:
    """The workload statistics of a run, each with its unit, kept per phase and tile group.

    ``time_*`` say where the records' time went, in cycles summed over records (see the report
    schema): ``time_tile`` the arrays' own time (per matrix record, the longest group's steps
    x operation cycles), ``time_digital`` the vector units' (per digital record, the longest
    share), ``time_controller`` the rest of each record's compute phase (instruction issue,
    stores, barriers, waiting for a shared core), ``time_noc`` the input transfers of matrix
    records not hidden behind other work. In layer-sequential mode the four sum to the run's
    sample latencies.
    """

    def __init__(self, *, training: bool = False, attention: bool = False) -> None:
        self.tile_ops = Counter("tile_ops", "operations", "array activations")
        self.vmm_steps = Counter(
            "vmm_steps", "steps", "sequential VMM steps (the arrays of a layer in parallel)"
        )
        self.macs = Counter("macs", "MACs", "multiply-accumulates performed by the arrays")
        self.vectors = Counter("vectors", "vectors", "input vectors applied to matrix layers")
        self.digital_elements = Counter(
            "digital_elements", "elements", "elements of activation, pooling and add work"
        )
        self.time_tile = Counter("time_tile", "cycles", "the arrays' own time, per record")
        self.time_digital = Counter("time_digital", "cycles", "the vector units' time")
        self.time_controller = Counter(
            "time_controller", "cycles", "instruction issue, stores, barriers, core waits"
        )
        self.time_noc = Counter(
            "time_noc", "cycles", "input transfers of matrix layers not hidden by other work"
        )
        # Exact: latencies are integer cycles, so their histogram stays small.
        self.latency = Tally(
            "latency", "cycles", "start of a sample's first record to the end of its last",
            exact=True,
        )
        self.interval = Tally("interval", "cycles", "time between consecutive completions")
        self.in_flight = TimeWeighted("samples_in_flight", "samples", "samples started, not done")
        #: per matrix layer, cycles from sending a record's jobs until all were done, summed
        self.layer_active_cycles: dict[str, int] = {}
        self.training = training
        # Training work, kept per phase and layer (the group of these counters is the layer).
        self.pulses_w = Counter("pulses_w", "pulses", "device pulses applied to weight arrays W")
        self.pulses_a = Counter(
            "pulses_a", "pulses", "device pulses applied to gradient arrays A"
        )
        self.row_reads = Counter("row_reads", "reads", "transfer row reads of gradient arrays")
        self.cell_writes = Counter(
            "cell_writes", "cells", "cells programmed by write-and-verify"
        )
        self.write_pulses = Counter(
            "write_pulses", "pulses", "SET and RESET pulses of write-and-verify"
        )
        self.verify_reads = Counter("verify_reads", "reads", "verify reads of write-and-verify")
        self.flops = Counter("flops", "FLOPs", "floating-point operations of the update")
        self.memory_bits = Counter("memory_bits", "bits", "bits the update's digital unit moved")
        self.attention = attention
        # Attention's work, on chips with digital PIM modules or special-function units.
        self.pim_macs = Counter(
            "pim_macs", "MACs", "multiply-accumulates of dynamic products on digital PIM"
        )
        self.sfu_elements = Counter(
            "sfu_elements", "elements", "input elements of softmax, LayerNorm and GELU"
        )
        self.time_pim = Counter("time_pim", "cycles", "the digital PIM modules' time")
        self.time_sfu = Counter("time_sfu", "cycles", "the special-function units' time")

    def counters(self) -> tuple[Counter, ...]:
        """Every counter, in report order (the training counters only for a chip that has
        training units)."""
        counters = (
            self.tile_ops, self.vmm_steps, self.macs, self.vectors, self.digital_elements,
            self.time_tile, self.time_digital, self.time_controller, self.time_noc,
        )
        if self.attention:
            counters += (self.pim_macs, self.sfu_elements, self.time_pim, self.time_sfu)
        if self.training:
            counters += (
                self.pulses_w, self.pulses_a, self.row_reads, self.cell_writes,
                self.write_pulses, self.verify_reads, self.flops, self.memory_bits,
            )
        return counters


class Simulation:
    """What handlers and schedules share during one run: the environment, the system, the
    run's statistics and its size budgets."""

    def __init__(self, system: System, limits: Limits) -> None:
        self.env = system.env
        self.system = system
        self.stats = RunStatistics(
            training=system.training is not None,
            attention=bool(system.digital_pim or system.sfu),
        )
        #: the fabric's statistics (None: the system has no fabric)
        self.fabric = FabricStatistics() if system.fabric is not None else None
        self.limits = limits


class Handler:
    """Executes the records of one (phase, kind) on one layer (subclasses: module docstring).

    ``execute`` is a SimPy process body; ``layer`` is the header layer it serves. Two hooks
    tell the schedules what a record needs around it: :meth:`inputs`, the NoC edges whose data
    must arrive before it runs (none by default), and :meth:`size`, its amount of work for the
    controller's program listing.
    """

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        self.sim = sim
        self.layer = layer

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: run ``record``."""
        raise NotImplementedError
        yield  # pragma: no cover - a generator

    def inputs(self, record: OpRecord) -> tuple[tuple[str, str], ...]:
        """The ``(producer, consumer)`` edges whose transfers the layer-sequential schedule
        runs, over the NoC, before ``record`` (:meth:`~archsim.hw.system.System.transfer`)."""
        return ()

    def size(self, record: OpRecord) -> int:
        """The record's work as the program listing counts it (0: nothing to list)."""
        return 0


#: Makes the handler of one layer, or None when the system has no unit for its work (the
#: records then stop the run with one line saying so).
HandlerFactory = Callable[[Simulation, LayerSpec], "Handler | None"]


@dataclass(frozen=True)
class Handlers:
    """A registry of handler factories by ``(phase, kind)``; immutable, so a run's registry is
    a value passed in, never global state. :meth:`register` returns an extended copy."""

    factories: Mapping[tuple[str, str], HandlerFactory]

    def register(self, phase: str, kind: str, factory: HandlerFactory) -> Handlers:
        """A registry with ``factory`` handling ``(phase, kind)`` records (replacing any)."""
        return Handlers(MappingProxyType({**self.factories, (phase, kind): factory}))

    def bind(self, sim: Simulation, layers: tuple[LayerSpec, ...]) -> HandlerTable:
        """Handlers for the records of ``layers`` on ``sim``'s system, made in layer order
        (their units start their SimPy processes in that order)."""
        return HandlerTable(self, sim, layers)


class HandlerTable:
    """One run's handlers by ``(phase, kind, layer)``: those of every registered (phase, kind)
    that applies to a layer's kind are made up front, in layer order."""

    def __init__(self, handlers: Handlers, sim: Simulation, layers: tuple[LayerSpec, ...]) -> None:
        self.handlers = handlers
        self._phases: dict[str, None] = {}
        self._table: dict[tuple[str, str, str], Handler] = {}
        for layer in layers:
            for (phase, kind), factory in handlers.factories.items():
                spec = RECORD_KINDS.get((phase, kind))
                if spec is not None and layer.kind not in spec.layer_kinds:
                    continue
                handler = factory(sim, layer)
                if handler is not None:
                    self._table[phase, kind, layer.name] = handler

    @property
    def phases_run(self) -> tuple[str, ...]:
        """The phases of the records looked up so far, in the order they first came."""
        return tuple(self._phases)

    def __call__(self, record: OpRecord) -> Handler:
        """``record``'s handler.

        Raises:
            TraceError: no handler is registered for the record's (phase, kind).
        """
        handler = self._table.get((record.phase, record.kind, record.layer))
        if handler is None:
            known = sorted({f"{p} {k}" for p, k, _ in self._table})
            if record.phase == FORWARD:
                lacks = "the config has no unit that executes this kind of layer"
            elif self._table and not any(phase != FORWARD for phase, _, _ in self._table):
                lacks = (
                    "the config has no training section (the units of backward and update "
                    "work)"
                )
            else:
                lacks = "archsim has no model of this work"
            raise TraceError(
                f"record {record.index}: no handler for {record.phase} '{record.kind}' "
                f"records (layer '{record.layer}'): this hardware executes "
                f"{', '.join(known)} records; {lacks}"
            )
        self._phases[record.phase] = None
        return handler


# --------------------------------------------------------------------------------------------
# Built-in handlers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPlan:
    """A crossbar group's cost for one input precision: its arrays in lockstep (the longest
    one's cycles, all their actions) and, when the run records a timeline, ``work`` labelling
    its jobs."""

    unit: CrossbarGroup
    cost: OpCost
    work: ArrayWork | None = None


@dataclass(frozen=True)
class RecordCost:
    """What a record of some number of vectors at one input precision costs a matrix layer,
    merged over its crossbar groups, so that accounting for a record counts each action,
    statistic and instruction class once, however many groups the layer has.

    ``jobs`` are ``(plan, steps, index)`` for the groups that have steps to do (``index``
    into the layer's groups) and ``delays`` the cycles each job waits before its first step:
    a layer mapped in passes (an SVD layer's U, then Sigma V^T) streams its vectors through
    them, a group of pass ``p`` starting once the passes before it have done one operation
    each (0 for a layer of one pass); ``events`` the SimPy events their steps take (the budget's
    measure). ``charges`` are the groups' actions and busy instance-cycles times their steps;
    ``crossbars`` the arrays that work (indices into the system's busy array, each once) and
    ``busy_cycles`` the cycles each of them is busy; ``instructions`` the controller's
    ``(class, count)`` over every group's steps. ``tile_ops`` (array activations), ``macs``,
    ``vmm_steps`` (the most steps of a group) and ``tile_cycles`` (the longest group's steps x
    operation cycles) are the record's statistics.
    """

    jobs: tuple[tuple[GroupPlan, int, int], ...]
    delays: tuple[int, ...]
    events: int
    charges: Charges
    crossbars: np.ndarray
    busy_cycles: np.ndarray
    instructions: tuple[tuple[str, int], ...]
    tile_ops: int
    macs: int
    vmm_steps: int
    tile_cycles: int


class MatrixForward(Handler):
    """Forward ``mvm`` records of a mapped matrix layer on its tile group (module docstring)."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        system = sim.system
        assert system.mapping is not None and system.program is not None
        mapping: LayerMapping = system.mapping.layers[layer.name]
        self.mapping = mapping
        self.layout = mapping.layout
        self.group: GroupHardware = system.group(mapping.group)
        controller = system.controller
        self.groups: tuple[CrossbarGroup, ...] = system.crossbar_groups[layer.name]
        # The tile of each array of each group (a kind's cost may depend on its state).
        self._tiles = tuple(
            tuple(system.tile_of(crossbar) for crossbar in placed.crossbars)
            for placed in mapping.groups
        )
        self._inputs = tuple(
            edge for edge in system.program.transfers if edge[1] == layer.name
        )
        steps = system.program.steps[layer.name]
        self.steps = steps
        self.cores = tuple(controller.core_of(step.tile) for step in steps)
        self._core_set = tuple(dict.fromkeys(self.cores))
        # Core cycles per step: load + trigger before it, the loop instruction during it, and
        # the stores of each step's outputs.
        self._issue = tuple(controller.cost({"load": s.load, "mvm": s.mvm}) for s in steps)
        self._retire = tuple(controller.cost({"loop": s.loop}) for s in steps)
        self._store = tuple(controller.cost({"store": s.store}) for s in steps)
        self._barrier = controller.cost({"barrier": 1})
        # The instructions of one step, as the controller tallies them.
        self._mix = tuple(
            (("load", s.load), ("mvm", s.mvm), ("store", s.store), ("loop", s.loop))
            for s in steps
        )
        # Each group's crossbars, as an index into the system's busy array, and their number.
        self._crossbars = tuple(
            np.asarray(placed.crossbars, dtype=np.intp) for placed in mapping.groups
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
        #: the pass of each group (all 0 but for a layer mapped in passes)
        self._stages = tuple(placed.stage for placed in mapping.groups)
        self._plans: dict[int, tuple[GroupPlan, ...]] = {}
        self._record_costs: dict[tuple[int, int], RecordCost] = {}
        sim.stats.layer_active_cycles.setdefault(layer.name, 0)

    def inputs(self, record: OpRecord) -> tuple[tuple[str, str], ...]:
        """The transfers of the layer's input activations (forward records)."""
        return self._inputs

    def size(self, record: OpRecord) -> int:
        """The record's input vectors."""
        return record.vectors

    def plans(self, input_bits: int) -> tuple[GroupPlan, ...]:
        """Per-group costs for ``input_bits``-bit inputs (computed once per precision, or
        every time for a kind whose tiles' state changes the cost)."""
        plans = self._plans.get(input_bits)
        if plans is None:
            kind = self.group.kind
            built = []
            for unit, tiles in zip(self.groups, self._tiles):
                layouts = unit.placed.layouts
                cost = OpCost.together(
                    self.cost(lay, input_bits, tile) for lay, tile in zip(layouts, tiles)
                )
                work = None
                if self.sim.system.timeline is not None:
                    phases = tuple(
                        kind.conversion_phases(lay, input_bits, tile)
                        for lay, tile in zip(layouts, tiles)
                    )
                    work = ArrayWork(self.mapping.name, phases)
                built.append(GroupPlan(unit, cost, work))
            plans = tuple(built)
            if not kind.STATEFUL:
                self._plans[input_bits] = plans
        return plans

    def cost(self, layout: CrossbarLayout, input_bits: int, tile: Tile) -> OpCost:
        """One operation of an array holding ``layout`` (the hook a transposed read
        overrides)."""
        return self.group.kind.op_cost(layout, input_bits, tile)

    def count_data(self, record: OpRecord) -> None:
        """Count the record's data-dependent work (cells conducting, partial sums merged,
        buffer accesses) on the layer's tile kind."""
        self.group.kind.count_layer(
            self.mapping, record.vectors, record.input_bits, self.sim.system.act_bits,
            record.bitplane_nz, record.input_nz, record.phase,
        )

    def shares(self, vectors: int) -> list[dict[int, int]]:
        """Vectors per copy, per group: dealt round-robin over the layer's copies."""
        base, extra = divmod(vectors, self.layout.copies)
        return [
            {copy: base + (copy < extra) for copy in group.copies} for group in self.mapping.groups
        ]

    def record_cost(self, input_bits: int, vectors: int) -> RecordCost:
        """What a record of ``vectors`` ``input_bits``-bit vectors costs the layer (computed
        once per pair, or every time for a kind whose tiles' state changes the cost)."""
        key = input_bits, vectors
        cost = self._record_costs.get(key)
        if cost is None:
            cost = self._merge(self.plans(input_bits), self.shares(vectors))
            # A trace repeats few vector counts per layer; a bound keeps any trace's memory.
            if not self.group.kind.STATEFUL and len(self._record_costs) < 64:
                self._record_costs[key] = cost
        return cost

    def _merge(self, plans: tuple[GroupPlan, ...], shares: list[dict[int, int]]) -> RecordCost:
        """The groups' ``plans`` run for their ``shares`` of vectors, merged."""
        jobs = []
        steps_of = []
        macs = 0
        for index, (plan, share, copy_macs) in enumerate(zip(plans, shares, self._copy_macs)):
            steps = max(share.values())  # packed copies step in lockstep
            steps_of.append(steps)
            if steps:
                macs += sum(n * copy_macs[copy] for copy, n in share.items())
                jobs.append((plan, steps, index))
        delays = self._delays(jobs)
        busy: dict[int, int] = {}
        instructions: dict[str, int] = {}
        for plan, steps, index in jobs:
            # Each array of a group once, as adding to a numpy fancy index counts it.
            for crossbar in dict.fromkeys(self._crossbars[index].tolist()):
                busy[crossbar] = busy.get(crossbar, 0) + steps * plan.cost.cycles
            for op, n in self._mix[index]:
                instructions[op] = instructions.get(op, 0) + steps * n
        # A timed controller costs one event per step of each group, an untimed one one per
        # group (:class:`~archsim.hw.crossbar_group.CrossbarGroup`).
        timed = self.sim.system.controller.timed
        return RecordCost(
            jobs=tuple(jobs),
            delays=delays,
            events=sum(steps_of) if timed else len(steps_of),
            charges=Charges.of((plan.cost, steps) for plan, steps, _ in jobs),
            crossbars=np.fromiter(busy, dtype=np.intp, count=len(busy)),
            busy_cycles=np.fromiter(busy.values(), dtype=np.int64, count=len(busy)),
            instructions=tuple(instructions.items()),
            tile_ops=sum(steps * len(self._crossbars[index]) for _, steps, index in jobs),
            macs=macs,
            vmm_steps=max(steps for _, steps, _ in jobs),
            tile_cycles=max(
                delay + plan.cost.cycles * steps for (plan, steps, _), delay in zip(jobs, delays)
            ),
        )

    def _delays(self, jobs: list[tuple[GroupPlan, int, int]]) -> tuple[int, ...]:
        """Each job's wait before its first step. A layer of one pass has none. In a layer
        mapped in passes, a job of pass ``p`` streams the vectors pass ``p - 1`` produces: its
        first step once that pass's first results are out, and its last step no earlier than
        one operation after that pass's last results (a pass faster than the one before
        waits for its inputs), so job ``j`` of ``s`` steps of ``c`` cycles waits ``max(first,
        end + c - s c)``, with ``first`` and ``end`` the previous pass's first and last
        results."""
        stages = sorted({self._stages[index] for _, _, index in jobs})
        if len(stages) < 2:
            return (0,) * len(jobs)
        delays = [0] * len(jobs)
        first = end = 0
        for number, stage in enumerate(stages):
            mine = [j for j, (_, _, index) in enumerate(jobs) if self._stages[index] == stage]
            for j in mine:
                plan, steps, _ = jobs[j]
                cycles = plan.cost.cycles
                delays[j] = max(first, end + cycles - steps * cycles) if number else 0
            first = max(delays[j] + jobs[j][0].cost.cycles for j in mine)
            end = max(delays[j] + jobs[j][0].cost.cycles * jobs[j][1] for j in mine)
        return tuple(delays)

    def execute(self, record: OpRecord) -> Process:
        """SimPy process body: send one ``mvm`` record's share to each crossbar group's port,
        wait until every group has done its steps (the copies work in parallel), then let
        every core the layer used join the barrier."""
        sim = self.sim
        env, controller = sim.env, sim.system.controller
        cost = self.record_cost(record.input_bits, record.vectors)
        self._check_budget(record, cost.events)
        begin = int(env.now)
        for core in self._core_set:
            core.begin(begin)
        done = [
            plan.unit.submit(
                steps, plan.cost.cycles, self.cores[index],
                issue=self._issue[index], retire=self._retire[index],
                store=self._store[index], work=plan.work, delay=delay,
            )
            for (plan, steps, index), delay in zip(cost.jobs, cost.delays)
        ]
        yield done[0] if len(done) == 1 else env.all_of(done)
        barrier = self._barrier
        now = int(env.now)
        end = now
        phase = record.phase
        for core in self._core_set:
            controller.tally("barrier", 1, phase=phase)
            end = max(end, controller.reserve(core, now, barrier, "barrier"))
        if end > now:
            yield env.timeout(end - now)
        finish = int(env.now)
        for core in self._core_set:
            core.end(finish)
        sim.stats.layer_active_cycles[self.layer.name] += finish - begin
        stats = sim.stats
        stats.time_tile.add(cost.tile_cycles, phase, self.group.name)
        stats.time_controller.add(finish - begin - cost.tile_cycles, phase, CHIP)
        self._account(record, cost)

    def _check_budget(self, record: OpRecord, events: int) -> None:
        """Refuse a record whose steps would take more than the budget's ``events``."""
        if events > self.sim.limits.events:
            self.sim.limits.check(
                "events", events,
                f"record {record.index} ({record.vectors:,} vectors on layer '{record.layer}')",
            )

    def _account(self, record: OpRecord, cost: RecordCost) -> None:
        """Count ``record``'s work, costing ``cost``: one count per action, statistic and
        instruction class, then its data-dependent work."""
        system, stats, phase = self.sim.system, self.sim.stats, record.phase
        name = self.group.name
        cost.charges.charge(phase)
        system.crossbar_busy[cost.crossbars] += cost.busy_cycles
        system.controller.tally_steps(cost.instructions, 1, phase)
        stats.tile_ops.add(cost.tile_ops, phase, name)
        stats.macs.add(cost.macs, phase, name)
        stats.vmm_steps.add(cost.vmm_steps, phase, name)
        stats.vectors.add(record.vectors, phase, name)
        self.count_data(record)


class DigitalOp(Handler):
    """Activation, pooling and add records on the vector units (module docstring), forward
    or backward: a backward record's elements cost what the forward operation's do."""

    def __init__(self, sim: Simulation, layer: LayerSpec) -> None:
        super().__init__(sim, layer)
        program = sim.system.program
        # Without a mapped program (a fabric without crossbar tiles) tile 0's core issues it.
        self.shares = program.shares.get(layer.name, ((0, 1.0),)) if program else ((0, 1.0),)
        self._per_core: dict[int, tuple[tuple[Core, int], ...]] = {}

    def per_core(self, elements: int) -> tuple[tuple[Core, int], ...]:
        """``elements`` split over the cores of the tiles holding the input, by their shares
        (remembered for the few element counts a trace repeats)."""
        cached = self._per_core.get(elements)
        if cached is not None:
            return cached
        controller = self.sim.system.controller
        per_core: dict[Core, int] = {}
        for (tile, _), part in zip(self.shares, split(elements, [p for _, p in self.shares])):
            core = controller.core_of(tile)
            per_core[core] = per_core.get(core, 0) + part
        result = tuple(per_core.items())
        if len(self._per_core) < 64:
            self._per_core[elements] = result
        return result

    def size(self, record: OpRecord) -> int:
        """The record's elements."""
        return record.elements

    def execute(self, record: OpRecord) -> Process:
        """Run a digital record on the vector units of the tiles holding its input, in
        parallel, each after its core issued the ``valu`` instructions of its share."""
        sim = self.sim
        env, system = sim.env, sim.system
        controller, digital = system.controller, system.digital
        phase = record.phase
        sim.stats.digital_elements.add(record.elements, phase, CHIP)
        lanes = system.config.digital.lanes
        begin = int(env.now)
        processes = []
        longest = 0
        enabled = digital.config.enabled
        for core, elements in self.per_core(record.elements):
            if not elements:
                continue
            count = -(-elements // lanes)
            # A disabled vector unit's work is counted, neither timed nor charged: its valu
            # instructions too.
            controller.tally("valu", count, charged=enabled, phase=phase)
            if not enabled:
                continue
            core.begin(begin)
            processes.append(
                env.process(self._share(core, record.kind, elements, count, phase))
            )
            longest = max(longest, digital.cycles(record.kind, elements))
        if processes:
            yield processes[0] if len(processes) == 1 else env.all_of(processes)
        finish = int(env.now)
        sim.stats.time_digital.add(longest, phase, CHIP)
        sim.stats.time_controller.add(finish - begin - longest, phase, CHIP)

    def _share(self, core: Core, kind: str, elements: int, count: int, phase: str) -> Process:
        env, system = self.sim.env, self.sim.system
        controller = system.controller
        begin = int(env.now)
        # The core issues the valu instructions while its vector unit works on them.
        issued = controller.reserve(core, begin, controller.cost({"valu": count}), "valu")
        yield from system.digital.execute(kind, elements, core.index, phase)
        now = int(env.now)
        if issued > now:
            yield env.timeout(issued - now)
        core.end(int(env.now))


class PassThrough(Handler):
    """Records that move no data and cost nothing (``flatten``)."""

    def execute(self, record: OpRecord) -> Process:
        """Nothing to do."""
        return
        yield  # pragma: no cover - a generator


def _matrix_forward(sim: Simulation, layer: LayerSpec) -> MatrixForward | None:
    """The matrix layer's handler, or None on a chip without mapped crossbars."""
    return None if sim.system.mapping is None else MatrixForward(sim, layer)


def forward_handlers() -> Handlers:
    """The built-in forward handlers: matrix, digital and pass-through records (every run
    gets them and the training ones: :func:`archsim.sim.registry.default_handlers`)."""
    table: dict[tuple[str, str], HandlerFactory] = {(FORWARD, "mvm"): _matrix_forward}
    table.update({(FORWARD, kind): DigitalOp for kind in DIGITAL_KINDS})
    table.update({(FORWARD, kind): PassThrough for kind in PASS_KINDS})
    return Handlers(MappingProxyType(table))
