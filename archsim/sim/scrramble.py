"""Standalone replay of ScRRAMBLe inference on a chip's tiles and NoC (stage: sim).

:func:`run_scrramble` maps a trained :class:`~archsim.workload.scrramble.ScrrambleNetwork` with
:func:`~archsim.mapping.scrramble.map_scrramble` and replays its inference, sample after sample,
as SimPy processes:

* at the start of a sample the I/O router injects one packet per layer-0 connection (the
  network input's blocks);
* a core starts its MVM once every packet addressed to it for this sample has been delivered;
  the MVM takes :meth:`archsim.hw.tile.Tiles.op_cost` cycles of its crossbar (signed inputs of
  ``mapping.input_bits`` bits), then the core sends one packet per connection that its output
  blocks feed, all at once (its router's injection port serialises them);
* a sample ends when every core has finished; the next one starts then (one sample in flight).

Packets are :meth:`archsim.hw.noc.network.Network.send` processes, so they contend for links,
buffers and ports. Timing does not depend on the data; the data only set the activity-dependent
counts (cells conducting, from the bit planes of every core's quantised signed inputs).

Counted: per-sample latency (cycles, and seconds at ``chip.clock_hz``), packets, flits, header
and data bits sent, the measured header overhead ``header bits / (header + data bits)`` beside
ScRRAMBLe's ``A / (A + D)``, and the tile and NoC actions, which the energy stage prices with
the config's per-action tables (:func:`archsim.energy.accounting.energy_by_component`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Generator, Mapping

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig
from archsim.errors import ArchsimError
from archsim.hw.noc.network import Delivery, Network
from archsim.hw.noc.packet import PacketFormat, scrramble_address_bits
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import build_topology
from archsim.hw.operation import OpCost
from archsim.hw.tile import Tiles
from archsim.mapping.scrramble import ScrrambleMapping, map_scrramble
from archsim.stats import Tally, TallySummary
from archsim.workload.activity import quantize_unsigned
from archsim.workload.scrramble import ScrrambleNetwork, spec_dict

Process = Generator[simpy.Event, Any, None]


@dataclass(frozen=True)
class ScrrambleResult:
    """What a ScRRAMBLe replay counted. Times in cycles of ``clock_hz`` unless named ``_s``.

    Attributes:
        config_name: the hardware config's name.
        seed: recorded seed (the replay draws no random numbers).
        samples: samples replayed, one after another.
        spec: the network's shape (:func:`~archsim.workload.scrramble.spec_dict`).
        cores: cores (= crossbars = tiles = routers) in use.
        nodes: routers on the NoC.
        clock_hz: chip clock.
        act_bits: bits per routed activation.
        weight_bits: bits per stored weight.
        input_bits: bits per signed crossbar input element.
        op_cycles: cycles of one core MVM.
        tile_ops: crossbar operations (cores x samples).
        macs: multiply-accumulates, ``C x C`` per operation.
        total_cycles: the whole run.
        latency_cycles: per-sample latency, first input packet to last core done.
        latency_s: mean per-sample latency in seconds.
        packets: packets delivered.
        flits: flits delivered.
        header_bits: ``A``, header bits per packet.
        data_bits: ``D``, payload bits per packet.
        destination_bits: the router field of the header.
        chunk_index_bits: the chunk field of the header, ``ceil(log2(chunks x density))``.
        chunks: the source space (blocks) the chunk field names a block of.
        header_bits_sent: header bits of every packet sent.
        data_bits_sent: payload bits of every packet sent.
        measured_overhead: ``header_bits_sent / (header_bits_sent + data_bits_sent)``.
        analytic_overhead: ``A / (A + D)``.
        packet_latency_cycles: per-packet latency, creation to tail ejection.
        mean_hops: mean links per packet.
        actions: counts keyed ``"<component>.<action>"``; the energy stage prices them
            (:func:`archsim.energy.accounting.energy_by_component`).
        predictions: arg-max class of each sample (the network's own float inference).
    """

    config_name: str
    seed: int
    samples: int
    spec: Mapping[str, Any]
    cores: int
    nodes: int
    clock_hz: float
    act_bits: int
    weight_bits: int
    input_bits: int
    op_cycles: int
    tile_ops: int
    macs: int
    total_cycles: int
    latency_cycles: TallySummary
    latency_s: float
    packets: int
    flits: int
    header_bits: int
    data_bits: int
    destination_bits: int
    chunk_index_bits: int
    chunks: int
    header_bits_sent: int
    data_bits_sent: int
    measured_overhead: float
    analytic_overhead: float
    packet_latency_cycles: TallySummary
    mean_hops: float
    actions: Mapping[str, float]
    predictions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (mappings as dicts, summaries as dicts)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, TallySummary):
                out[key] = asdict(value)
            elif isinstance(value, Mapping):
                out[key] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in value.items()}
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


def _slice_activities(
    network: ScrrambleNetwork, inputs: np.ndarray, act_bits: int, input_bits: int, tiles: Tiles
) -> np.ndarray:
    """Expected non-zero input slices per row of every core operation, ``(samples, cores)``.

    Each layer's sources are quantised per sample to unsigned ``act_bits``-bit integers
    (:func:`~archsim.workload.activity.quantize_unsigned`) and routed exactly, in integers; the
    signed core inputs are applied as ``input_bits - 1`` magnitude bit planes and a sign plane.
    """
    spec = network.spec
    _, outputs = network.trace(inputs)
    magnitude_planes = input_bits - 1
    columns = []
    for layer in range(len(spec.cores)):
        if layer == 0:
            sources = network.input_blocks(inputs)
        else:
            act = np.maximum(outputs[layer - 1], 0)
            sources = act.reshape(len(act), -1, spec.slot_size)
        q, _ = quantize_unsigned(sources, act_bits)
        core_in = network.route(layer, q.astype(np.int64))  # (B, cores, C), exact
        mag = np.abs(core_in)
        planes = (mag[..., None] >> np.arange(magnitude_planes)) & 1
        density = planes.mean(axis=2)  # (B, cores, planes)
        sign = (core_in < 0).mean(axis=2)
        nonzero = (core_in != 0).mean(axis=2)
        activity = np.empty(core_in.shape[:2])
        for s in range(core_in.shape[0]):
            for c in range(core_in.shape[1]):
                bitplanes = tuple(float(v) for v in density[s, c]) + (float(sign[s, c]),)
                activity[s, c] = tiles.dac.slice_activity(bitplanes, float(nonzero[s, c]))
        columns.append(activity)
    return np.concatenate(columns, axis=1)


class _Replay:
    """The SimPy processes of one run: samples, cores and the packets between them."""

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        mapping: ScrrambleMapping,
        tiles: Tiles,
        cost: OpCost,
        activity: np.ndarray,
    ) -> None:
        self.env = env
        self.network = network
        self.mapping = mapping
        self.tiles = tiles
        self.cost = cost
        self.activity = activity
        self.inbound: dict[int, list[int]] = defaultdict(list)
        self.outbound: dict[int, list[int]] = defaultdict(list)
        self.from_input: list[int] = []
        for index, packet in enumerate(mapping.packets):
            self.inbound[packet.dest_core].append(index)
            if packet.source_core < 0:
                self.from_input.append(index)
            else:
                self.outbound[packet.source_core].append(index)
        self.latency = Tally("latency", "cycles", "first input packet to last core done")
        self.packet_latency = Tally("packet_latency", "cycles", "creation to tail ejection")
        self.hops = 0
        self.header_bits_sent = 0
        self.data_bits_sent = 0

    def run(self, samples: int) -> Process:
        """Replay ``samples`` samples one after another."""
        for sample in range(samples):
            start = self.env.now
            arrived = [self.env.event() for _ in self.mapping.packets]
            cores = [
                self.env.process(self._core(core, sample, arrived))
                for core in range(len(self.mapping.cores))
            ]
            for index in self.from_input:
                self._send(index, arrived)
            yield self.env.all_of(cores)
            self.latency.observe(self.env.now - start)

    def _core(self, core: int, sample: int, arrived: list[simpy.Event]) -> Process:
        yield self.env.all_of([arrived[index] for index in self.inbound[core]])
        yield self.env.timeout(self.cost.cycles)
        self._account(core, sample)
        for index in self.outbound[core]:
            self._send(index, arrived)

    def _send(self, index: int, arrived: list[simpy.Event]) -> None:
        packet = self.mapping.packets[index]
        process = self.network.send(packet.src_node, packet.dst_node, packet.data_bits)
        self.header_bits_sent += self.network.format.header_bits
        self.data_bits_sent += packet.data_bits

        def delivered(event: simpy.Event) -> None:
            delivery: Delivery = event.value
            self.packet_latency.observe(delivery.latency)
            self.hops += delivery.hops
            arrived[index].succeed(delivery)

        process.callbacks.append(delivered)

    def _account(self, core: int, sample: int) -> None:
        """Count one MVM of ``core``: the tile's per-operation actions and the data-dependent
        cells, merges and buffer accesses (as :mod:`archsim.hw.chip` does per vector)."""
        tiles, mapping = self.tiles, self.mapping
        c = mapping.geometry.rows
        per_output = mapping.geometry.physical_cols_per_output
        tiles.charge(self.cost, 1)
        tiles.crossbar.conduct(c * c * per_output, 1, float(self.activity[sample, core]))
        tiles.shift_add.merge(c, per_output * mapping.geometry.row_splits)
        tiles.buffer.move(1, c * mapping.input_bits, c * mapping.act_bits)


def run_scrramble(
    config: HardwareConfig,
    network: ScrrambleNetwork,
    inputs: np.ndarray,
    *,
    seed: int = 0,
    act_bits: int = 8,
    weight_bits: int | None = None,
    input_node: int = 0,
) -> ScrrambleResult:
    """Replay inference of ``network`` on ``inputs`` on the tiles and NoC of ``config``.

    Args:
        config: hardware with a ``noc`` section and ``signed_weights: offset`` crossbars.
        network: a (trained) ScRRAMBLe network.
        inputs: ``(samples, ...)`` network inputs (28x28x1 digits images or flat vectors).
        seed: recorded in the result, >= 0; the replay is deterministic.
        act_bits: bits per routed activation (payload ``D = slot_size x act_bits``).
        weight_bits: bits per weight (default: one cell, ``tile.crossbar.cell_bits``).
        input_node: router the network input is injected from.

    Returns:
        The counts, latency, energy and header overhead of the run; a pure function of the
        arguments.

    Raises:
        ArchsimError: no ``noc`` section, packets larger than the router buffers, a bad
            argument, or a deadlock (packets never delivered).
        MappingError: the network does not fit the chip (see
            :func:`~archsim.mapping.scrramble.map_scrramble`).
    """
    if seed < 0:
        raise ArchsimError(f"seed: must be >= 0, got {seed}")
    if config.noc is None:
        raise ArchsimError(
            "noc: a ScRRAMBLe run routes every connection over the network-on-chip; "
            f"config '{config.name}' has no noc section"
        )
    topology = build_topology(config.noc)
    mapping = map_scrramble(
        network, config, nodes=topology.nodes, act_bits=act_bits, weight_bits=weight_bits,
        input_node=input_node,
    )
    inputs = np.asarray(inputs)
    if inputs.ndim < 2 or len(inputs) < 1:
        raise ArchsimError(f"inputs: need a batch of >= 1 sample, got shape {inputs.shape}")
    samples = len(inputs)
    noc = config.noc
    packet_format = PacketFormat(
        nodes=topology.nodes,
        link_width_bits=noc.link_width_bits,
        chunk_index_bits=scrramble_address_bits(mapping.chunks, mapping.density),
    )
    env = simpy.Environment()
    flits_per_packet = packet_format.flits(mapping.data_bits)
    # Every packet has this size; it sizes the bubble on rings and tori.
    net = Network(
        env, noc, topology, Routing(topology), packet_format, max_flits=flits_per_packet
    )
    chip = config.chip
    cores = len(mapping.cores)
    tiles = Tiles(config.tile, chip.tiles * chip.crossbars_per_tile, chip.tiles, cores)
    cost = tiles.op_cost(mapping.layout, mapping.input_bits)
    activity = _slice_activities(network, inputs, act_bits, mapping.input_bits, tiles)
    replay = _Replay(env, net, mapping, tiles, cost, activity)
    env.process(replay.run(samples))
    env.run()
    net.check_drained()
    actions: dict[str, float] = {}
    for component in tiles.components():
        actions.update(component.action_counts())
    actions.update(net.action_counts())
    header = packet_format.header_bits
    packets = net.packets_delivered
    header_sent = replay.header_bits_sent
    data_sent = replay.data_bits_sent
    latency = replay.latency.summary()
    c = network.spec.core_inputs
    predictions = network.forward(inputs).argmax(axis=1)
    return ScrrambleResult(
        config_name=config.name,
        seed=seed,
        samples=samples,
        spec=MappingProxyType(spec_dict(network.spec)),
        cores=cores,
        nodes=mapping.nodes,
        clock_hz=chip.clock_hz,
        act_bits=act_bits,
        weight_bits=mapping.weight_bits,
        input_bits=mapping.input_bits,
        op_cycles=cost.cycles,
        tile_ops=cores * samples,
        macs=cores * samples * c * c,
        total_cycles=int(env.now),
        latency_cycles=latency,
        latency_s=latency.mean / chip.clock_hz,
        packets=packets,
        flits=net.flits_delivered,
        header_bits=header,
        data_bits=mapping.data_bits,
        destination_bits=packet_format.destination_bits,
        chunk_index_bits=packet_format.chunk_index_bits,
        chunks=mapping.chunks,
        header_bits_sent=header_sent,
        data_bits_sent=data_sent,
        measured_overhead=header_sent / (header_sent + data_sent),
        analytic_overhead=header / (header + mapping.data_bits),
        packet_latency_cycles=replay.packet_latency.summary(),
        mean_hops=replay.hops / packets,
        actions=MappingProxyType(actions),
        predictions=tuple(int(p) for p in predictions),
    )
