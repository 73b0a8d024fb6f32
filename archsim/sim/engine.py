"""The simulation engine: ``simulate(config, trace, seed) -> SimResult`` (stage: sim).

The engine streams a trace, maps its network onto the configured chip, and replays the records as
SimPy processes in one of two execution modes:

* **layer-sequential** (default): one input at a time; every record of a sample runs to
  completion before the next starts. Latency = the sample's span; throughput = samples / run time.
* **layer-pipelined** (``mapping.pipeline: true``): one SimPy process per layer (a *stage*); a
  stage takes sample ``s`` once every producer has finished ``s`` and passes it on through a
  buffer of ``mapping.pipeline_depth`` samples. Throughput is the steady-state rate, measured
  from the gaps between completions (with a single sample, from the slowest stage's service).

The trace is read lazily, one sample at a time, so memory does not grow with the trace length.
``simulate`` is a pure function of its inputs: the same config, trace and seed give the same
result, field for field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterator, Mapping

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig
from archsim.errors import TraceError
from archsim.hw.chip import Chip, Process
from archsim.mapping.placement import map_network
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


def simulate(config: HardwareConfig, trace: str | os.PathLike[str], seed: int = 0) -> SimResult:
    """Replay ``trace`` on the hardware ``config``.

    ``seed`` (>= 0) is recorded in the result; no model in this version draws random numbers
    (device variation, which will, takes a ``numpy.random.Generator`` built from it).

    Raises :class:`~archsim.errors.TraceError` for a malformed trace and
    :class:`~archsim.errors.MappingError` for a network that does not fit the chip.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with TraceReader(trace) as reader:
        network = reader.header.network
        mapping = map_network(network, config)
        env = simpy.Environment()
        chip = Chip(env, config, mapping, network.act_bits)
        samples = _samples(iter(reader), network, reader.header.samples, os.fspath(trace))
        completions = _Completions()
        if config.mapping.pipeline:
            pipeline = _Pipeline(env, chip, network, config.mapping.pipeline_depth, completions)
            env.process(pipeline.dispatch(samples))
            env.run()
            interval = completions.interval(pipeline.slowest_stage_cycles())
        else:
            env.process(_sequential(env, chip, samples, completions))
            env.run()
            interval = env.now / max(1, completions.latency.count)
        if completions.latency.count != reader.header.samples:
            raise TraceError(
                f"{os.fspath(trace)}: header promises {reader.header.samples} samples, "
                f"{completions.latency.count} completed"
            )
    return _result(config, reader, chip, env, completions, interval, seed)


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
    """Start and finish times per sample; latency and inter-completion statistics."""

    def __init__(self) -> None:
        self.latency = Tally("latency", "cycles", "start of a sample's first op to its end")
        self.gaps = Tally("interval", "cycles", "time between consecutive completions")
        self._started: dict[int, int] = {}
        self._last_finish: int | None = None
        self.first_latency = 0

    def start(self, sample: int, now: int) -> None:
        self._started.setdefault(sample, now)

    def finish(self, sample: int, now: int) -> None:
        latency = now - self._started.pop(sample)
        if not self.latency.count:
            self.first_latency = latency
        self.latency.observe(latency)
        if self._last_finish is not None:
            self.gaps.observe(now - self._last_finish)
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
        self.outboxes: list[simpy.Store] = []
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
                self.stages[source].outboxes.append(box)
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
                yield box.get()
            if stage.entry:
                completions.start(record.sample, env.now)
            begin = env.now
            yield from chip.execute(record)
            stage.service.observe(env.now - begin)
            for box in stage.outboxes:
                yield box.put(record.sample)
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
    )
