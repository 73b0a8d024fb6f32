"""The NoC's train model (``noc.model: train``): exact against the packet model for a flow
alone and at zero load, on every topology and flow control; its counters; its error on the
bundled VGG-8 NoC config."""

from __future__ import annotations

from pathlib import Path

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from noc_strategies import noc_config

from archsim import api
from archsim.config.schema import NocConfig
from archsim.errors import ConfigError
from archsim.hw.noc.network import Network
from archsim.hw.noc.packet import PacketFormat, zero_load_latency
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import build_topology
from archsim.hw.noc.train import TrainNetwork

ROOT = Path(__file__).resolve().parents[2]


def networks(config: NocConfig, largest: int) -> tuple[simpy.Environment, Network, TrainNetwork]:
    """A packet network and a train network of ``config``, built for ``largest``-flit
    packets."""
    env = simpy.Environment()
    topology = build_topology(config)
    fmt = PacketFormat(topology.nodes, config.link_width_bits)
    packets = Network(env, config, topology, Routing(topology), fmt, max_flits=largest)
    trains = TrainNetwork(
        simpy.Environment(), config, topology, Routing(topology), fmt, max_flits=largest
    )
    return env, packets, trains


def packet_deliveries(env, net, src, dst, sizes, created) -> list[int]:
    """Delivery cycle of each packet sent on the packet model at its creation cycle."""
    delivered: dict[int, int] = {}

    def source():
        for k, (bits, cycle) in enumerate(zip(sizes, created)):
            if cycle > env.now:
                yield env.timeout(cycle - env.now)
            net.send(src, dst, bits).callbacks.append(
                lambda event, k=k: delivered.__setitem__(k, event.value.delivered)
            )

    env.process(source())
    env.run()
    net.check_drained()
    return [delivered[k] for k in range(len(sizes))]


def train_deliveries(net: TrainNetwork, src, dst, bits, last_bits, created, split) -> list[int]:
    """Delivery cycles of the same packets sent as trains of at most ``split`` packets."""
    got: list[int] = []
    for first in range(0, len(created), split):
        part = created[first:first + split]
        last = last_bits if first + len(part) == len(created) else bits
        got.extend(net.send_train(src, dst, len(part), bits, last, part).delivered)
    return got


shapes = st.sampled_from([
    ("mesh", (4, 3), ()), ("mesh", (5, 1), ()), ("torus", (4, 4), ()), ("torus", (3, 2), ()),
    ("ring", (6,), ()), ("tree", (2, 3), ()), ("edges", (), ((0, 1), (1, 2), (2, 3), (1, 4))),
])


@settings(max_examples=200, deadline=None)
@given(shape=shapes, data=st.data(),
       flow_control=st.sampled_from(["virtual_cut_through", "wormhole"]),
       buffer=st.sampled_from([2, 3, 4, 8, 16, 32]), router=st.integers(1, 3),
       link=st.integers(0, 2), bits=st.sampled_from([8, 32, 70, 100, 200, 400]),
       packets=st.integers(1, 60), gap=st.sampled_from([0, 1, 4, 11, 40]),
       split=st.sampled_from([1, 3, 16, 1000]))
def test_a_flow_alone_gets_the_packet_models_cycles(
    shape, data, flow_control, buffer, router, link, bits, packets, gap, split
):
    """Property: a flow of equal packets alone on the network, created at random cycles and
    cut into trains anyhow, is delivered at exactly the packet model's cycles, on every
    topology, under both flow controls, with the steady-state shortcut taken or not."""
    kind, dims, edges = shape
    config = noc_config(kind, dims, edges, router_cycles=router, link_cycles=link,
                        buffer_flits=buffer, flow_control=flow_control)
    flits = PacketFormat(build_topology(config).nodes, 32).flits(bits)
    try:
        env, packet_net, train_net = networks(config, flits)
    except ConfigError:
        return  # buffers this flow control cannot use (the packet model refuses them too)
    nodes = packet_net.topology.nodes
    src = data.draw(st.integers(0, nodes - 1))
    dst = data.draw(st.integers(0, nodes - 1))
    steps = data.draw(st.lists(st.integers(0, gap), min_size=packets, max_size=packets))
    created = [sum(steps[:k + 1]) for k in range(packets)]
    expected = packet_deliveries(env, packet_net, src, dst, [bits] * packets, created)
    assert train_deliveries(train_net, src, dst, bits, bits, created, split) == expected


@settings(max_examples=100, deadline=None)
@given(shape=shapes, data=st.data(), bits=st.integers(1, 300), router=st.integers(1, 4),
       link=st.integers(0, 3))
def test_one_packet_takes_the_zero_load_latency(shape, data, bits, router, link):
    """Property: a one-packet train alone is delivered hops x (router + link) + flits cycles
    after its creation, as the packet model's packet is."""
    kind, dims, edges = shape
    config = noc_config(kind, dims, edges, router_cycles=router, link_cycles=link,
                        buffer_flits=1 << 12)
    _, _, net = networks(config, 1 << 10)
    src = data.draw(st.integers(0, net.topology.nodes - 1))
    dst = data.draw(st.integers(0, net.topology.nodes - 1))
    delivery = net.send_train(src, dst, 1, bits, bits, [5])
    hops = len(net.routing.links(src, dst))
    flits = net.format.flits(bits)
    assert delivery.delivered == (5 + zero_load_latency(hops, flits, router, link),)


def test_a_smaller_last_packet_is_exact_when_buffers_hold_one_packet():
    """A flow whose last packet is smaller is exact where no buffer holds two packets (no
    overtaking is possible)."""
    config = noc_config(buffer_flits=8)
    created = list(range(0, 40, 2))
    env, packet_net, train_net = networks(config, 8)
    sizes = [240] * 19 + [70]  # 8 flits each (with a 4-bit header), the last 3
    expected = packet_deliveries(env, packet_net, 0, 15, sizes, created)
    assert train_deliveries(train_net, 0, 15, 240, 70, created, 6) == expected


def test_counters_and_energy_match_the_packet_model():
    """Packets, flits, payload, per-link flits, latency histogram and action counts of a
    flow are the packet model's."""
    config = noc_config(buffer_flits=8)
    created = [3 * k for k in range(25)]
    env, packet_net, train_net = networks(config, 8)
    packet_deliveries(env, packet_net, 1, 14, [200] * 24 + [50], created)
    train_deliveries(train_net, 1, 14, 200, 50, created, 7)
    for name in ("packets_injected", "packets_delivered", "flits_injected", "flits_delivered"):
        assert getattr(train_net, name) == getattr(packet_net, name)
    assert train_net.link_flits.tolist() == packet_net.link_flits.tolist()
    assert train_net.counts_by_phase() == packet_net.counts_by_phase()
    assert train_net.latency.histogram == packet_net.latency.histogram
    assert train_net.data_bits.by_phase() == packet_net.data_bits.by_phase()
    train_net.check_drained()


def test_trains_that_share_a_link_cross_it_one_after_the_other():
    """Two flows into one ejection port: the second train waits for the first, so the link
    carries both back to back."""
    config = noc_config(buffer_flits=8)
    _, _, net = networks(config, 8)
    first = net.send_train(0, 3, 10, 200, 200, [0] * 10)
    second = net.send_train(12, 3, 10, 200, 200, [0] * 10)
    assert second.delivered[0] > first.delivered[-1] - 8  # after the first train's tail
    flits = net.format.flits(200)
    assert second.delivered[-1] - first.delivered[0] >= 19 * flits


@pytest.mark.parametrize("override", [["noc.model=fast"], ["noc.train_packets=0"]])
def test_a_bad_model_field_is_refused_naming_it(override):
    with pytest.raises(ConfigError, match=override[0].split("=")[0]):
        api.load(ROOT / "hw_configs" / "wu2023_256x64_noc.yaml", override)


def test_vgg8_on_the_bundled_noc_config_is_within_two_percent(tmp_path):
    """The train model on VGG-8 over wu2023_256x64_noc: latency within 2 % of the packet
    model's, with the same packets, flits, NoC energy and instructions."""
    trace = tmp_path / "vgg8.jsonl.gz"
    api.export("vgg8-wu", trace, samples=1, seed=0)
    config = ROOT / "hw_configs" / "wu2023_256x64_noc.yaml"
    packet = api.run(api.load(config, ["noc.model=packet"]), trace)
    train = api.run(api.load(config, ["noc.model=train"]), trace)
    error = train["latency_s"]["mean"] / packet["latency_s"]["mean"] - 1
    assert abs(error) < 0.02
    for key in ("packets_injected", "flits_injected", "energy_j"):
        assert train["noc"][key] == packet["noc"][key]
    assert train["controller"]["instructions"] == packet["controller"]["instructions"]


def test_the_model_defaults_to_packets_and_trains_of_32():
    config = api.load(ROOT / "hw_configs" / "wu2023_256x64_noc.yaml")
    assert config.noc.model == "packet" and config.noc.train_packets == 32


def test_two_virtual_channels_share_their_links_wires():
    """On a ring under wormhole (a dateline: two virtual channels per link), trains on the
    two channels of one link take its wires one after the other: the link carries at most
    one flit a cycle."""
    config = noc_config("ring", (6,), buffer_flits=4, flow_control="wormhole")
    _, _, net = networks(config, 8)
    first = net.send_train(5, 2, 40, 200, 200, [0] * 40)  # crosses the wrap-around, 0->1
    second = net.send_train(0, 1, 40, 200, 200, [0] * 40)
    shared = int(net.link_flits.max())
    assert shared == 2 * 40 * net.format.flits(200)
    assert max(first.delivered[-1], second.delivered[-1]) >= shared


def test_a_flow_alone_through_the_interfaces_matches_the_packet_model(tmp_path):
    """One flow sent by one tile's core to another's (controller.scope: tile): the same
    creation and delivery cycles, so the same latency histogram and transfer time, under
    both models, cut into trains or not."""
    from archsim.hw.system import build_system
    from archsim.mapping.program import packets_of
    from archsim.mapping.traffic import Flow

    results = []
    for overrides in (["noc.model=packet"], ["noc.model=train"],
                      ["noc.model=train", "noc.train_packets=7"]):
        config = api.load(ROOT / "hw_configs" / "wu2023_64x64_noc.yaml",
                          ["controller.scope=tile", *overrides])
        env = simpy.Environment()
        system = build_system(env, config, packet_bits=200)
        interface = system.interface
        interface.nodes = tuple(range(9))
        transfer = packets_of(Flow(0, 8, 200 * 60), 200)
        process = interface.transfer((transfer,))
        env.run(process)
        results.append((int(env.now), dict(system.noc.latency.histogram)))
    assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("overrides", [[], ["mapping.pipeline=true", "controller.scope=tile"]])
def test_the_memo_changes_no_cycle(tmp_path, monkeypatch, overrides):
    """Trains scheduled through the memo of alike trains and scheduled directly get the same
    cycles: the whole report is the same."""
    import archsim.hw.noc.train as train

    trace = tmp_path / "vgg8.jsonl.gz"
    api.export("vgg8-wu", trace, samples=2, seed=0)
    config = api.load(ROOT / "hw_configs" / "wu2023_256x64_noc.yaml",
                      ["noc.model=train", *overrides])
    reports = []
    for trial in (1, 10**9):  # the memo off after the first train; on throughout
        monkeypatch.setattr(train, "_TRIAL", trial)
        reports.append(api.run(config, trace))
    assert reports[0]["statistics"] == reports[1]["statistics"]
    assert reports[0]["noc"] == reports[1]["noc"]


def test_the_train_model_is_refused_under_a_fabric_on_the_noc():
    """The fabric's blocks are single packets, which trains do not see: the combination is
    refused, naming noc.model."""
    with pytest.raises(ConfigError, match="noc.model"):
        api.load(ROOT / "hw_configs" / "sparse_fabric.yaml", ["noc.model=train"])


@pytest.mark.parametrize("overrides", [[], ["controller.enabled=false"]])
def test_the_instructions_are_the_packet_models(tmp_path, overrides):
    """Sends and receives are counted per packet under both models, whether the controller
    is timed or only counts."""
    trace = ROOT / "traces" / "lenet-wu_trained_16.jsonl.gz"
    config = ROOT / "hw_configs" / "wu2023_64x64_noc.yaml"
    packet = api.run(api.load(config, [*overrides, "noc.model=packet"]), trace)
    train = api.run(api.load(config, [*overrides, "noc.model=train"]), trace)
    assert train["controller"]["instructions"] == packet["controller"]["instructions"]
