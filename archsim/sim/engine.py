"""The schedules: ``simulate(config, trace, seed) -> SimResult`` (stage: sim).

The engine streams a trace, maps its network onto the configured chip
(:func:`archsim.mapping.placement.map_network`), has the hardware stage build the system
(:func:`archsim.hw.system.build_system`) and replays the records on it, each through the
handler registered for its (phase, kind) (:mod:`archsim.sim.handlers`), in one of two
schedules:

* **layer-sequential** (default): one input at a time; every record of a sample runs to
  completion before the next starts, a matrix layer's input activations crossing the NoC just
  before it. Latency = the sample's span; throughput = samples / run time.
* **layer-pipelined** (``mapping.pipeline: true``): one SimPy process per layer (a *stage*); a
  stage takes sample ``s`` once every producer has finished ``s`` and its activations have
  arrived. A producer passes a sample on through a buffer of ``mapping.pipeline_depth``
  samples: once the buffer has room (back-pressure) its packets leave for the consumer's tiles,
  so transfers overlap the consumer's work on earlier samples. ``mapping.samples_in_flight``
  bounds the samples admitted at once (None: as many as the buffers allow; 1: each sample
  flows through the layers as soon as its inputs are ready, the next one entering when it is
  done). Throughput is the steady-state rate, measured from the gaps between completions (with
  a single sample, from the slowest stage's service).

The trace is read lazily, one sample at a time, so memory does not grow with the trace length.
``simulate`` is a pure function of its inputs: the same config, trace and seed give the same
result, field for field. Given a :class:`~archsim.stats.timeline.Timeline`, it also records what
every component did (the result is the same with or without one). Synthetic NoC traffic runs on
the same system with :func:`archsim.sim.traffic.drive_traffic`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from types import MappingProxyType

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig, MappingConfig
from archsim.errors import ConfigError, MappingError, TraceError
from archsim.hw.component import Component
from archsim.hw.system import System, build_system
from archsim.limits import DEFAULT_LIMITS, LimitError, Limits
from archsim.mapping.placement import map_network
from archsim.mapping.traffic import hop_weighted_traffic
from archsim.sim.handlers import (
    Handler,
    Handlers,
    HandlerTable,
    Process,
    Simulation,
)
from archsim.sim.registry import default_handlers
from archsim.sim.result import (
    ControllerResult,
    FabricResult,
    GroupResult,
    LayerResult,
    NocResult,
    PartResult,
    SimResult,
    TrafficResult,
    TrainingResult,
)
from archsim.stats import FORWARD, ComponentResult, Tally, TallySummary
from archsim.stats.timeline import Timeline
from archsim.workload.trace import NetworkSpec, OpRecord, TraceReader

__all__ = ["naming_config", "program_listing", "simulate"]

#: A record with its handler.
Step = tuple[OpRecord, Handler]


@contextlib.contextmanager
def naming_config(source: str | None) -> Iterator[None]:
    """Prefix the config file ``source`` to the errors that building the mapping and the
    hardware raise about the config (its fields, sizes and fit); nothing when None."""
    try:
        yield
    except (ConfigError, MappingError, LimitError) as error:
        message = str(error)
        if source is None or message.startswith(source):
            raise
        raise type(error)(f"{source}: {message}") from None


def simulate(
    config: HardwareConfig,
    trace: str | os.PathLike[str],
    seed: int = 0,
    *,
    timeline: Timeline | None = None,
    progress: Callable[[], None] | None = None,
    handlers: Handlers | None = None,
    limits: Limits = DEFAULT_LIMITS,
    config_source: str | None = None,
) -> SimResult:
    """Replay ``trace`` on the hardware ``config``.

    ``seed`` (>= 0) is recorded in the result; no model in this version draws random numbers
    (device variation, which will, takes a ``numpy.random.Generator`` built from it).
    ``timeline`` (a fresh :class:`~archsim.stats.timeline.Timeline`) records the components'
    spans; write it with :func:`archsim.report.timeline.write_timeline`. ``progress`` is
    called once per completed sample (a progress bar's ``advance``); it changes no result.
    ``handlers`` is the registry of operation handlers (default :func:`default_handlers`);
    ``limits`` the size budgets; ``config_source`` names the config file in the errors that
    mapping and building the hardware raise.

    Raises :class:`~archsim.errors.TraceError` for a malformed trace or a record no handler
    executes, :class:`~archsim.errors.MappingError` for a network that does not fit the chip,
    :class:`~archsim.limits.LimitError` for a request over a size budget.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    source = os.fspath(trace)
    with TraceReader(trace) as reader:
        network = reader.header.network
        env = simpy.Environment()
        with naming_config(config_source):
            # A fabric without crossbar tiles runs the matrix layers from DRAM: no mapping.
            mapping = map_network(network, config, limits) if config.groups else None
            system = build_system(env, config, network, mapping, timeline=timeline, limits=limits)
        _check_packets(system, reader.header.samples, source, limits)
        if timeline is not None:
            if mapping is None:
                raise ConfigError(
                    f"{config_source or config.name}: a timeline records crossbar arrays, and "
                    "this fabric has none; run without one"
                )
            timeline.begin_run(config, mapping, reader.header.model)
        sim = Simulation(system, limits)
        table = (handlers or default_handlers()).bind(sim, network.layers)
        samples = _samples(iter(reader), network, reader.header.samples, source, table)
        completions = _Completions(sim, timeline, progress)
        # Units built at first use (a fabric's layers) may refuse the config mid-run, and
        # handlers a record: the message names the file either way.
        with naming_config(config_source), _naming_trace(source):
            if config.mapping.pipeline:
                pipeline = _Pipeline(sim, network, config.mapping, completions)
                env.process(pipeline.dispatch(samples))
                env.run()
                interval = completions.interval(pipeline.slowest_stage_cycles())
            else:
                env.process(_sequential(sim, samples, completions))
                env.run()
                interval = env.now / max(1, completions.latency.count)
        if system.noc is not None:
            system.noc.check_drained("activation packets")
        if completions.latency.count != reader.header.samples:
            raise TraceError(
                f"{source}: header promises {reader.header.samples} samples, "
                f"{completions.latency.count} completed"
            )
        model = reader.header.model
    if timeline is not None:
        timeline.end_run(int(env.now))
    return sim_result(
        sim, model=model, seed=seed,
        mode="pipelined" if config.mapping.pipeline else "sequential",
        samples=completions.latency.count, latency=completions.latency.summary(),
        first_latency=completions.first_latency, interval=float(interval),
        phases=table.phases_run,
    )


@contextlib.contextmanager
def _naming_trace(source: str) -> Iterator[None]:
    """Prefix the trace file ``source`` to the trace errors raised inside (once)."""
    try:
        yield
    except TraceError as error:
        message = str(error)
        if message.startswith(source):
            raise
        raise TraceError(f"{source}: {message}") from None


def _check_packets(system: System, samples: int, source: str, limits: Limits) -> None:
    """Refuse a run whose NoC transfers (every sample moves the same packets) would send more
    packets than the budget, before any is sent."""
    if system.interface is None or system.program is None:
        return
    interface = system.interface
    per_sample = interface.units(
        transfer for transfers in system.program.transfers.values() for transfer in transfers
    )
    limits.check(
        interface.BUDGET, per_sample * samples,
        f"{source}: {samples:,} samples x {per_sample:,} {interface.BUDGET} over the NoC",
    )


def program_listing(
    config: HardwareConfig,
    trace: str | os.PathLike[str],
    limits: Limits = DEFAULT_LIMITS,
    *,
    config_source: str | None = None,
) -> str:
    """The controller's instruction stream for one sample of ``trace``'s network mapped on
    ``config``, as assembly-like text (see :mod:`archsim.mapping.program`).

    The whole trace is read and checked first, with the records a run would refuse refused
    here too: a listing is only printed for a trace the simulator would run.
    """
    with TraceReader(trace) as reader:
        network = reader.header.network
        with naming_config(config_source):
            mapping = map_network(network, config, limits)
            system = build_system(simpy.Environment(), config, network, mapping, limits=limits)
        table = default_handlers().bind(Simulation(system, limits), network.layers)
        counts: dict[str, int] = {}
        for sample, steps in _samples(
            iter(reader), network, reader.header.samples, os.fspath(trace), table
        ):
            if sample == 0:
                for record, handler in steps:
                    counts[record.layer] = handler.size(record)
    assert system.program is not None
    core_of = {t: system.controller.core_of(t).index for t in range(config.tiles)}
    return system.program.listing(network, core_of, counts)


# --------------------------------------------------------------------------------------------
# Trace streaming
# --------------------------------------------------------------------------------------------


def _samples(
    records: Iterator[OpRecord],
    network: NetworkSpec,
    expected: int,
    source: str,
    table: HandlerTable,
) -> Iterator[tuple[int, tuple[Step, ...]]]:
    """Group the record stream by sample, each record with its handler. The reader has checked
    the order (samples from 0 without gaps, a sample's forward records on every layer once, in
    network order); a record no handler executes stops the run here, before it is scheduled."""
    current: list[Step] = []
    sample = 0
    with _naming_trace(source):
        for record in records:
            handler = table(record)
            if record.sample != sample:
                yield sample, tuple(current)
                sample, current = record.sample, []
            current.append((record, handler))
    if current:
        yield sample, tuple(current)
        sample += 1
    if sample != expected:  # the reader checks it too; a cheap guard for other record sources
        raise TraceError(f"{source}: trace holds {sample} samples but its header says {expected}")


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


class _Completions:
    """Start and finish times per sample: latency, inter-completion gaps and samples in flight.
    A ``timeline`` hears of every start and finish (its window is set in samples),
    ``progress`` of every finish."""

    def __init__(
        self,
        sim: Simulation,
        timeline: Timeline | None = None,
        progress: Callable[[], None] | None = None,
    ) -> None:
        self.timeline = timeline
        self.progress = progress
        stats = sim.stats
        self.latency: Tally = stats.latency
        self.gaps: Tally = stats.interval
        self.in_flight = stats.in_flight
        self._started: dict[int, int] = {}
        self._last_finish: int | None = None
        self.first_latency = 0
        #: fires when a sample completes (for schedules that bound the samples in flight)
        self.done: Callable[[int], None] | None = None

    def start(self, sample: int, now: int) -> None:
        if sample in self._started:
            return
        self._started[sample] = now
        self.in_flight.change(now, 1)
        if self.timeline is not None:
            self.timeline.sample_started(sample, now)

    def finish(self, sample: int, now: int) -> None:
        if self.timeline is not None:
            self.timeline.sample_finished(sample, now)
        latency = now - self._started.pop(sample)
        self.in_flight.change(now, -1)
        if not self.latency.count:
            self.first_latency = latency
        self.latency.observe(latency)
        if self._last_finish is not None:
            self.gaps.observe(now - self._last_finish)
        if self.progress is not None:
            self.progress()
        self._last_finish = now
        if self.done is not None:
            self.done(sample)

    def interval(self, fallback: float) -> float:
        """Steady-state interval: mean gap between completions, or ``fallback`` for one sample."""
        return self.gaps.mean if self.gaps.count else fallback


def _sequential(
    sim: Simulation, samples: Iterator[tuple[int, tuple[Step, ...]]], completions: _Completions
) -> Process:
    env, system, stats = sim.env, sim.system, sim.stats
    for sample, steps in samples:
        completions.start(sample, int(env.now))
        for record, handler in steps:
            edges = handler.inputs(record)
            if edges:
                # The record's input data travel first.
                begin = int(env.now)
                events = [
                    event for edge in edges
                    if (event := system.transfer(edge, record.phase, record.vectors or None))
                    is not None
                ]
                if events:
                    yield events[0] if len(events) == 1 else env.all_of(events)
                stats.time_noc.add(int(env.now) - begin, record.phase)
            yield from handler.execute(record)
        completions.finish(sample, int(env.now))


class _Stage:
    """One layer as a pipeline stage: its record queue, input buffers and consumers."""

    def __init__(self, env: simpy.Environment, name: str, depth: int) -> None:
        self.name = name
        self.records = simpy.Store(env, capacity=depth)
        self.inboxes: list[simpy.Store] = []
        self.outboxes: list[tuple[str, simpy.Store]] = []  # (consumer stage, its input buffer)
        self.entry = False
        self.service = Tally(name, "cycles", "service time per sample")


class _Pipeline:
    """Layer-pipelined execution: one process per stage, buffers of ``depth`` samples, at most
    ``samples_in_flight`` samples admitted at once (None: no bound but the buffers).

    Forward records flow through the stages as activations do: a stage takes a sample once its
    inputs have arrived and passes its outputs on. A sample's other records (``backward``,
    ``update``) run on their layer's stage too, but in trace order after the sample's forward
    pass: each waits for the record before it (the first for the last exit stage), which is
    the data dependence of a gradient travelling back. The sample completes with its last
    record.
    """

    def __init__(
        self, sim: Simulation, network: NetworkSpec, mapping_config: MappingConfig,
        completions: _Completions,
    ) -> None:
        env = sim.env
        depth = mapping_config.pipeline_depth
        self.sim = sim
        self.env = env
        self.completions = completions
        self.stages = {layer.name: _Stage(env, layer.name, depth) for layer in network.layers}
        for layer in network.layers:
            stage = self.stages[layer.name]
            for source in layer.inputs:
                if source == "input":
                    stage.entry = True
                    continue
                box = simpy.Store(env, capacity=depth)
                stage.inboxes.append(box)
                self.stages[source].outboxes.append((layer.name, box))
        self.exits = [s for s in self.stages.values() if not s.outboxes]
        self._exit_count: dict[int, int] = {}
        # Per sample in flight, the input vectors of each layer's forward record (its inputs'
        # transfers scale with them, System.transfer).
        self._vectors: dict[int, dict[str, int]] = {}
        # Per sample with records after its forward pass: fires when the pass is done.
        self._forward_done: dict[int, simpy.Event] = {}
        bound = mapping_config.samples_in_flight
        self._admission = simpy.Resource(env, capacity=bound) if bound else None
        self._admitted: dict[int, simpy.events.Event] = {}
        if self._admission is not None:
            completions.done = self._release

    def dispatch(self, samples: Iterator[tuple[int, tuple[Step, ...]]]) -> Process:
        """Feed each stage its records, sample by sample (bounded by the stage queues and by
        the samples admitted at once)."""
        started = False
        for sample, steps in samples:
            if not started:
                for stage in self.stages.values():
                    self.env.process(self._run(stage))
                started = True
            if self._admission is not None:
                request = self._admission.request()
                yield request
                self._admitted[sample] = request
            self._vectors[sample] = {
                record.layer: record.vectors for record, _ in steps
                if record.phase == FORWARD and record.vectors
            }
            # After the forward pass (every exit stage done), the other records one by one;
            # the last of them completes the sample.
            tail = [record for record, _ in steps if record.phase != FORWARD]
            after: simpy.Event | None = None
            if tail:
                after = self._forward_done[sample] = self.env.event()
            for record, handler in steps:
                if record.phase == FORWARD:
                    yield self.stages[record.layer].records.put((record, handler, None, None))
                    continue
                done = self.env.event()
                if record is tail[-1]:
                    done.callbacks.append(
                        lambda _, sample=sample: self.completions.finish(sample, int(self.env.now))
                    )
                yield self.stages[record.layer].records.put((record, handler, after, done))
                after = done

    def _release(self, sample: int) -> None:
        assert self._admission is not None
        self._admission.release(self._admitted.pop(sample))

    def _run(self, stage: _Stage) -> Process:
        env, system, completions = self.env, self.sim.system, self.completions
        stats = self.sim.stats
        from_input = ("input", stage.name)
        while True:
            record, handler, after, done = yield stage.records.get()
            if after is not None:
                # A backward or update record: once the record before it in its sample is
                # done, on this stage's hardware.
                if not after.processed:
                    yield after
                yield from handler.execute(record)
                done.succeed()
                continue
            if stage.entry:
                completions.start(record.sample, int(env.now))
            # The network input, when it arrives over the NoC, travels as the stage takes its
            # record; activations from other stages are already on their way.
            inflow = (
                system.transfer(from_input, record.phase, record.vectors or None)
                if stage.entry else None
            )
            for box in stage.inboxes:
                arrived = yield box.get()
                if not arrived.processed:
                    # The input is still on the NoC: the part of its transfer not hidden
                    # behind this stage's previous work.
                    begin = env.now
                    yield arrived
                    stats.time_noc.add(int(env.now - begin), record.phase)
            if inflow is not None and not inflow.processed:
                begin = env.now
                yield inflow
                stats.time_noc.add(int(env.now - begin), record.phase)
            begin = env.now
            yield from handler.execute(record)
            stage.service.observe(env.now - begin)
            for consumer, box in stage.outboxes:
                # Room in the consumer's input buffer first (back-pressure), then the packets
                # go: the consumer takes the sample once they have arrived.
                arrived = env.event()
                yield box.put(arrived)
                transfer = system.transfer(
                    (stage.name, consumer), record.phase,
                    self._vectors.get(record.sample, {}).get(consumer),
                )
                if transfer is None:
                    arrived.succeed()
                else:
                    transfer.callbacks.append(lambda _, done=arrived: done.succeed())
            if not stage.outboxes:
                self._finish_exit(record.sample)

    def _finish_exit(self, sample: int) -> None:
        done = self._exit_count.get(sample, 0) + 1
        if done == len(self.exits):
            self._exit_count.pop(sample, None)
            self._vectors.pop(sample, None)
            after = self._forward_done.pop(sample, None)
            if after is None:
                self.completions.finish(sample, int(self.env.now))
            else:
                after.succeed()
        else:
            self._exit_count[sample] = done

    def slowest_stage_cycles(self) -> float:
        """Mean service time of the slowest stage (the steady-state interval bound)."""
        return max((s.service.mean for s in self.stages.values()), default=0.0)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


def component_result(component: Component) -> ComponentResult:
    """The frozen counts of one component bank, with its declared per-action energies."""
    kind = component.KIND
    return ComponentResult(
        kind=kind,
        instances=component.instances,
        instances_used=component.instances_used,
        timed=component.TIMED,
        busy_cycles=component.busy_cycles,
        actions=MappingProxyType(component.action_counts()),
        group=component.group,
        part=component.part,
        energy_per_action_j=MappingProxyType(
            {f"{kind}.{name}": action.energy_j for name, action in component.actions.items()}
        ),
        actions_by_phase=MappingProxyType({
            phase: MappingProxyType({f"{kind}.{a}": n for a, n in counts.items()})
            for phase, counts in component.counts_by_phase().items()
        }),
        busy_by_phase=MappingProxyType(dict(component.busy_by_phase())),
        descriptions=MappingProxyType(
            {f"{kind}.{name}": action.description for name, action in component.actions.items()}
        ),
    )


def _packet_data_bits(system: System) -> int:
    """The payload of the run's largest packet: the activation packets' (``mapping.
    packet_data_bits`` or its default), or, when every transfer is a routed block (a
    ScRRAMBLe trace), the largest block's."""
    if system.program is None or system.traffic is None:  # a program comes with its traffic
        return 0
    flows = [flow for flows in system.traffic.flows.values() for flow in flows]
    if flows and all(flow.packet_bits for flow in flows):
        return max(flow.packet_bits for flow in flows)
    return system.program.packet_bits


def _noc_result(system: System, cycles: int, placement: str) -> NocResult | None:
    network, config = system.noc, system.config.noc
    if network is None or config is None:
        return None
    cycles = max(1, cycles)
    links = network.link_flits
    bit_hops = in_order = None
    if system.traffic is not None and system.hops is not None:
        matrix = system.traffic.matrix
        bit_hops = hop_weighted_traffic(matrix, system.hops, system.nodes)
        in_order = hop_weighted_traffic(matrix, system.hops, tuple(range(len(system.nodes))))
    latency = network.latency.summary()
    return NocResult(
        topology=config.topology,
        flow_control=config.flow_control,
        routers=network.topology.nodes,
        placement=placement,
        dims=tuple(config.dims),
        nodes=system.nodes,
        packet_data_bits=_packet_data_bits(system),
        packets=int(network.packets.value),
        flits=int(network.flits_delivered),
        header_bits=int(network.header_bits.value),
        data_bits=int(network.data_bits.value),
        latency=latency,
        latency_p50=latency.p50 or 0.0,
        latency_p99=latency.p99 or 0.0,
        link_utilization_mean=float(links.mean() / cycles) if links.size else 0.0,
        link_utilization_max=float(links.max() / cycles) if links.size else 0.0,
        link_utilization=tuple(float(f) / cycles for f in links),
        links=network.topology.links,
        bit_hops=bit_hops,
        bit_hops_in_order=in_order,
        packets_injected=network.packets_injected,
        packets_delivered=network.packets_delivered,
        flits_injected=network.flits_injected,
        flits_delivered=network.flits_delivered,
        header_bits_per_packet=network.format.header_bits,
        chunk_index_bits=network.format.chunk_index_bits,
    )


def sim_result(
    sim: Simulation,
    *,
    model: str,
    seed: int,
    mode: str,
    samples: int,
    latency: TallySummary,
    first_latency: int,
    interval: float,
    phases: tuple[str, ...] = (),
    traffic: TrafficResult | None = None,
) -> SimResult:
    """The frozen result of a run on ``sim``'s system (every schedule ends here)."""
    system, stats, env = sim.system, sim.stats, sim.env
    config = system.config
    mapping = system.mapping
    total = int(env.now)
    controller = system.controller
    tile_busy = np.zeros(mapping.tile_span if mapping else 0, dtype=np.int64)
    if mapping is not None:
        np.add.at(
            tile_busy, np.asarray(mapping.crossbar_tile, dtype=np.int64), system.crossbar_busy
        )
    statistics = (
        *(counter.summary() for counter in stats.counters()),
        stats.latency.summary(),
        stats.interval.summary(),
        stats.in_flight.summary(total),
    )
    if sim.fabric is not None:
        statistics += (
            *(counter.summary() for counter in sim.fabric.counters()),
            sim.fabric.imbalance.summary(), sim.fabric.imbalance_other.summary(),
        )
    if system.noc is not None:
        noc = system.noc
        statistics += (
            noc.packets.summary(), noc.flits.summary(), noc.header_bits.summary(),
            noc.data_bits.summary(), noc.latency.summary(),
        )
    groups = tuple(
        GroupResult(
            name=group.name, kind=group.kind.KIND, first_tile=group.first_tile,
            tiles=group.tiles,
            tiles_used=len({t for t in (mapping.crossbar_tile if mapping else ())
                            if group.first_tile <= t < group.first_tile + group.tiles}),
            crossbars=group.spec.crossbars, crossbars_used=group.kind.used,
        )
        for group in system.groups
    )
    return SimResult(
        config_name=config.name,
        model=model,
        seed=seed,
        mode=mode,
        clock_hz=config.chip.clock_hz,
        samples=samples,
        total_cycles=total,
        latency=latency,
        first_latency_cycles=first_latency,
        interval_cycles=interval,
        crossbars=mapping.crossbars if mapping else 0,
        crossbars_available=config.crossbars,
        tiles=config.tiles,
        tiles_used=mapping.tiles_used if mapping else 0,
        digital_enabled=config.digital.enabled,
        components=tuple(component_result(c) for c in system.components()),
        layers=tuple(
            LayerResult(
                name=name,
                rows=layer.layout.rows,
                cols=layer.layout.cols,
                crossbars=layer.crossbars,
                copies=layer.layout.copies,
                copies_per_array=0 if layer.parts else layer.layout.copies_per_array,
                row_splits=0 if layer.parts else layer.layout.row_splits,
                col_splits=0 if layer.parts else layer.layout.col_splits,
                active_cycles=stats.layer_active_cycles.get(name, 0),
                group=layer.group,
                parts=tuple(
                    PartResult(
                        part.name, part.mode, part.stage, part.layout.rows, part.layout.cols,
                        part.layout.crossbars, part.layout.copies_per_array,
                        part.layout.row_splits, part.layout.col_splits,
                    )
                    for part in layer.parts
                ),
            )
            for name, layer in (mapping.layers.items() if mapping is not None else ())
        ),
        tile_busy_cycles=tuple(int(x) for x in tile_busy),
        controller=ControllerResult(
            enabled=controller.timed,
            scope=controller.scope,
            cores=controller.instances,
            cores_used=controller.instances_used,
            instructions=MappingProxyType(controller.instructions),
            instructions_by_phase=MappingProxyType({
                phase: MappingProxyType(dict(executed))
                for phase, executed in controller.instructions_by_phase.items()
            }),
            busy_cycles=controller.busy_cycles,
            stall_cycles=controller.stall_cycles,
        ),
        noc=_noc_result(system, total, config.mapping.placement if mapping else "none"),
        groups=groups,
        statistics=statistics,
        phases=phases,
        traffic=traffic,
        training=_training_result(system),
        fabric=_fabric_result(sim),
    )


def _fabric_result(sim: Simulation) -> FabricResult | None:
    """The fabric part of a result (None for a chip without a fabric)."""
    fabric, stats = sim.system.fabric, sim.fabric
    if fabric is None or stats is None:
        return None
    config = fabric.config
    units = fabric.scu.unit_stats()
    dram = fabric.dram.stats() if fabric.dram is not None else None
    fetched = fabric.fetched
    return FabricResult(
        execution=config.execution, assignment=config.din.assignment, memory=config.memory,
        interconnect=config.interconnect, units=config.scu.units,
        mac_width=config.scu.mac_width, zero_handling=fabric.scu.config.zero_handling,
        unit_macs=tuple(u.macs for u in units),
        unit_zero_slots=tuple(u.zero_slots for u in units),
        unit_busy_cycles=tuple(u.busy_cycles for u in units),
        span_cycles=int(stats.span.value),
        dram_name=config.dram.name,
        dram_peak_bytes_per_s=config.dram.peak_bandwidth_bytes_per_s,
        dram_reads=dram.reads if dram else 0, dram_writes=dram.writes if dram else 0,
        dram_row_hits=dram.row_hits if dram else 0,
        dram_row_misses=dram.row_misses if dram else 0,
        dram_row_conflicts=dram.row_conflicts if dram else 0,
        dram_bytes_read=dram.bytes_read if dram else 0,
        dram_bytes_written=dram.bytes_written if dram else 0,
        imc_fetches=fetched.fetches, imc_blocks_fetched=fetched.blocks_fetched,
        imc_metadata_bytes=fetched.metadata_bytes, imc_data_bytes=fetched.data_bytes,
        imc_prefix_sum_cycles=fetched.prefix_sum_cycles,
        imc_stall_cycles=fetched.stall_cycles, imc_buffer_max_bytes=fetched.buffer_max_bytes,
    )


def _training_result(system: System) -> TrainingResult | None:
    """The training part of a result (None for a chip without training units)."""
    training = system.config.training
    if system.training is None or training is None:
        return None
    return TrainingResult(endurance_cycles=training.endurance_cycles)
