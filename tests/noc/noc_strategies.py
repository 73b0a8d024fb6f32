"""Hypothesis strategies and a synthetic-traffic helper shared by the NoC tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import strategies as st

from archsim.config import load_hardware
from archsim.config.loader import build
from archsim.config.schema import NocConfig
from archsim.hw.noc.topology import build_topology
from archsim.sim import drive_traffic

CONFIGS = Path(__file__).resolve().parents[2] / "hw_configs"


def noc_config(topology: str = "mesh", dims=(4, 4), edges=(), **fields) -> NocConfig:
    """A NoC config of the given shape (2-cycle routers, 16-flit buffers, 32-bit links,
    virtual cut-through unless ``fields`` say otherwise)."""
    data = {
        "topology": topology, "dims": list(dims), "edges": [list(e) for e in edges],
        "router_cycles": 2, "buffer_flits": 16, "link_width_bits": 32, "link_cycles": 1,
        "link_length_m": "1mm", "flow_control": "virtual_cut_through",
        "energy": {"router": "1pJ", "link_bit_mm": "40fJ"},
    }
    data.update(fields)
    return build(NocConfig, data)


@st.composite
def connected_edge_lists(draw, max_nodes: int = 12) -> list[tuple[int, int]]:
    """A random connected graph as a shuffled, randomly oriented list of distinct pairs."""
    n = draw(st.integers(2, max_nodes))
    pairs = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}  # a spanning tree
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    pairs |= {(min(e), max(e)) for e in extra if e[0] != e[1]}
    label = draw(st.permutations(range(n)))
    flips = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    edges = [
        (label[v], label[u]) if flip else (label[u], label[v])
        for (u, v), flip in zip(sorted(pairs), flips)
    ]
    return draw(st.permutations(edges))


@dataclasses.dataclass(frozen=True)
class Traffic:
    """The figures of a synthetic-traffic run that the NoC tests check (one value, comparable)."""

    packets: int
    flits: int
    flits_per_packet: int
    header_bits: int
    data_bits: int | tuple[int, ...]
    header_overhead: float
    latency_mean: float
    latency_p99: float
    zero_load_mean: float
    offered_flits: float
    accepted_flits: float
    cycles: int
    link_utilization: tuple[float, ...]
    steady: bool
    saturated: bool


def run_traffic(
    noc: NocConfig, pattern: str, rate: float, *, packets: int, data_bits, seed: int = 0
) -> Traffic:
    """``archsim.sim.drive_traffic`` on a chip whose NoC is ``noc``, one tile per router (the
    rest of the chip is the ISAAC-like config's and plays no part), as one comparable value."""
    topology = build_topology(noc)
    base = load_hardware(CONFIGS / "isaac_like.yaml")
    config = dataclasses.replace(
        base, noc=noc, chip=dataclasses.replace(base.chip, tiles=topology.nodes)
    )
    result = drive_traffic(config, pattern, rate, packets=packets, data_bits=data_bits, seed=seed)
    traffic, noc_result = result.traffic, result.noc
    assert traffic is not None and noc_result is not None
    return Traffic(
        packets=traffic.packets,
        flits=noc_result.flits,
        flits_per_packet=traffic.flits_per_packet,
        header_bits=traffic.header_bits,
        data_bits=traffic.data_bits,
        header_overhead=traffic.header_overhead,
        latency_mean=noc_result.latency.mean,
        latency_p99=noc_result.latency_p99,
        zero_load_mean=traffic.zero_load_mean,
        offered_flits=traffic.offered_flits,
        accepted_flits=traffic.accepted_flits,
        cycles=result.total_cycles,
        link_utilization=noc_result.link_utilization,
        steady=traffic.steady,
        saturated=traffic.saturated,
    )
