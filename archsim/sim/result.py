"""What a run counted: the one result type of every schedule (stage: sim).

:class:`SimResult` is what :func:`archsim.sim.simulate` (a trace, sequential or pipelined) and
:func:`archsim.sim.drive_traffic` (synthetic NoC traffic) return. It is immutable and holds
counts and times only, in cycles of ``clock_hz``; energy (:mod:`archsim.energy`) and the
report (:mod:`archsim.report`) are derived from it afterwards. Every component bank reports its
declared actions with their energy per performance and its counts per phase
(:class:`~archsim.stats.ComponentResult`), so the energy stage needs nothing but the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Union

from archsim.stats import ComponentResult, CounterSummary, LevelSummary, TallySummary

__all__ = [
    "ControllerResult",
    "GroupResult",
    "LayerResult",
    "PartResult",
    "NocResult",
    "SimResult",
    "Statistic",
    "TrafficResult",
    "TrainingResult",
]

#: A frozen statistic of a run.
Statistic = Union[CounterSummary, TallySummary, LevelSummary]


@dataclass(frozen=True)
class PartResult:
    """One part of a layer mapped in parts (:class:`archsim.mapping.placement.LayerPart`): its
    name, the mode of its arrays, its pass, its matrix's shape and its layout."""

    name: str
    mode: str | None
    stage: int
    rows: int
    cols: int
    crossbars: int
    copies_per_array: int
    row_splits: int
    col_splits: int


@dataclass(frozen=True)
class LayerResult:
    """Per matrix layer: its mapping (on tile group ``group``), and ``active_cycles``, the
    cycles during which it had work in flight (from sending a record to its groups until all
    were done, waits for the controller included), summed over records. A layer mapped in
    parts has ``parts``; its own ``copies_per_array``, ``row_splits`` and ``col_splits`` are
    then 0 (each part has its own)."""

    name: str
    rows: int
    cols: int
    crossbars: int
    copies: int
    copies_per_array: int
    row_splits: int
    col_splits: int
    active_cycles: int
    group: str = ""
    parts: tuple[PartResult, ...] = ()


@dataclass(frozen=True)
class GroupResult:
    """One tile group: its name, kind, tiles ``[first_tile, first_tile + tiles)`` and arrays
    (available and holding weights)."""

    name: str
    kind: str
    first_tile: int
    tiles: int
    tiles_used: int
    crossbars: int
    crossbars_used: int


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
    instructions_by_phase: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True)
class NocResult:
    """The traffic a run put on the NoC.

    ``latency`` is per packet, creation to the tail's ejection, in cycles (``latency_p50`` and
    ``latency_p99`` its percentiles, :func:`archsim.stats.percentile`); ``nodes[t]`` the router
    of tile ``t``; ``bit_hops`` the hop-weighted activation traffic of one sample under that
    placement and ``bit_hops_in_order`` under in-order placement (None for synthetic traffic).
    """

    topology: str
    flow_control: str
    routers: int
    placement: str
    dims: tuple[int, ...]
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
    bit_hops: int | None
    bit_hops_in_order: int | None
    packets_injected: int = 0
    packets_delivered: int = 0
    flits_injected: int = 0
    flits_delivered: int = 0
    header_bits_per_packet: int = 0
    chunk_index_bits: int = 0


@dataclass(frozen=True)
class TrafficResult:
    """What a synthetic-traffic run measured. Rates are per node per cycle; times in cycles.

    Throughput is measured over the window in which every source is still injecting (from 10 %
    of it, after warm-up, to the first source's last packet). ``long_window`` says the window
    outlasts the longest zero-load latency; ``steady`` that it does and the network is not
    saturated, so offered and accepted throughput describe a steady state; ``saturated``
    says accepted throughput fell below 95 % of the offered load or the 99th-percentile latency
    exceeds 10x the mean zero-load latency (queues grow without bound: the latency figures then
    describe this run's length, not the network). With mixed packet sizes, ``data_bits`` is
    the tuple of sizes drawn from and ``header_overhead`` the measured share of header bits.
    """

    pattern: str
    rate: float
    nodes: int
    packets: int
    flits_per_packet: int
    header_bits: int
    data_bits: int | tuple[int, ...]
    header_overhead: float
    window_cycles: int
    long_window: bool
    steady: bool
    saturated: bool
    offered_flits: float
    accepted_flits: float
    bisection_bound: float | None  # uniform traffic only
    zero_load_mean: float


@dataclass(frozen=True)
class TrainingResult:
    """What a chip with training units adds to a run's result: the endurance of its devices
    (pulses a device survives; None: not given)."""

    endurance_cycles: float | None


@dataclass(frozen=True)
class FabricResult:
    """What a block-sparse training fabric adds to a run's result (its counters and tallies
    are in :attr:`SimResult.statistics`, :mod:`archsim.stats.fabric`).

    Per unit, in unit order: ``unit_macs`` (non-zero MACs performed), ``unit_zero_slots``
    (slots with a zero operand or padding, skipped or gated) and ``unit_busy_cycles`` (fill and
    issue cycles). ``span_cycles`` is the time the product records ran, summed (a unit with no
    block in a product is idle for it, which counts against its U over that time). DRAM figures are over the whole run (zero with ideal memory);
    ``dram_bytes_read`` counts whole bursts. ``imc_*`` are the fetches' block-CSR figures.
    """

    execution: str
    assignment: str
    memory: str
    interconnect: str
    units: int
    mac_width: int
    zero_handling: str
    unit_macs: tuple[int, ...]
    unit_zero_slots: tuple[int, ...]
    unit_busy_cycles: tuple[int, ...]
    span_cycles: int
    dram_name: str
    dram_peak_bytes_per_s: float
    dram_reads: int
    dram_writes: int
    dram_row_hits: int
    dram_row_misses: int
    dram_row_conflicts: int
    dram_bytes_read: int
    dram_bytes_written: int
    imc_fetches: int
    imc_blocks_fetched: int
    imc_metadata_bytes: int
    imc_data_bytes: int
    imc_prefix_sum_cycles: int
    imc_stall_cycles: int
    imc_buffer_max_bytes: int

    @property
    def utilisation_busy(self) -> tuple[float, ...]:
        """Per unit, U = non-zero MACs / MAC slots of its busy cycles (0 if never busy)."""
        return tuple(
            m / (self.mac_width * b) if b else 0.0
            for m, b in zip(self.unit_macs, self.unit_busy_cycles, strict=True)
        )

    @property
    def utilisation_span(self) -> tuple[float, ...]:
        """Per unit, non-zero MACs / MAC slots of the products' time: idle time waiting for
        blocks or for other units counts against it."""
        slots = self.mac_width * self.span_cycles
        return tuple(m / slots if slots else 0.0 for m in self.unit_macs)

    @property
    def dram_hit_rate(self) -> float:
        """Row-buffer hits over accesses (0.0 without any)."""
        accesses = self.dram_row_hits + self.dram_row_misses + self.dram_row_conflicts
        return self.dram_row_hits / accesses if accesses else 0.0

    @property
    def metadata_fraction(self) -> float:
        """Metadata's share of the block-CSR bytes fetched."""
        total = self.imc_metadata_bytes + self.imc_data_bytes
        return self.imc_metadata_bytes / total if total else 0.0


@dataclass(frozen=True)
class SimResult:
    """Everything a run counted; energy and the report are derived from it later.

    Times are in cycles of ``clock_hz``. ``mode`` is the schedule: ``sequential``,
    ``pipelined`` or ``traffic`` (synthetic NoC traffic, no trace: ``samples`` is 0 and
    ``traffic`` describes the load). ``interval_cycles`` is the steady-state time between
    inputs (the run time per sample in layer-sequential mode). ``latency`` summarises every
    sample's latency; ``first_latency_cycles`` is the first sample's, which meets an empty chip
    (in pipelined mode, later samples also wait behind the slowest stage). ``statistics``
    holds every declared statistic of the run with its unit, description and per-phase and
    per-group values; ``phases`` the phases of the records that ran; ``training`` what a
    chip with training units adds (None without them); ``fabric`` what a block-sparse
    training fabric adds (None without one).
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
    digital_enabled: bool
    components: tuple[ComponentResult, ...]
    layers: tuple[LayerResult, ...]
    tile_busy_cycles: tuple[int, ...]  # per tile in use (tiles are filled in order)
    controller: ControllerResult
    noc: NocResult | None
    groups: tuple[GroupResult, ...] = ()
    statistics: tuple[Statistic, ...] = ()
    phases: tuple[str, ...] = ()
    traffic: TrafficResult | None = None
    training: TrainingResult | None = None
    fabric: FabricResult | None = None

    def statistic(self, name: str) -> Statistic:
        """The statistic called ``name``.

        Raises:
            KeyError: the run declared no such statistic.
        """
        for stat in self.statistics:
            if stat.name == name:
                return stat
        raise KeyError(name)

    def _total(self, name: str) -> int:
        """The whole-run value of counter ``name`` (0 if the run kept none, as traffic runs)."""
        try:
            stat = self.statistic(name)
        except KeyError:
            return 0
        return int(stat.total)  # type: ignore[union-attr]

    @property
    def tile_ops(self) -> int:
        """Array activations (statistic ``tile_ops``)."""
        return self._total("tile_ops")

    @property
    def vmm_steps(self) -> int:
        """Sequential VMM steps (statistic ``vmm_steps``)."""
        return self._total("vmm_steps")

    @property
    def macs(self) -> int:
        """Multiply-accumulates performed by the arrays (statistic ``macs``)."""
        return self._total("macs")

    @property
    def vectors(self) -> int:
        """Input vectors applied to matrix layers (statistic ``vectors``)."""
        return self._total("vectors")

    @property
    def digital_elements(self) -> int:
        """Elements of activation, pooling and add work (statistic ``digital_elements``)."""
        return self._total("digital_elements")

    @property
    def time_split(self) -> Mapping[str, int]:
        """Cycles summed over records: the arrays', the vector units', the controller's and
        the NoC's, and on chips that have them the digital PIM modules' and the
        special-function units' (statistics ``time_*``; see
        :class:`archsim.sim.handlers.RunStatistics`)."""
        parts = ["tile", "digital", "controller", "noc"]
        names = {stat.name for stat in self.statistics}
        parts += [part for part in ("pim", "sfu") if f"time_{part}" in names]
        return {part: self._total(f"time_{part}") for part in parts}
