"""Synthetic NoC traffic: the schedule of ``archsim noc`` (stage: sim).

:func:`drive_traffic` has the hardware stage build the chip of a config without a workload
(:func:`archsim.hw.system.build_system`) and drives its network-on-chip with open-loop sources:
every node creates packets with geometric inter-arrival times (a Bernoulli process of ``rate``
packets per node per cycle, drawn from a seeded ``numpy.random.Generator``), addressed by a
traffic pattern, until ``packets`` packets exist; the run ends when the last one is delivered.
The result is a :class:`~archsim.sim.result.SimResult` like a trace's, with ``mode`` ``traffic``
and a :class:`~archsim.sim.result.TrafficResult`.

Patterns: ``uniform`` (any other node, uniformly), ``transpose`` (node (x, y) to (y, x) on a
square mesh or torus), ``hotspot`` (a fraction of packets to node 0, the rest uniform),
``neighbor`` (the next node along the first dimension, wrapping around).

Packets all carry the same payload, or, given a tuple of payload sizes, each one a size drawn
uniformly from it with the same generator (mixed packet sizes); the network is built for the
largest.

Throughput is measured over the window in which every source is still injecting (from 10 %
of it, after warm-up, to the first source's last packet): offered = flits created in the
window, accepted = flits delivered in it, both per node per cycle. For uniform traffic the
bisection bound is ``2 x bisection links / nodes`` flits per node per cycle (half of all
traffic crosses the bisection). The network is *saturated* when it accepts less than
:data:`SATURATION_ACCEPTED` of the offered load or its 99th-percentile latency exceeds
:data:`SATURATION_LATENCY` times the mean zero-load latency.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import numpy as np
import simpy

from archsim.config.schema import HardwareConfig
from archsim.errors import ArchsimError
from archsim.hw.noc.network import Delivery
from archsim.hw.noc.topology import Topology
from archsim.hw.system import build_system
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.sim.engine import naming_config, sim_result
from archsim.sim.handlers import Simulation
from archsim.sim.result import SimResult, TrafficResult
from archsim.stats import Tally

__all__ = ["PATTERNS", "SATURATION_ACCEPTED", "SATURATION_LATENCY", "drive_traffic"]

#: Accepted below this share of the offered throughput: saturated.
SATURATION_ACCEPTED: Final = 0.95

#: A 99th-percentile latency above this many mean zero-load latencies: saturated.
SATURATION_LATENCY: Final = 10.0


#: Picks ``count`` destination routers for a packet source: ``(source, count) -> nodes``.
Destinations = Callable[[int, int], np.ndarray]


def _uniform(topology: Topology, rng: np.random.Generator, hotspot: float) -> Destinations:
    """Every other router equally likely."""
    nodes = topology.nodes

    def uniform(src: int, count: int) -> np.ndarray:
        picks = rng.integers(0, nodes - 1, size=count)
        return picks + (picks >= src)  # skip the source itself

    return uniform


def _hotspot(topology: Topology, rng: np.random.Generator, hotspot: float) -> Destinations:
    """Router 0 with probability ``hotspot``, else uniform."""
    uniform = _uniform(topology, rng, hotspot)

    def hot(src: int, count: int) -> np.ndarray:
        spread = uniform(src, count)
        return np.where(rng.random(count) < hotspot, 0, spread)

    return hot


def _transpose(topology: Topology, rng: np.random.Generator, hotspot: float) -> Destinations:
    """(x, y) sends to (y, x), on a square mesh or torus."""
    if topology.kind not in ("mesh", "torus") or len(set(topology.dims)) != 1:
        raise ArchsimError("--pattern transpose: needs a square mesh or torus")
    side = topology.dims[0]

    def transpose(src: int, count: int) -> np.ndarray:
        x, y = src % side, src // side
        return np.full(count, y + side * x)

    return transpose


def _neighbor(topology: Topology, rng: np.random.Generator, hotspot: float) -> Destinations:
    """The next router: x + 1 on a mesh or torus row (wrapping), the next on a ring, the first
    child (or successor) otherwise."""
    nodes = topology.nodes

    def neighbor(src: int, count: int) -> np.ndarray:
        if topology.kind in ("mesh", "torus"):
            side = topology.dims[0]
            x, y = src % side, src // side
            return np.full(count, (x + 1) % side + side * y)
        if topology.kind == "ring":
            return np.full(count, (src + 1) % nodes)
        return np.full(count, min(topology.graph.successors(src)))

    return neighbor


#: The traffic patterns by name: each makes the destination picker of a topology, drawing from
#: the run's generator (``hotspot``: the hot router's share, for ``hotspot``).
PATTERNS: Final[
    Mapping[str, Callable[[Topology, np.random.Generator, float], Destinations]]
] = MappingProxyType({
    "uniform": _uniform, "transpose": _transpose, "hotspot": _hotspot, "neighbor": _neighbor,
})


def _destinations(
    pattern: str, topology: Topology, rng: np.random.Generator, hotspot: float
) -> Destinations:
    """The destination picker of ``pattern`` on ``topology``."""
    make = PATTERNS.get(pattern)
    if make is None:
        raise ArchsimError(f"--pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")
    return make(topology, rng, hotspot)


def _sizes(data_bits: int | Sequence[int]) -> tuple[int, ...]:
    """The payload sizes to draw from, checked: integers >= 1, at least one."""
    sizes = (data_bits,) if not isinstance(data_bits, Sequence) else tuple(data_bits)
    if not sizes:
        raise ArchsimError("--data-bits: need at least one payload size, got none")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ArchsimError(f"--data-bits: payloads must be integers >= 1, got {size!r}")
    return tuple(int(size) for size in sizes)


def drive_traffic(
    config: HardwareConfig,
    pattern: str,
    rate: float,
    *,
    packets: int,
    data_bits: int | Sequence[int],
    seed: int = 0,
    hotspot: float = 0.2,
    limits: Limits = DEFAULT_LIMITS,
    config_source: str | None = None,
) -> SimResult:
    """Drive the NoC of ``config`` with ``packets`` synthetic packets.

    ``data_bits`` is every packet's payload in bits, or a sequence of payload sizes each
    packet draws one of, uniformly. Raises :class:`ArchsimError` for a config without a NoC, a
    rate outside (0, 1], a bad pattern or size, packets that cannot fit the router buffers, a
    deadlock, or more packets than ``limits.packets``; errors about the config name
    ``config_source`` when given.
    """
    if config.noc is None:
        raise ArchsimError(f"noc: config '{config.name}' has no network-on-chip section")
    if not 0.0 < rate <= 1.0:
        raise ArchsimError(f"--rate: packets per node per cycle must be in (0, 1], got {rate}")
    if packets < 1:
        raise ArchsimError(f"--packets: must be >= 1, got {packets}")
    limits.check("packets", packets, f"--packets {packets}")
    sizes = _sizes(data_bits)
    env = simpy.Environment()
    with naming_config(config_source):
        system = build_system(env, config, limits=limits, packet_bits=max(sizes))
    network, topology = system.noc, system.topology
    assert network is not None and topology is not None
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
    traffic = _measure(
        config, topology, schedule, deliveries, pattern, rate, sizes, data_bits,
        network.format.header_bits, network.format.flits(max(sizes)),
        network.latency.summary().p99 or 0.0,
    )
    return sim_result(
        Simulation(system, limits),
        model=f"synthetic {pattern} traffic", seed=seed, mode="traffic", samples=0,
        latency=Tally("latency", "cycles", "no samples in a traffic run").summary(),
        first_latency=0, interval=0.0, traffic=traffic,
    )


def _measure(
    config: HardwareConfig,
    topology: Topology,
    schedule: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    deliveries: list[Delivery],
    pattern: str,
    rate: float,
    sizes: tuple[int, ...],
    data_bits: int | Sequence[int],
    header: int,
    flits: int,
    p99: float,
) -> TrafficResult:
    """Offered and accepted throughput in the measuring window, steadiness and saturation."""
    noc = config.noc
    assert noc is not None
    nodes = topology.nodes
    delivered_at = np.array([d.delivered for d in deliveries], dtype=np.int64)
    created_at = np.array([d.created for d in deliveries], dtype=np.int64)
    packet_flits = np.array([d.flits for d in deliveries], dtype=np.int64)
    window_end = min(int(times[-1]) + 1 for times, _, _ in schedule if len(times))
    window_start = window_end // 10
    span = max(1, window_end - window_start)
    created_in = (created_at >= window_start) & (created_at < window_end)
    delivered_in = (delivered_at >= window_start) & (delivered_at < window_end)
    offered = int(packet_flits[created_in].sum()) / (nodes * span)
    accepted = int(packet_flits[delivered_in].sum()) / (nodes * span)
    per_hop = noc.router_cycles + noc.link_cycles
    zero_load = [d.hops * per_hop + d.flits for d in deliveries]
    zero_load_mean = float(np.mean(zero_load))
    mean_data = sum(int(payloads.sum()) for _, _, payloads in schedule) / len(deliveries)
    bound = None
    if pattern == "uniform" and topology.bisection_links:
        bound = 2.0 * topology.bisection_links / nodes
    saturated = accepted < SATURATION_ACCEPTED * offered or p99 > SATURATION_LATENCY * zero_load_mean
    return TrafficResult(
        pattern=pattern,
        rate=rate,
        nodes=nodes,
        packets=len(deliveries),
        flits_per_packet=flits,
        header_bits=header,
        data_bits=sizes if isinstance(data_bits, Sequence) else sizes[0],
        header_overhead=header / (header + mean_data),
        window_cycles=span,
        long_window=span >= max(zero_load),
        steady=span >= max(zero_load) and not saturated,
        saturated=saturated,
        offered_flits=offered,
        accepted_flits=accepted,
        bisection_bound=bound,
        zero_load_mean=zero_load_mean,
    )
