"""Wormhole flow control: closed forms, a hand-computed blocked worm, deadlock freedom (mesh,
tree, ring and torus with a dateline), equivalence with virtual cut-through when packets fit,
and the combinations refused."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_strategies import run_traffic
from test_network import network_for, noc_config

from archsim.errors import ArchsimError
from archsim.hw.noc.network import Network
from archsim.hw.noc.packet import zero_load_latency

WORMHOLE = {"flow_control": "wormhole"}

#: Every topology wormhole supports; the 4-cycle edge list has cycles in its graph but not in
#: its channel dependencies (checked in test_edge_lists_are_refused_only_with_cyclic_dependencies).
topologies = st.sampled_from([
    ("mesh", (4, 4), ()), ("mesh", (5, 2), ()), ("torus", (4, 4), ()), ("torus", (3, 2), ()),
    ("torus", (5, 3), ()), ("ring", (6,), ()), ("ring", (7,), ()), ("tree", (2, 3), ()),
    ("edges", (), ((0, 1), (1, 2), (2, 3), (1, 4))),
    ("edges", (), ((0, 1), (1, 2), (2, 3), (3, 0))),
])


def payload(flits: int, header_bits: int, width: int = 32) -> int:
    """Data bits that make a packet of exactly ``flits`` flits."""
    return flits * width - header_bits


def send_at(env: simpy.Environment, net: Network, when: int, src: int, dst: int, bits: int,
            out: dict[str, simpy.Process], name: str) -> None:
    """Send a packet at cycle ``when``; its process goes in ``out[name]``."""
    def later():
        yield env.timeout(when)
        out[name] = net.send(src, dst, bits)

    env.process(later())


@settings(max_examples=200, deadline=None)
@given(shape=topologies, data=st.data(), data_bits=st.integers(1, 400),
       router=st.integers(1, 4), link=st.integers(0, 3), width=st.sampled_from([8, 16, 32]),
       buffer=st.integers(1, 6))
def test_zero_load_latency_matches_the_closed_form(shape, data, data_bits, router, link, width,
                                                   buffer):
    """Property: a packet alone takes hops x (router + link) + flits cycles under wormhole, on
    every topology, for random endpoints and sizes, including packets many times longer than
    the buffers (up to 400 data bits in 8-bit flits through 1-flit buffers)."""
    kind, dims, edges = shape
    if kind in ("ring", "torus"):
        buffer = max(buffer, 2)  # two virtual channels of at least one flit
    # A (virtual-channel) buffer must cover the link's flight time (refused otherwise).
    link = min(link, buffer // 2 if kind in ("ring", "torus") else buffer)
    config = noc_config(kind, dims, edges, router_cycles=router, link_cycles=link,
                        link_width_bits=width, buffer_flits=buffer, **WORMHOLE)
    env, net, routing = network_for(config)
    src = data.draw(st.integers(0, net.topology.nodes - 1))
    dst = data.draw(st.integers(0, net.topology.nodes - 1))
    process = net.send(src, dst, data_bits)
    env.run()
    flits = net.format.flits(data_bits)
    assert process.value.latency == zero_load_latency(routing.hops(src, dst), flits, router, link)
    assert (net.packets_delivered, net.flits_delivered) == (1, flits)
    # Every credit, channel and port came back.
    pools = net._buffers + net._channels + net._wires + net._inject + net._local + net._eject
    assert all(pool.level == pool.capacity for pool in pools)


def test_blocked_long_packet_holds_the_links_behind_it():
    """A 6x1 line, router 1 cycle, link 1 cycle, 2-flit buffers, 32-bit flits (3 header bits).

    * X (3 -> 5, 10 flits, cycle 0) takes link 3->4 at 1 and link 4->5 at 3; its tail leaves
      the buffer behind link 3->4 at t = max(3 + 10, 4 + 10 - 2) = 13; delivered 4 + 10 = 14.
    * A (0 -> 4, 8 flits, cycle 0) takes links 0->1, 1->2, 2->3 at 1, 3, 5, then at 7 waits for
      room behind link 3->4 until 13, ejects from 14: delivered 22. Stalled, its flits fill the
      buffers at routers 3, 2, 1 and 0 (two each), so it holds links 0->1, 1->2 and 2->3; the
      tail leaves the buffer behind link 1->2 at t = max(5 + 8, 13 + 8 - 2, 14 + 8 - 4) = 19.
    * C (1 -> 2, 1 flit, cycle 8) needs link 1->2 and the buffer behind it: it waits from 9 to
      19, and is delivered at 19 + 1 + 1 = 21 instead of 8 + 3 = 11.

    With 8-flit buffers A fits in the buffer at router 3 and its tail clears link 1->2 and the
    buffer behind it at 5 + 8 = 13; C goes then and is delivered at 15, X's blocking no longer
    reaches it."""
    delivered = {}
    for buffer in (2, 8):
        config = noc_config("mesh", (6, 1), buffer_flits=buffer, router_cycles=1,
                            link_cycles=1, link_width_bits=32, **WORMHOLE)
        env, net, _ = network_for(config)
        header = net.format.header_bits
        assert header == 3
        out = {"x": net.send(3, 5, payload(10, header)), "a": net.send(0, 4, payload(8, header))}
        send_at(env, net, 8, 1, 2, payload(1, header), out, "c")
        env.run()
        delivered[buffer] = {name: p.value.delivered for name, p in out.items()}
    assert delivered[2] == {"x": 14, "a": 22, "c": 21}
    assert delivered[8] == {"x": 14, "a": 22, "c": 15}


def test_dateline_channels_are_separate_but_share_the_wires():
    """A 5-ring, router 1, link 1, 8-flit buffers (4 per virtual channel), 32-bit flits.

    * X (2 -> 1, 20 flits, cycle 0) ejects at router 1 from cycle 2 to 22.
    * P (4 -> 1, 8 flits, cycle 0) takes the wrap link 4->0 at 1 and link 0->1 at 3, both on
      virtual channel 1; it waits for router 1's ejection port until 22, so it holds channel 1
      of link 0->1 until its tail crosses, at t = max(3 + 8, 22 + 8 - 4) = 26.
    * Q (0 -> 2, 4 flits, cycle 5) takes link 0->1 on virtual channel 0: not blocked by P's
      channel, but the wires are P's for its 8 flit cycles, 3 to 11. Q takes them at 11, link
      1->2 at 13, ejects at 14: delivered 18 (without the shared wires 5 + 2 x 2 + 4 = 13;
      with one channel, after 26)."""
    config = noc_config("ring", (5,), buffer_flits=8, router_cycles=1, link_cycles=1,
                        link_width_bits=32, **WORMHOLE)
    env, net, _ = network_for(config)
    header = net.format.header_bits
    out = {"x": net.send(2, 1, payload(20, header)), "p": net.send(4, 1, payload(8, header))}
    send_at(env, net, 5, 0, 2, payload(4, header), out, "q")
    env.run()
    assert {name: p.value.delivered for name, p in out.items()} == {"x": 22, "p": 30, "q": 18}


@settings(max_examples=16, deadline=None)
@given(shape=st.sampled_from([("mesh", (4, 4)), ("mesh", (5, 3)), ("torus", (4, 4)),
                              ("torus", (5, 3)), ("torus", (3, 3)), ("ring", (6,)),
                              ("ring", (9,))]),
       pattern=st.sampled_from(["uniform", "hotspot", "neighbor"]),
       sizes=st.sampled_from([(60,), (20, 200), (20, 60, 500)]),
       buffer=st.sampled_from([2, 4, 8]), seed=st.integers(0, 100))
def test_no_deadlock_past_saturation_and_flits_are_conserved(shape, pattern, sizes, buffer,
                                                             seed):
    """Every source injects a packet every cycle (far past saturation), with packet sizes
    mixed and up to 16 times the buffer depth; every packet and flit injected is delivered
    (run_traffic raises on a deadlock). Without the dateline, rings and tori deadlock here."""
    kind, dims = shape
    nodes = dims[0] * (dims[1] if len(dims) > 1 else 1)
    config = noc_config(kind, dims, buffer_flits=buffer, **WORMHOLE)
    result = run_traffic(config, pattern, 1.0, packets=40 * nodes, data_bits=sizes, seed=seed)
    assert result.packets == 40 * nodes
    flits = [-(-(result.header_bits + bits) // 32) for bits in sizes]
    assert min(flits) * result.packets <= result.flits <= max(flits) * result.packets


@pytest.mark.parametrize("kind, dims, edges", [
    ("mesh", (4, 4), ()), ("mesh", (6, 2), ()), ("tree", (3, 2), ()),
    ("edges", (), ((0, 1), (1, 2), (1, 3), (3, 4))),
])
@pytest.mark.parametrize("rate", [0.05, 1.0])
def test_wormhole_is_virtual_cut_through_when_packets_fit(kind, dims, edges, rate):
    """With buffers at least as deep as every packet, a wormhole packet takes room for all of
    itself at every hop, like a virtual-cut-through one, so its tail is never more than the
    packet behind its head and every resource comes back at the same cycle: the two runs are
    identical, below and far past saturation, with mixed sizes (so wormhole is no worse)."""
    sizes = (20, 60, 120)  # 1, 2 and 4 flits of 32 bits
    runs = [
        run_traffic(noc_config(kind, dims, edges, buffer_flits=4, flow_control=flow), "uniform",
                    rate, packets=1500, data_bits=sizes, seed=2)
        for flow in ("virtual_cut_through", "wormhole")
    ]
    assert runs[0] == runs[1]
    assert runs[0].flits_per_packet == 4


def test_wormhole_carries_packets_longer_than_the_buffers():
    """Virtual cut-through refuses a 5-flit packet with 4-flit buffers; wormhole carries it
    at the zero-load latency."""
    vct = noc_config("mesh", (4, 4), buffer_flits=4)
    env, net, _ = network_for(vct)
    with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: .*whole packet \(5 flits\), got 4"):
        net.send(0, 15, 150)
    env, net, routing = network_for(noc_config("mesh", (4, 4), buffer_flits=4, **WORMHOLE))
    process = net.send(0, 15, 150)
    env.run()
    assert process.value.flits == 5
    assert process.value.latency == zero_load_latency(6, 5, 2, 1)
    assert net.max_flits is None


def test_edge_lists_are_refused_only_with_cyclic_dependencies():
    """On a 5-cycle the shortest-path routes 0->1->2, 1->2->3, ..., 4->0->1 chain the five
    clockwise links into a cycle of channel dependencies: with every buffer on it full, no
    packet could advance under either flow control, so it is refused. A 4-cycle's routes do
    not close one, and a tree cannot."""
    five = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 0))
    with pytest.raises(ArchsimError, match=r"noc\.edges: wormhole could deadlock.*"
                                           r"cycle of 5 channel dependencies"):
        network_for(noc_config("edges", (), five, **WORMHOLE))
    with pytest.raises(ArchsimError, match=r"noc\.edges: virtual_cut_through could deadlock"):
        network_for(noc_config("edges", (), five))
    for edges in (((0, 1), (1, 2), (2, 3), (3, 0)), ((0, 1), (0, 2), (2, 3))):
        network_for(noc_config("edges", (), edges, **WORMHOLE))
        network_for(noc_config("edges", (), edges))


def test_rings_need_two_flit_buffers_for_the_dateline():
    for kind, dims in (("ring", (4,)), ("torus", (3, 3))):
        with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: wormhole on a ring or torus"
                                               r".*two virtual channels.*got 1"):
            network_for(noc_config(kind, dims, buffer_flits=1, **WORMHOLE))
    network_for(noc_config("mesh", (3, 3), buffer_flits=1, **WORMHOLE))


def test_max_flits_bounds_wormhole_packets_when_stated():
    config = noc_config("torus", (4, 4), buffer_flits=2, **WORMHOLE)
    env, net, _ = network_for(config)
    net.check_fits(1000)  # no limit by default
    topology, routing = net.topology, net.routing
    net = Network(simpy.Environment(), config, topology, routing, net.format, max_flits=40)
    net.check_fits(40)
    with pytest.raises(ArchsimError, match="max_flits: a 41-flit packet is larger than"):
        net.send(0, 5, 41 * 32 - net.format.header_bits)
    assert net.packets_injected == 0


def test_wormhole_buffers_must_cover_the_link_flight_time():
    """With fewer buffer slots than link cycles a spread packet's flits would leave a router
    before reaching it: refused, naming the buffer and the link latency."""
    with pytest.raises(ArchsimError, match=r"noc\.buffer_flits: wormhole needs input buffers "
                                           r"of at least noc\.link_cycles \(3\) flits.*got 2"):
        network_for(noc_config("mesh", (3, 1), buffer_flits=2, link_cycles=3, **WORMHOLE))
    with pytest.raises(ArchsimError, match=r"per virtual channel.*got 2"):
        network_for(noc_config("torus", (4, 4), buffer_flits=4, link_cycles=3, **WORMHOLE))
    network_for(noc_config("mesh", (3, 1), buffer_flits=3, link_cycles=3, **WORMHOLE))
    network_for(noc_config("mesh", (3, 1), buffer_flits=1, link_cycles=3))  # VCT: no spread
