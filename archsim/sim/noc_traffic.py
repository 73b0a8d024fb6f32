"""Standalone network-on-chip runs with synthetic traffic (stage: sim).

:func:`run_traffic` builds the NoC of a hardware config and drives it with open-loop sources:
every node creates packets with geometric inter-arrival times (a Bernoulli process of ``rate``
packets per node per cycle, drawn from a seeded ``numpy.random.Generator``), addressed by a
traffic pattern, until ``packets`` packets exist; the run ends when the last one is delivered.

Patterns: ``uniform`` (any other node, uniformly), ``transpose`` (node (x, y) to (y, x) on a
square mesh or torus), ``hotspot`` (a fraction of packets to node 0, the rest uniform),
``neighbor`` (the next node along the first dimension, wrapping around).

Packets all carry the same payload, or, given a tuple of payload sizes, each one a size drawn
uniformly from it with the same generator (mixed packet sizes); the network is built for the
largest (``Network(max_flits=...)``).

Throughput is measured over the window in which every source is still injecting (from 10 %
of it, after warm-up, to the first source's last packet): offered = flits created in the
window, accepted = flits delivered in it, both per node per cycle. For uniform traffic the
bisection bound is ``2 x bisection links / nodes`` flits per node per cycle (half of all
traffic crosses the bisection).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import simpy

from archsim.config.schema import NocConfig
from archsim.errors import ArchsimError
from archsim.hw.noc.network import Delivery, Network
from archsim.hw.noc.packet import PacketFormat
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology, build_topology

PATTERNS = ("uniform", "transpose", "hotspot", "neighbor")


@dataclass(frozen=True)
class TrafficResult:
    """What a synthetic-traffic run measured. Rates are per node per cycle; times in cycles.

    With mixed packet sizes, ``data_bits`` is the tuple of sizes drawn from,
    ``flits_per_packet`` the largest packet's flits and ``header_overhead`` the measured share
    of header bits, ``A / (A + mean data bits)``.
    """

    pattern: str
    rate: float
    nodes: int
    packets: int
    flits: int
    flits_per_packet: int
    header_bits: int
    data_bits: int | tuple[int, ...]
    header_overhead: float
    cycles: int
    window_cycles: int
    #: whether the window outlasts the longest zero-load latency, so that offered and accepted
    #: throughput describe a steady state (too few packets otherwise)
    steady: bool
    offered_flits: float
    accepted_flits: float
    bisection_bound: float | None  # uniform traffic only
    latency_mean: float
    latency_p50: float
    latency_p99: float
    latency_max: int
    zero_load_mean: float
    link_utilization_max: float
    link_utilization_mean: float
    link_utilization: tuple[float, ...]  # per directed link, in Topology.links order
    links: tuple[tuple[int, int], ...]
    actions: dict[str, float]


def _destinations(
    pattern: str, topology: Topology, rng: np.random.Generator, hotspot: float
) -> Callable[[int, int], np.ndarray]:
    """A function (source, count) -> destination nodes for ``pattern``."""
    nodes = topology.nodes

    def uniform(src: int, count: int) -> np.ndarray:
        picks = rng.integers(0, nodes - 1, size=count)
        return picks + (picks >= src)  # skip the source itself

    if pattern == "uniform":
        return uniform
    if pattern == "hotspot":
        def hot(src: int, count: int) -> np.ndarray:
            spread = uniform(src, count)
            return np.where(rng.random(count) < hotspot, 0, spread)

        return hot
    if pattern == "transpose":
        if topology.kind not in ("mesh", "torus") or len(set(topology.dims)) != 1:
            raise ArchsimError("--pattern transpose: needs a square mesh or torus")
        side = topology.dims[0]

        def transpose(src: int, count: int) -> np.ndarray:
            x, y = src % side, src // side
            return np.full(count, y + side * x)

        return transpose
    if pattern == "neighbor":
        def neighbor(src: int, count: int) -> np.ndarray:
            if topology.kind in ("mesh", "torus"):
                side = topology.dims[0]
                x, y = src % side, src // side
                return np.full(count, (x + 1) % side + side * y)
            if topology.kind == "ring":
                return np.full(count, (src + 1) % nodes)
            return np.full(count, min(topology.graph.successors(src)))

        return neighbor
    raise ArchsimError(f"--pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")


def _sizes(data_bits: int | Sequence[int]) -> tuple[int, ...]:
    """The payload sizes to draw from, checked: integers >= 1, at least one."""
    sizes = (data_bits,) if not isinstance(data_bits, Sequence) else tuple(data_bits)
    if not sizes:
        raise ArchsimError("--data-bits: need at least one payload size, got none")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ArchsimError(f"--data-bits: payloads must be integers >= 1, got {size!r}")
    return tuple(int(size) for size in sizes)


def run_traffic(
    noc: NocConfig,
    pattern: str,
    rate: float,
    *,
    packets: int,
    data_bits: int | Sequence[int],
    seed: int = 0,
    hotspot: float = 0.2,
) -> TrafficResult:
    """Drive the NoC of ``noc`` with ``packets`` synthetic packets.

    ``data_bits`` is every packet's payload in bits, or a sequence of payload sizes each
    packet draws one of, uniformly. Raises :class:`ArchsimError` for a rate outside (0, 1], a
    bad pattern or size, packets that cannot fit the router buffers, or a deadlock.
    """
    if not 0.0 < rate <= 1.0:
        raise ArchsimError(f"--rate: packets per node per cycle must be in (0, 1], got {rate}")
    if packets < 1:
        raise ArchsimError(f"--packets: must be >= 1, got {packets}")
    sizes = _sizes(data_bits)
    topology = build_topology(noc)
    routing = Routing(topology)
    packet_format = PacketFormat(topology.nodes, noc.link_width_bits)
    env = simpy.Environment()
    flits = max(packet_format.flits(bits) for bits in sizes)
    network = Network(env, noc, topology, routing, packet_format, max_flits=flits)
    rng = np.random.default_rng(seed)
    destinations = _destinations(pattern, topology, rng, hotspot)
    nodes = topology.nodes
    share = [packets // nodes + (node < packets % nodes) for node in range(nodes)]
    schedule = []
    for node, count in enumerate(share):
        times = np.cumsum(rng.geometric(rate, size=count)) - 1
        targets = destinations(node, count)
        # One size needs no draw, so single-size runs keep the generator's stream.
        payloads = (
            np.full(count, sizes[0]) if len(sizes) == 1 else rng.choice(np.array(sizes), count)
        )
        schedule.append((times, targets, payloads))
    deliveries: list[Delivery] = []

    def collect(event: simpy.Event) -> None:
        deliveries.append(event.value)

    def source(node: int) -> simpy.events.ProcessGenerator:
        times, targets, payloads = schedule[node]
        for when, dst, bits in zip(times.tolist(), targets.tolist(), payloads.tolist()):
            if when > env.now:
                yield env.timeout(when - env.now)
            network.send(node, dst, bits).callbacks.append(collect)

    for node in range(nodes):
        if share[node]:
            env.process(source(node))
    env.run()
    network.check_drained()
    latencies = np.array([d.latency for d in deliveries], dtype=np.int64)
    delivered_at = np.array([d.delivered for d in deliveries], dtype=np.int64)
    created_at = np.array([d.created for d in deliveries], dtype=np.int64)
    packet_flits = np.array([d.flits for d in deliveries], dtype=np.int64)
    window_end = min(int(times[-1]) + 1 for times, _, _ in schedule if len(times))
    window_start = window_end // 10
    span = max(1, window_end - window_start)
    created_in = (created_at >= window_start) & (created_at < window_end)
    delivered_in = (delivered_at >= window_start) & (delivered_at < window_end)
    offered = int(packet_flits[created_in].sum())
    accepted = int(packet_flits[delivered_in].sum())
    cycles = int(env.now)
    zero_load = [
        routing.hops(d.src, d.dst) * (noc.router_cycles + noc.link_cycles) + d.flits
        for d in deliveries
    ]
    header = packet_format.header_bits
    mean_data = sum(int(payloads.sum()) for _, _, payloads in schedule) / len(deliveries)
    bound = None
    if pattern == "uniform" and topology.bisection_links:
        bound = 2.0 * topology.bisection_links / nodes
    return TrafficResult(
        pattern=pattern,
        rate=rate,
        nodes=nodes,
        packets=len(deliveries),
        flits=network.flits_delivered,
        flits_per_packet=flits,
        header_bits=header,
        data_bits=sizes if isinstance(data_bits, Sequence) else sizes[0],
        header_overhead=header / (header + mean_data),
        cycles=cycles,
        window_cycles=span,
        steady=span >= max(zero_load),
        offered_flits=offered / (nodes * span),
        accepted_flits=accepted / (nodes * span),
        bisection_bound=bound,
        latency_mean=float(latencies.mean()),
        latency_p50=float(np.percentile(latencies, 50)),
        latency_p99=float(np.percentile(latencies, 99)),
        latency_max=int(latencies.max()),
        zero_load_mean=float(np.mean(zero_load)),
        link_utilization_max=float(network.link_flits.max() / cycles) if cycles else 0.0,
        link_utilization_mean=float(network.link_flits.mean() / cycles) if cycles else 0.0,
        link_utilization=tuple(float(f) / max(1, cycles) for f in network.link_flits),
        links=topology.links,
        actions=dict(network.action_counts()),
    )
