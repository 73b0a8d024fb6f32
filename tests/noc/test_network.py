"""NoC timing model: closed forms, conservation, contention and deadlock freedom, mixed
packet sizes under virtual cut-through."""

from __future__ import annotations

import dataclasses

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from noc_strategies import noc_config, run_traffic

from archsim.config.schema import NocConfig
from archsim.errors import ArchsimError
from archsim.hw.noc.network import Network
from archsim.hw.noc.packet import PacketFormat, zero_load_latency
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import build_topology


def network_for(config: NocConfig) -> tuple[simpy.Environment, Network, Routing]:
    env = simpy.Environment()
    topology = build_topology(config)
    routing = Routing(topology)
    net = Network(env, config, topology, routing, PacketFormat(topology.nodes, config.link_width_bits))
    return env, net, routing


topologies = st.sampled_from([
    ("mesh", (4, 4), ()), ("mesh", (3, 5), ()), ("torus", (4, 4), ()), ("torus", (3, 2), ()),
    ("ring", (6,), ()), ("tree", (2, 3), ()), ("edges", (), ((0, 1), (1, 2), (2, 3), (1, 4))),
])


@settings(max_examples=150, deadline=None)
@given(shape=topologies, data=st.data(), data_bits=st.integers(1, 200),
       router=st.integers(1, 4), link=st.integers(0, 3), width=st.sampled_from([8, 16, 32, 64]))
def test_zero_load_latency_matches_the_closed_form(shape, data, data_bits, router, link, width):
    """Property: one packet alone takes hops x (router + link) + flits cycles, on every
    topology, for random sources, destinations and sizes."""
    kind, dims, edges = shape
    config = noc_config(kind, dims, edges, router_cycles=router, link_cycles=link,
                        link_width_bits=width, buffer_flits=1 << 12)
    env, net, routing = network_for(config)
    src = data.draw(st.integers(0, net.topology.nodes - 1))
    dst = data.draw(st.integers(0, net.topology.nodes - 1))
    process = net.send(src, dst, data_bits)
    env.run()
    delivery = process.value
    flits = net.format.flits(data_bits)
    assert delivery.latency == zero_load_latency(routing.hops(src, dst), flits, router, link)


def test_two_packets_on_one_link_wait_for_each_other():
    """On a 4x1 mesh (router 2, link 1 cycle), packets a (0->2) and b (1->2) of 4 flits, both
    created at cycle 0, need link 1->2. b takes it at cycle 2 (after its router) and holds it
    for 4 cycles; a reaches it at cycle 5 and waits until 6. Hand-computed times below."""
    config = noc_config("mesh", (4, 1), link_width_bits=32)
    env, net, _ = network_for(config)
    a = net.send(0, 2, 96)  # 96 data bits + 2 header bits -> 4 flits of 32 bits
    b = net.send(1, 2, 96)
    env.run()
    assert net.format.flits(96) == 4
    assert b.value.delivered == 2 + 1 + 4  # router, link, eject: 7
    # a: router at 0 (2), link 0->1 (1), router at 1 (2) -> wants link 1->2 at 5, free at 6;
    # link 1->2 (1) -> head at node 2 at 7; ejection port free at 7 (b's tail left at 7): 7+4.
    assert a.value.delivered == 11


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["mesh", "torus"]), side=st.integers(2, 5),
       pattern=st.sampled_from(["uniform", "transpose", "hotspot", "neighbor"]),
       seed=st.integers(0, 100))
def test_no_deadlock_past_saturation_and_flits_are_conserved(kind, side, pattern, seed):
    """Every source injects a packet every cycle (far past saturation); every flit injected is
    delivered and the run finishes."""
    config = noc_config(kind, (side, side), buffer_flits=8)
    result = run_traffic(config, pattern, 1.0, packets=60 * side * side, data_bits=64, seed=seed)
    assert result.packets == 60 * side * side
    assert result.flits == result.packets * result.flits_per_packet


def test_measured_header_overhead_is_a_over_a_plus_d():
    config = noc_config("mesh", (8, 8))
    result = run_traffic(config, "uniform", 0.01, packets=500, data_bits=100, seed=1)
    header = result.header_bits
    assert header == 6  # log2(64) destination bits
    assert result.header_overhead == header / (header + 100)


def test_latency_rises_with_load_below_saturation():
    """Uniform traffic on an 8x8 mesh: mean latency is monotone in the offered load below
    saturation, and close to the zero-load figure at a light load."""
    config = noc_config("mesh", (8, 8), buffer_flits=8)
    means = [
        run_traffic(config, "uniform", rate, packets=4000, data_bits=64, seed=3).latency_mean
        for rate in (0.01, 0.04, 0.08)
    ]
    assert means == sorted(means)
    light = run_traffic(config, "uniform", 0.005, packets=2000, data_bits=64, seed=3)
    assert light.latency_mean < 1.1 * light.zero_load_mean


def test_same_seed_same_result_and_seeds_matter():
    config = noc_config("torus", (4, 4), buffer_flits=8)
    first = run_traffic(config, "hotspot", 0.2, packets=800, data_bits=64, seed=5)
    again = run_traffic(config, "hotspot", 0.2, packets=800, data_bits=64, seed=5)
    other = run_traffic(config, "hotspot", 0.2, packets=800, data_bits=64, seed=6)
    assert first == again
    assert first != other


# --------------------------------------------------------------------------------------------
# Mixed packet sizes under virtual cut-through: the bubble is sized for the largest packet
# --------------------------------------------------------------------------------------------


def test_bubble_needs_room_for_the_packet_plus_the_largest():
    """A 4-ring (router 1, link 1), 32-bit flits (2 header bits), largest packet 4 flits.

    W (0 -> 2, 4 flits, cycle 0) enters the ring at router 0 with room for 4 + 4 = 8 flits,
    continues at router 1 needing only its own 4 (link 1->2 at 3) and holds 4 slots of the
    buffer behind link 1->2 until it is delivered at 8. Q (1 -> 3, 1 flit, cycle 3) enters the
    ring at router 1 at 4, into that buffer: with 8-flit buffers it needs 1 + 4 = 5 slots and
    has 4, so it waits until 8, then links 1->2 at 8 and 2->3 at 10: delivered 12. With 9-flit
    buffers it has its 5 at 4 and only waits for W's link (free at 3 + 4 = 7): delivered 11.
    (A bubble of twice Q's own size, 2 flits, would let Q in at 4 with 8-flit buffers too.)"""
    delivered = {}
    for buffer in (8, 9):
        env, net, _ = network_for(noc_config("ring", (4,), buffer_flits=buffer, router_cycles=1,
                                             link_cycles=1, link_width_bits=32))
        net = Network(env, net.config, net.topology, net.routing, net.format, max_flits=4)
        header = net.format.header_bits
        w = net.send(0, 2, 4 * 32 - header)
        out = {}

        def later():
            yield env.timeout(3)
            out["q"] = net.send(1, 3, 32 - header)

        env.process(later())
        env.run()
        delivered[buffer] = (w.value.delivered, out["q"].value.delivered)
    assert delivered == {8: (8, 12), 9: (8, 11)}


@settings(max_examples=16, deadline=None)
@given(shape=st.sampled_from([("ring", (6,)), ("ring", (9,)), ("torus", (4, 4)),
                              ("torus", (6, 3)), ("mesh", (4, 4))]),
       pattern=st.sampled_from(["uniform", "hotspot", "neighbor"]),
       sizes=st.sampled_from([(20, 120), (40, 70), (20, 60, 120), (20, 50, 90)]),
       spare=st.integers(0, 2), seed=st.integers(0, 100))
def test_no_deadlock_with_mixed_sizes_past_saturation(shape, pattern, sizes, spare, seed):
    """Every source injects a packet every cycle with sizes mixed (1 to 4 flits), through
    buffers just deep enough for the bubble (twice the largest packet, plus 0-2 flits) or, on
    the mesh, for the largest packet: every packet and flit is delivered."""
    kind, dims = shape
    nodes = dims[0] * (dims[1] if len(dims) > 1 else 1)
    largest = max(-(-(6 + bits) // 32) for bits in sizes)  # at most 6 header bits here
    buffer = (2 if kind != "mesh" else 1) * largest + spare
    config = noc_config(kind, dims, buffer_flits=buffer)
    result = run_traffic(config, pattern, 1.0, packets=40 * nodes, data_bits=sizes, seed=seed)
    assert result.packets == 40 * nodes
    assert result.flits_per_packet == largest


def test_max_flits_defaults_to_the_largest_packet_the_buffers_admit():
    vct = "virtual_cut_through"
    cases = [("mesh", (3, 3), vct, 16), ("tree", (2, 2), vct, 16), ("ring", (5,), vct, 8),
             ("torus", (3, 3), vct, 8), ("mesh", (3, 3), "wormhole", None),
             ("torus", (3, 3), "wormhole", None)]
    for kind, dims, flow, largest in cases:
        _, net, _ = network_for(noc_config(kind, dims, flow_control=flow))
        assert net.max_flits == largest, kind


def test_sizes_are_refused_naming_what_was_expected():
    env, ring, _ = network_for(noc_config("ring", (5,), buffer_flits=16))
    ring.check_fits(8)
    with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: bubble flow control on a ring or "
                                           r"torus needs room for a packet plus the largest "
                                           r"packet \(9 \+ 9 = 18 flits\), got 16"):
        ring.check_fits(9)
    args = (env, ring.config, ring.topology, ring.routing, ring.format)
    with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: .*\(9 \+ 9 = 18 flits\), got 16"):
        Network(*args, max_flits=9)
    stated = Network(*args, max_flits=3)
    stated.check_fits(3)
    with pytest.raises(ArchsimError, match="max_flits: a 4-flit packet is larger than the largest "
                                           "packet this network was built for, 3 flits"):
        stated.send(0, 1, 4 * 32 - stated.format.header_bits)
    assert stated.packets_injected == 0
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="max_flits: must be an integer >= 1"):
            Network(*args, max_flits=bad)
    _, mesh, _ = network_for(noc_config("mesh", (3, 3), buffer_flits=4))
    with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: virtual cut-through needs room for "
                                           r"a whole packet \(5 flits\), got 4"):
        mesh.check_fits(5)


def test_mixed_sizes_are_drawn_from_the_seeded_generator():
    """A tuple of payload sizes: each packet draws one, reproducibly; throughput and overhead
    count the flits and bits actually sent."""
    config = noc_config("torus", (4, 4), buffer_flits=8)
    first = run_traffic(config, "uniform", 0.05, packets=1600, data_bits=(26, 90), seed=4)
    assert first == run_traffic(config, "uniform", 0.05, packets=1600, data_bits=(26, 90), seed=4)
    assert first != run_traffic(config, "uniform", 0.05, packets=1600, data_bits=(26, 90), seed=5)
    assert first.data_bits == (26, 90)
    assert first.flits_per_packet == 3  # 4 header + 90 data bits in 32-bit flits
    short = (first.packets * 3 - first.flits) // 2  # 1-flit packets, the rest 3 flits
    assert 700 < short < 900  # about half of 1600
    mean_data = (26 * short + 90 * (first.packets - short)) / first.packets
    assert first.header_overhead == pytest.approx(4 / (4 + mean_data), rel=1e-12)
    single = run_traffic(config, "uniform", 0.05, packets=1600, data_bits=(90,), seed=4)
    assert single.data_bits == (90,)
    assert dataclasses.replace(single, data_bits=90) == run_traffic(
        config, "uniform", 0.05, packets=1600, data_bits=90, seed=4)
    for bad in ((), (0, 5), (3.5,)):
        with pytest.raises(ArchsimError, match="--data-bits"):
            run_traffic(config, "uniform", 0.05, packets=10, data_bits=bad)
