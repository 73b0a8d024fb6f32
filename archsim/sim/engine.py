"""The simulation engine: ``simulate(config, trace, seed) -> SimResult`` (stage: sim).

The engine streams a trace, maps its network onto the configured chip, and replays the records as
SimPy processes in one of two execution modes:

* **layer-sequential** (default): one input at a time; every record of a sample runs to
  completion before the next starts. Latency = the sample's span; throughput = samples / run time.
* **layer-pipelined** (``mapping.pipeline: true``): one SimPy process per layer (a *stage*); a
  stage takes sample ``s`` once every producer has finished ``s`` and its activations have
  arrived. A producer passes a sample on through a buffer of ``mapping.pipeline_depth``
  samples: once the buffer has room (back-pressure) its packets leave for the consumer's tiles,
  so transfers overlap the consumer's work on earlier samples. Throughput is the steady-state rate, measured
  from the gaps between completions (with a single sample, from the slowest stage's service).

The trace is read lazily, one sample at a time, so memory does not grow with the trace length.
``simulate`` is a pure function of its inputs: the same config, trace and seed give the same
result, field for field. Given a :class:`~archsim.sim.timeline.Timeline`, it also records what
every component did (the result is the same with or without one).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterator, Mapping

import networkx as nx
import numpy as np
import simpy

from archsim.config.schema import HardwareConfig, NocConfig
from archsim.errors import ArchsimError, ConfigError, TraceError
from archsim.hw.chip import Chip, Process
from archsim.hw.noc.network import Network
from archsim.hw.noc.packet import PacketFormat
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology, build_topology
from archsim.mapping.placement import NetworkMapping, map_network
from archsim.mapping.program import Program, build_program
from archsim.mapping.traffic import hop_weighted_traffic, network_traffic, place_tiles
from archsim.sim.timeline import Timeline
from archsim.stats import Tally, TallySummary
from archsim.workload.trace import NetworkSpec, OpRecord, TraceReader


@dataclass(frozen=True)
class LayerResult:
    """Per matrix layer: its mapping, and ``active_cycles``, the cycles during which it had work
    in flight (from sending a record to its groups until all were done, waits for the
    controller included), summed over records."""

    name: str
    rows: int
    cols: int
    crossbars: int
    copies: int
    copies_per_array: int
    row_splits: int
    col_splits: int
    active_cycles: int


@dataclass(frozen=True)
class ComponentResult:
    """Per component bank: instances, busy instance-cycles and action counts."""

    kind: str
    instances: int
    instances_used: int
    timed: bool
    busy_cycles: int
    actions: Mapping[str, float]


@dataclass(frozen=True)
class ControllerResult:
    """The controller cores: instructions by class (counted even when untimed), busy and stall
    cycles summed over cores (stalls: a program in flight, nothing issuing)."""

    enabled: bool
    scope: str
    cores: int
    cores_used: int
    instructions: Mapping[str, int]
    busy_cycles: int
    stall_cycles: int


@dataclass(frozen=True)
class NocResult:
    """The activation traffic a run put on the NoC.

    ``latency`` is per packet, creation to the tail's ejection, in cycles (``latency_p50`` and
    ``latency_p99`` its nearest-rank percentiles); ``nodes[t]`` the router of tile ``t``; ``bit_hops`` the
    hop-weighted activation traffic of one sample under that placement, and
    ``bit_hops_in_order`` under in-order placement, for comparison.
    """

    topology: str
    flow_control: str
    routers: int
    placement: str
    nodes: tuple[int, ...]
    packet_data_bits: int
    packets: int
    flits: int
    header_bits: int
    data_bits: int
    latency: TallySummary
    latency_p50: float
    latency_p99: float
    link_utilization_mean: float
    link_utilization_max: float
    link_utilization: tuple[float, ...]  # per directed link, in Topology.links order
    links: tuple[tuple[int, int], ...]
    bit_hops: int
    bit_hops_in_order: int


@dataclass(frozen=True)
class SimResult:
    """Everything a run counted; energy and the report are derived from it later.

    Times are in cycles of ``clock_hz``. ``interval_cycles`` is the steady-state time between
    inputs (the run time per sample in layer-sequential mode). ``latency`` summarises every
    sample's latency; ``first_latency_cycles`` is the first sample's, which meets an empty chip
    (in pipelined mode, later samples also wait behind the slowest stage).
    """

    config_name: str
    model: str
    seed: int
    mode: str
    clock_hz: float
    samples: int
    total_cycles: int
    latency: TallySummary
    first_latency_cycles: int
    interval_cycles: float
    crossbars: int
    crossbars_available: int
    tiles: int
    tiles_used: int
    tile_ops: int
    vmm_steps: int
    macs: int
    vectors: int
    digital_elements: int
    digital_enabled: bool
    components: tuple[ComponentResult, ...]
    layers: tuple[LayerResult, ...]
    tile_busy_cycles: tuple[int, ...]  # per tile in use (tiles are filled in order)
    controller: ControllerResult
    noc: NocResult | None
    #: cycles summed over records: arrays, vector units, controller, NoC (see hw.chip.TimeSplit)
    time_split: Mapping[str, int]


def simulate(
    config: HardwareConfig,
    trace: str | os.PathLike[str],
    seed: int = 0,
    *,
    timeline: Timeline | None = None,
    progress: Callable[[], None] | None = None,
) -> SimResult:
    """Replay ``trace`` on the hardware ``config``.

    ``seed`` (>= 0) is recorded in the result; no model in this version draws random numbers
    (device variation, which will, takes a ``numpy.random.Generator`` built from it).
    ``timeline`` (a fresh :class:`~archsim.sim.timeline.Timeline`) records the components'
    spans; write it with :func:`archsim.report.timeline.write_timeline`. ``progress`` is
    called once per completed sample (a progress bar's ``advance``); it changes no result.

    Raises :class:`~archsim.errors.TraceError` for a malformed trace and
    :class:`~archsim.errors.MappingError` for a network that does not fit the chip.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with TraceReader(trace) as reader:
        network = reader.header.network
        mapping = map_network(network, config)
        if timeline is not None:
            timeline.begin_run(config, mapping, reader.header.model)
        env = simpy.Environment()
        chip = _build_chip(env, config, network, mapping, timeline)
        samples = _samples(iter(reader), network, reader.header.samples, os.fspath(trace))
        completions = _Completions(timeline, progress)
        if config.mapping.pipeline:
            pipeline = _Pipeline(env, chip, network, config.mapping.pipeline_depth, completions)
            env.process(pipeline.dispatch(samples))
            env.run()
            interval = completions.interval(pipeline.slowest_stage_cycles())
        else:
            env.process(_sequential(env, chip, samples, completions))
            env.run()
            interval = env.now / max(1, completions.latency.count)
        if chip.network is not None:
            chip.network.check_drained("activation packets")
        if completions.latency.count != reader.header.samples:
            raise TraceError(
                f"{os.fspath(trace)}: header promises {reader.header.samples} samples, "
                f"{completions.latency.count} completed"
            )
    if timeline is not None:
        timeline.end_run(int(env.now))
    return _result(config, reader, chip, env, completions, interval, seed)


def program_listing(config: HardwareConfig, trace: str | os.PathLike[str]) -> str:
    """The controller's instruction stream for one sample of ``trace``'s network mapped on
    ``config``, as assembly-like text (see :mod:`archsim.mapping.program`)."""
    with TraceReader(trace) as reader:
        network = reader.header.network
        counts: dict[str, int] = {}
        for record in reader:
            if record.sample != 0:
                break
            counts[record.layer] = record.vectors if record.kind == "mvm" else record.elements
    mapping = map_network(network, config)
    chip = _build_chip(simpy.Environment(), config, network, mapping)
    core_of = {t: chip.controller.core_of(t).index for t in range(config.chip.tiles)}
    return chip.program.listing(network, core_of, counts)


def _build_chip(
    env: simpy.Environment,
    config: HardwareConfig,
    network: NetworkSpec,
    mapping: NetworkMapping,
    timeline: Timeline | None = None,
) -> Chip:
    """The chip with its NoC (when the config has one), tiles placed on routers, and the
    instruction stream of ``network``; its components report to ``timeline``, if given."""
    traffic = network_traffic(network, mapping)
    scope_tile = config.controller.scope == "tile"
    core_of = {t: (t if scope_tile else 0) for t in range(config.chip.tiles)}
    noc, nodes, hops = None, (), None
    packet_bits: int | None = None
    if config.noc is not None:
        topology = build_topology(config.noc)
        if topology.nodes < config.chip.tiles:
            raise ConfigError(
                f"chip.tiles: the NoC ({config.noc.topology} {list(config.noc.dims) or 'edges'}) "
                f"has {topology.nodes} routers, one per tile; got {config.chip.tiles} tiles"
            )
        routing = Routing(topology)
        # In-order placement only ever looks at the routers of the tiles in use.
        in_order = config.mapping.placement == "in_order"
        hops = _hop_matrix(topology, mapping.tiles_used if in_order else topology.nodes)
        nodes = place_tiles(traffic.matrix, hops, config.mapping.placement)
        packet_format = PacketFormat(topology.nodes, config.noc.link_width_bits)
        packet_bits = config.mapping.packet_data_bits or _largest_payload(
            config.noc, topology, packet_format
        )
        flits = packet_format.flits(packet_bits)
        try:
            # The largest activation packet sizes the bubble on rings and tori.
            noc = Network(env, config.noc, topology, routing, packet_format, max_flits=flits)
        except ArchsimError as error:
            if not config.mapping.packet_data_bits:
                raise
            raise ConfigError(
                f"mapping.packet_data_bits: {packet_bits}-bit payloads make {flits}-flit "
                f"packets, which this NoC cannot carry ({error})"
            ) from None
    program = build_program(
        network, mapping, traffic, packet_bits=packet_bits, lanes=config.digital.lanes,
        core_of=core_of,
    )
    return Chip(
        env, config, mapping, network.act_bits, program, traffic, noc, nodes, hops,
        timeline=timeline,
    )


def _hop_matrix(topology: Topology, routers: int) -> np.ndarray:
    """Links on the route between each pair of routers ``0..routers-1``. Routing is minimal,
    so these are shortest-path lengths: closed forms on meshes, tori and rings (the sum over
    dimensions of the distance, the shorter way round where links wrap), breadth-first search
    on trees and edge lists."""
    if topology.kind in ("mesh", "torus", "ring"):
        coords = np.asarray(topology.coords[:routers], dtype=np.int64)
        sizes = np.asarray(topology.dims, dtype=np.int64)
        delta = np.abs(coords[:, None, :] - coords[None, :, :])
        if topology.kind != "mesh":
            delta = np.minimum(delta, sizes - delta)
        return delta.sum(axis=2)
    hops = np.zeros((routers, routers), dtype=np.int64)
    for src in range(routers):
        lengths = nx.single_source_shortest_path_length(topology.graph, src)
        hops[src] = [lengths[dst] for dst in range(routers)]
    return hops


def _largest_payload(noc: NocConfig, topology: Topology, packet_format: PacketFormat) -> int:
    """The default payload of an activation packet: one buffer's worth less the header, the
    largest packet virtual cut-through admits (half a buffer on rings and tori, whose bubble
    needs room for a second packet). Wormhole takes longer packets; a buffer-sized one is
    spread over several routers only on rings and tori, whose virtual channels hold half."""
    flits = noc.buffer_flits
    bubble = topology.kind in ("ring", "torus") and noc.flow_control == "virtual_cut_through"
    if bubble:
        flits //= 2
    payload = flits * noc.link_width_bits - packet_format.header_bits
    if payload < 1:
        room = (
            f"half of {noc.buffer_flits} flits (bubble flow control on a ring or torus needs "
            "room for two packets)" if bubble else f"{noc.buffer_flits} flits"
        )
        raise ConfigError(
            f"noc.buffer_flits: {room} of {noc.link_width_bits} bits leave no room for data "
            f"after the {packet_format.header_bits}-bit header; enlarge the buffers or the "
            "links, or set mapping.packet_data_bits"
        )
    return payload


# --------------------------------------------------------------------------------------------
# Trace streaming
# --------------------------------------------------------------------------------------------


def _samples(
    records: Iterator[OpRecord], network: NetworkSpec, expected: int, source: str
) -> Iterator[tuple[int, tuple[OpRecord, ...]]]:
    """Group the record stream by sample, checking each sample runs every layer once, in order."""
    order = tuple(layer.name for layer in network.layers)
    current: list[OpRecord] = []
    sample = 0
    for record in records:
        if record.phase != "forward":
            raise TraceError(
                f"{source}: record {record.index}: phase '{record.phase}' is not supported by "
                "this hardware model yet (forward inference only)"
            )
        if record.sample != sample:
            yield sample, _complete(current, order, sample, source)
            if record.sample != sample + 1:
                raise TraceError(
                    f"{source}: record {record.index}: sample {sample + 1} has no records"
                )
            sample, current = record.sample, []
        current.append(record)
    if current:
        yield sample, _complete(current, order, sample, source)
        sample += 1
    if sample != expected:
        raise TraceError(f"{source}: trace holds {sample} samples but its header says {expected}")


def _complete(
    records: list[OpRecord], order: tuple[str, ...], sample: int, source: str
) -> tuple[OpRecord, ...]:
    layers = tuple(r.layer for r in records)
    if layers != order:
        first = records[0].index if records else 0
        for position, name in enumerate(order):
            if position >= len(layers) or layers[position] != name:
                found = layers[position] if position < len(layers) else "the end of the sample"
                raise TraceError(
                    f"{source}: record {first + position}: sample {sample} must run layer "
                    f"'{name}' next (network order), found {found}"
                )
        raise TraceError(
            f"{source}: record {first + len(order)}: sample {sample} has records beyond its "
            "last layer"
        )
    return tuple(records)


# --------------------------------------------------------------------------------------------
# Execution modes
# --------------------------------------------------------------------------------------------


class _Completions:
    """Start and finish times per sample; latency and inter-completion statistics. A
    ``timeline`` hears of every start and finish (its window is set in samples), ``progress``
    of every finish."""

    def __init__(
        self, timeline: Timeline | None = None, progress: Callable[[], None] | None = None
    ) -> None:
        self.timeline = timeline
        self.progress = progress
        self.latency = Tally("latency", "cycles", "start of a sample's first op to its end")
        self.gaps = Tally("interval", "cycles", "time between consecutive completions")
        self._started: dict[int, int] = {}
        self._last_finish: int | None = None
        self.first_latency = 0

    def start(self, sample: int, now: int) -> None:
        self._started.setdefault(sample, now)
        if self.timeline is not None:
            self.timeline.sample_started(sample, now)

    def finish(self, sample: int, now: int) -> None:
        if self.timeline is not None:
            self.timeline.sample_finished(sample, now)
        latency = now - self._started.pop(sample)
        if not self.latency.count:
            self.first_latency = latency
        self.latency.observe(latency)
        if self._last_finish is not None:
            self.gaps.observe(now - self._last_finish)
        if self.progress is not None:
            self.progress()
        self._last_finish = now

    def interval(self, fallback: float) -> float:
        """Steady-state interval: mean gap between completions, or ``fallback`` for one sample."""
        return self.gaps.mean if self.gaps.count else fallback


def _sequential(
    env: simpy.Environment,
    chip: Chip,
    samples: Iterator[tuple[int, tuple[OpRecord, ...]]],
    completions: _Completions,
) -> Process:
    for sample, records in samples:
        completions.start(sample, env.now)
        for record in records:
            yield from chip.execute(record)
        completions.finish(sample, env.now)


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
    """Layer-pipelined execution: one process per stage, buffers of ``depth`` samples."""

    def __init__(
        self,
        env: simpy.Environment,
        chip: Chip,
        network: NetworkSpec,
        depth: int,
        completions: _Completions,
    ) -> None:
        self.env = env
        self.chip = chip
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

    def dispatch(self, samples: Iterator[tuple[int, tuple[OpRecord, ...]]]) -> Process:
        """Feed each stage its records, sample by sample (bounded by the stage queues)."""
        started = False
        for _, records in samples:
            if not started:
                for stage in self.stages.values():
                    self.env.process(self._run(stage))
                started = True
            for record in records:
                yield self.stages[record.layer].records.put(record)

    def _run(self, stage: _Stage) -> Process:
        env, chip, completions = self.env, self.chip, self.completions
        while True:
            record = yield stage.records.get()
            for box in stage.inboxes:
                arrived = yield box.get()
                if not arrived.processed:
                    # The input is still on the NoC: the part of its transfer not hidden
                    # behind this stage's previous work.
                    begin = env.now
                    yield arrived
                    chip.time.noc += int(env.now - begin)
            if stage.entry:
                completions.start(record.sample, env.now)
            begin = env.now
            yield from chip.execute(record, transfer_inputs=False)
            stage.service.observe(env.now - begin)
            for consumer, box in stage.outboxes:
                # Room in the consumer's input buffer first (back-pressure), then the packets
                # go: the consumer takes the sample once they have arrived.
                arrived = env.event()
                yield box.put(arrived)
                transfer = chip.transfer((stage.name, consumer))
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
            self.completions.finish(sample, self.env.now)
        else:
            self._exit_count[sample] = done

    def slowest_stage_cycles(self) -> float:
        """Mean service time of the slowest stage (the steady-state interval bound)."""
        return max((s.service.mean for s in self.stages.values()), default=0.0)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


def _result(
    config: HardwareConfig,
    reader: TraceReader,
    chip: Chip,
    env: simpy.Environment,
    completions: _Completions,
    interval: float,
    seed: int,
) -> SimResult:
    mapping = chip.mapping
    layers = tuple(
        LayerResult(
            name=name,
            rows=lm.layout.rows,
            cols=lm.layout.cols,
            crossbars=lm.layout.crossbars,
            copies=lm.layout.copies,
            copies_per_array=lm.layout.copies_per_array,
            row_splits=lm.layout.row_splits,
            col_splits=lm.layout.col_splits,
            active_cycles=chip.layers[name].active_cycles,
        )
        for name, lm in mapping.layers.items()
    )
    if chip.network is not None:
        # A link is busy for the cycles it carries a flit.
        chip.network.add_busy(int(chip.network.link_flits.sum()))
    components = tuple(
        ComponentResult(
            c.KIND,
            c.instances,
            c.instances_used,
            c.TIMED,
            c.busy_cycles,
            MappingProxyType(dict(c.action_counts())),
        )
        for c in chip.components()
    )
    controller = chip.controller
    controller_result = ControllerResult(
        enabled=controller.timed,
        scope=controller.scope,
        cores=controller.instances,
        cores_used=controller.instances_used,
        instructions=MappingProxyType(dict(controller.instructions)),
        busy_cycles=controller.busy_cycles,
        stall_cycles=controller.stall_cycles,
    )
    time_split = MappingProxyType(
        {
            "tile": chip.time.tile,
            "digital": chip.time.digital,
            "controller": chip.time.controller,
            "noc": chip.time.noc,
        }
    )
    tile_busy = np.zeros(mapping.tiles_used, dtype=np.int64)
    np.add.at(tile_busy, np.asarray(mapping.crossbar_tile, dtype=np.int64), chip.crossbar_busy)
    counters = chip.counters
    return SimResult(
        config_name=config.name,
        model=reader.header.model,
        seed=seed,
        mode="pipelined" if config.mapping.pipeline else "sequential",
        clock_hz=config.chip.clock_hz,
        samples=completions.latency.count,
        total_cycles=int(env.now),
        latency=completions.latency.summary(),
        first_latency_cycles=completions.first_latency,
        interval_cycles=float(interval),
        crossbars=mapping.crossbars,
        crossbars_available=mapping.crossbars_available,
        tiles=config.chip.tiles,
        tiles_used=mapping.tiles_used,
        tile_ops=int(counters.tile_ops.value),
        vmm_steps=int(counters.vmm_steps.value),
        macs=int(counters.macs.value),
        vectors=int(counters.vectors.value),
        digital_elements=int(counters.digital_elements.value),
        digital_enabled=config.digital.enabled,
        components=components,
        layers=layers,
        tile_busy_cycles=tuple(int(x) for x in tile_busy),
        controller=controller_result,
        noc=_noc_result(config, chip, env),
        time_split=time_split,
    )


def _percentile(histogram: Mapping[int, int], q: float) -> float:
    """The nearest-rank ``q`` quantile of the values counted in ``histogram`` (0 if empty):
    the smallest value with at least ``q x n`` of the ``n`` observations at or below it."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank, seen = max(1, math.ceil(q * total)), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def _noc_result(config: HardwareConfig, chip: Chip, env: simpy.Environment) -> NocResult | None:
    network, hops, stats = chip.network, chip.hops, chip.interface
    if network is None or hops is None or stats is None or config.noc is None:
        return None
    cycles = max(1, int(env.now))
    p50 = _percentile(stats.histogram, 0.50)
    p99 = _percentile(stats.histogram, 0.99)
    matrix = chip.traffic.matrix
    in_order = tuple(range(len(chip.nodes)))
    return NocResult(
        topology=config.noc.topology,
        flow_control=config.noc.flow_control,
        routers=network.topology.nodes,
        placement=config.mapping.placement,
        nodes=chip.nodes,
        packet_data_bits=chip.program.packet_bits,
        packets=int(stats.packets.value),
        flits=int(network.flits_delivered),
        header_bits=int(stats.header_bits.value),
        data_bits=int(stats.data_bits.value),
        latency=stats.latency.summary(),
        latency_p50=p50,
        latency_p99=p99,
        link_utilization_mean=float(network.link_flits.mean() / cycles) if network.link_flits.size else 0.0,
        link_utilization_max=float(network.link_flits.max() / cycles) if network.link_flits.size else 0.0,
        link_utilization=tuple(float(f) / cycles for f in network.link_flits),
        links=network.topology.links,
        bit_hops=hop_weighted_traffic(matrix, hops, chip.nodes),
        bit_hops_in_order=hop_weighted_traffic(matrix, hops, in_order),
    )
