"""ScRRAMBLe through the generic path: cores on crossbars, connections as NoC packets.

ScRRAMBLe (archsim/REFERENCES.md [ScRRAMBLe]): a signed weight is one positive
conductance G = a (W + b) whose offset term a b sum(x) cancels because each core's inputs are
balanced; packet overhead O(A, D) = A / (A + D) with A ~ log2(#chunks x density) address bits and
D ~ chunk size data bits.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import CONFIGS
from threadpoolctl import threadpool_limits

from archsim import api
from archsim.config import load_hardware
from archsim.errors import ArchsimError, MappingError
from archsim.hw.noc.packet import zero_load_latency
from archsim.mapping.scrramble import G_MAX_S, G_MIN_S, check_offset, offset_encoding
from archsim.workload.scrramble import (
    SMALL_SPEC,
    ScrrambleSpec,
    build_scrramble,
    connected_chunks,
    signed_input_bits,
)

CONFIG = CONFIGS / "scrramble_256.yaml"


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def config():
    return load_hardware(CONFIG)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(11).random((3, 28, 28, 1)).astype(np.float32)


def _spec(slot: int, density: float, cores: tuple[int, ...] = (4, 1)) -> ScrrambleSpec:
    return ScrrambleSpec(256, slot, density, cores)


@dataclasses.dataclass(frozen=True)
class Replay:
    """What a ScRRAMBLe run counted, read from its report (cycles unless named otherwise)."""

    report: dict
    header_bits: int
    data_bits: int
    packets: int
    flits: int
    data_bits_sent: int
    measured_overhead: float
    analytic_overhead: float
    latency_mean: float
    latency_min: float
    samples: int
    op_cycles: float
    mean_hops: float
    total_cycles: int
    tile_ops: int
    actions: dict
    input_bits: int
    tile_nodes: tuple[int, ...]


def run_scrramble(config, network, inputs, **options) -> Replay:
    """:func:`archsim.api.scrramble`, its report read into the figures these tests check."""
    report = api.scrramble(config, network, inputs, **options).to_dict()
    noc, section, stats = report["noc"], report["scrramble"], report["statistics"]
    width = config.noc.link_width_bits
    flit_hops = report["totals"]["actions"]["noc.link_bit"] / width
    return Replay(
        report=report,
        header_bits=section["header_bits"],
        data_bits=section["data_bits"],
        packets=noc["packets_delivered"],
        flits=noc["flits_delivered"],
        data_bits_sent=int(stats["data_bits"]["total"]),
        measured_overhead=section["measured_overhead"],
        analytic_overhead=section["analytic_overhead"],
        latency_mean=stats["latency"]["mean"],
        latency_min=stats["latency"]["min"],
        samples=report["samples"],
        # Every record is one operation of one core's array.
        op_cycles=stats["time_tile"]["total"] / stats["vmm_steps"]["total"],
        mean_hops=flit_hops / noc["flits_delivered"],
        total_cycles=report["totals"]["cycles"],
        tile_ops=report["totals"]["tile_ops"],
        actions=report["totals"]["actions"],
        input_bits=section["input_bits"],
        tile_nodes=tuple(noc["tile_nodes"]),
    )


# -- offset encoding -----------------------------------------------------------------------


def test_offset_encoding_spans_the_conductance_range() -> None:
    w = np.random.default_rng(0).normal(size=(16, 16))
    enc = offset_encoding(w)
    g = enc.conductances(w)
    assert g.min() == pytest.approx(G_MIN_S, rel=1e-12)
    assert g.max() == pytest.approx(G_MAX_S, rel=1e-12)
    assert (g > 0).all()
    np.testing.assert_allclose(enc.decode(g), w, rtol=0, atol=1e-12)
    g7 = enc.conductances(w, levels=128)
    steps = (g7 - G_MIN_S) / ((G_MAX_S - G_MIN_S) / 127)
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-9)
    assert np.abs(enc.decode(g7) - w).max() <= 0.5 * (w.max() - w.min()) / 127 + 1e-12
    with pytest.raises(MappingError, match="conductance range"):
        offset_encoding(w, g_min_s=40e-6, g_max_s=4e-6)


def test_offset_cancels_for_balanced_inputs(images) -> None:
    """(x . G) / a equals the signed x . W on every core, because sum(x) = 0 per core."""
    net = build_scrramble(_spec(16, 0.2, (8, 2)), np.random.default_rng(1))
    for levels in (None, 128):
        check = check_offset(net, images, levels=levels)
        assert check.cores == 10 and check.samples == 3
        assert check.max_output > 0.1
        assert check.max_input_sum < 1e-12 * check.max_output * 256
        assert check.relative_error < 1e-12


def test_offset_does_not_cancel_for_unbalanced_inputs() -> None:
    """Without balancing, the readout is off by b sum(x): the scheme needs balanced routing."""
    rng = np.random.default_rng(2)
    w = rng.normal(size=(64, 64))
    enc = offset_encoding(w)
    g = enc.conductances(w)
    x = rng.random((5, 64))  # non-negative: sum(x) > 0
    error = enc.readout(x, g) - x @ w
    np.testing.assert_allclose(error, enc.b * x.sum(axis=1, keepdims=True) * np.ones((1, 64)),
                               rtol=1e-9)
    assert np.abs(error).min() > 0.1 * np.abs(x @ w).max()
    balanced = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(enc.readout(balanced, g), balanced @ w, rtol=1e-9, atol=1e-12)


# -- mapping -------------------------------------------------------------------------------


def test_cores_map_one_per_crossbar_and_router(config) -> None:
    """Ten cores of 256 inputs: one 256x256 array each (one 7-bit cell per weight, offset
    scheme), on tiles and routers 0..9; one packet per connection; the header names the
    router (6 bits for 64) and the block among a core's connections (5 bits for 26)."""
    spec = _spec(16, 0.2, (8, 2))
    net = build_scrramble(spec, np.random.default_rng(0))
    result = run_scrramble(config, net, np.zeros((1, 784)))
    assert result.tile_nodes == tuple(range(10))
    layers = result.report["mapping"]["layers"]
    assert [(layer["rows"], layer["cols"], layer["crossbars"]) for layer in layers] == [
        (256, 256, 1)
    ] * 10
    assert result.report["mapping"]["crossbars"] == 10
    assert result.packets == len(net.connections) == 8 * 10 + 2 * 26
    assert result.data_bits == 16 * 8
    # A = ceil(log2(64 routers)) + ceil(log2(ceil(128 chunks x 0.2))) = 6 + 5.
    assert result.header_bits == 6 + 5
    assert result.input_bits == signed_input_bits(net, 8) == 8 + 2 + 1  # <= 4 blocks per slot


@pytest.mark.parametrize("slot", [1, 4, 16, 64])
@pytest.mark.parametrize("density", [0.1, 0.2, 0.5])
def test_measured_overhead_equals_analytic(config, images, slot: int, density: float) -> None:
    """Header bits / all bits of the packets actually sent equals A / (A + D).

    A and D are computed here from the closed forms ([ScRRAMBLe], REFERENCES.md), not taken from
    the mapping: A = ceil(log2(nodes)) + ceil(log2(ceil(chunks x density))), D = s x act_bits.
    """
    spec = _spec(slot, density, (8, 1))
    net = build_scrramble(spec, np.random.default_rng(3))
    result = run_scrramble(config, net, images[:1], act_bits=8)
    # The chunk field names a block of the largest source space: layer 1's 8 x 256 / s blocks.
    chunks = max(math.ceil(784 / slot), 8 * 256 // slot)
    a = math.ceil(math.log2(64)) + max(1, math.ceil(math.log2(math.ceil(chunks * density - 1e-9))))
    d = slot * 8
    packets = 8 * connected_chunks(math.ceil(784 / slot), density) + connected_chunks(
        8 * 256 // slot, density
    )
    assert result.packets == packets
    assert result.header_bits == a and result.data_bits == d
    assert result.data_bits_sent == packets * d
    assert result.measured_overhead == pytest.approx(a / (a + d), rel=1e-12)
    assert result.analytic_overhead == pytest.approx(a / (a + d), rel=1e-12)
    assert result.flits == packets * math.ceil((a + d) / 32)


def test_overhead_falls_with_block_size(config, images) -> None:
    overheads = [
        run_scrramble(config, build_scrramble(_spec(s, 0.2), np.random.default_rng(0)),
                      images[:1]).measured_overhead
        for s in (1, 2, 4, 8, 16, 32, 64)
    ]
    assert all(a > b for a, b in zip(overheads, overheads[1:]))


# -- simulation ----------------------------------------------------------------------------


def test_latency_matches_zero_load_closed_form(config) -> None:
    """Two single-core layers with one connection each: F + op + (R + L + F) + op cycles."""
    spec = ScrrambleSpec(256, 64, 0.01, (1, 1))
    net = build_scrramble(spec, np.random.default_rng(0))
    assert len(net.connections) == 2
    result = run_scrramble(config, net, np.ones((1, 784)))
    noc = config.noc
    flits = math.ceil((result.header_bits + 512) / noc.link_width_bits)
    first = zero_load_latency(0, flits, noc.router_cycles, noc.link_cycles)  # I/O router = core 0
    second = zero_load_latency(1, flits, noc.router_cycles, noc.link_cycles)  # node 0 -> 1
    assert result.latency_mean == first + result.op_cycles + second + result.op_cycles
    assert result.packets == 2 and result.mean_hops == 0.5


def test_latency_rises_when_the_noc_is_slowed(images) -> None:
    net = build_scrramble(_spec(4, 0.2), np.random.default_rng(0))
    base = run_scrramble(load_hardware(CONFIG), net, images[:1])
    slow = run_scrramble(load_hardware(CONFIG, ["noc.router_cycles=20"]), net, images[:1])
    narrow = run_scrramble(load_hardware(CONFIG, ["noc.link_width_bits=8"]), net, images[:1])
    assert slow.latency_mean > base.latency_mean
    assert narrow.latency_mean > base.latency_mean
    assert slow.op_cycles == base.op_cycles  # only the network changed
    assert slow.packets == base.packets


def test_each_layer_waits_for_its_inputs(config, images) -> None:
    """Latency covers at least one MVM per layer plus the input injection."""
    net = build_scrramble(_spec(1, 0.2), np.random.default_rng(0))
    result = run_scrramble(config, net, images[:2])
    per_core_inputs = connected_chunks(784, 0.2)
    injection = 4 * per_core_inputs  # one flit each, serialised at the I/O router's port
    assert result.latency_min >= injection + 2 * result.op_cycles
    assert result.samples == 2
    assert result.total_cycles == pytest.approx(2 * result.latency_mean)


def test_energy_is_counts_times_table(config, images) -> None:
    net = build_scrramble(_spec(16, 0.2), np.random.default_rng(0))
    result = run_scrramble(config, net, images)
    totals = result.report["totals"]
    table = totals["energy_per_action_j"]
    breakdown = result.report["per_inference"]["energy_breakdown_j"]
    assert totals["energy_j"] == pytest.approx(
        sum(count * table[key] for key, count in result.actions.items()), rel=1e-12
    )
    assert totals["energy_j"] == pytest.approx(3 * sum(breakdown.values()), rel=1e-12)
    assert breakdown["noc"] > 0 and breakdown["adc"] > 0
    assert result.tile_ops == 5 * 3 and result.actions["tile.op"] == 15
    # ISAAC-like ADCs: one conversion of every column per input slice (digital accumulation).
    assert result.actions["adc.convert"] == 15 * 256 * result.input_bits
    assert result.actions["noc.router"] > 0 and result.actions["noc.link_bit"] > 0


def test_run_is_deterministic_and_serialisable(config, images) -> None:
    net = build_scrramble(SMALL_SPEC, np.random.default_rng(4))
    first = run_scrramble(config, net, images, seed=3)
    second = run_scrramble(config, net, images, seed=3)
    assert first == second
    dumped = json.dumps(first.report, sort_keys=True)
    assert dumped == json.dumps(second.report, sort_keys=True)
    other = build_scrramble(SMALL_SPEC, np.random.default_rng(5))
    assert run_scrramble(config, other, images, seed=3).report != first.report


# -- errors --------------------------------------------------------------------------------


def test_config_without_noc_is_refused(images) -> None:
    net = build_scrramble(SMALL_SPEC, np.random.default_rng(0))
    with pytest.raises(ArchsimError, match="^noc: .*no noc section"):
        run_scrramble(load_hardware(CONFIGS / "isaac_like.yaml"), net, images)


@pytest.mark.parametrize(
    ("cores", "overrides", "match"),
    [
        ((60, 10), [], "^noc: the network has 70 cores, one per router, but the NoC has 64"),
        ((8, 2), ["chip.tiles=8"], "^chip.tiles: the network has 10 cores"),
        ((8, 2), ["tile.crossbar.signed_weights=differential"], "^tile.crossbar.signed_weights"),
        ((8, 2), ["tile.crossbar.rows=128"], "^tile.crossbar.rows: a core of 256 inputs"),
        ((8, 2), ["tile.crossbar.cols=128"], "^tile.crossbar.cols: a core of 256 outputs"),
    ],
)
def test_network_that_does_not_fit_is_refused(images, cores, overrides, match) -> None:
    net = build_scrramble(ScrrambleSpec(256, 16, 0.2, cores), np.random.default_rng(0))
    with pytest.raises(MappingError, match=match):
        run_scrramble(load_hardware(CONFIG, overrides), net, images[:1])


def test_bad_arguments_are_refused(config, images) -> None:
    net = build_scrramble(_spec(64, 0.2), np.random.default_rng(0))
    with pytest.raises(MappingError, match="tile.crossbar.cols"):
        run_scrramble(config, net, images, weight_bits=8)  # two 7-bit cells per weight
    with pytest.raises(ArchsimError, match="noc.buffer_flits"):
        run_scrramble(load_hardware(CONFIG, ["noc.buffer_flits=8"]), net, images)
    with pytest.raises(ArchsimError, match="input_node"):
        run_scrramble(config, net, images, input_node=64)
    with pytest.raises(ArchsimError, match="act_bits"):
        run_scrramble(config, net, images, act_bits=0)
    with pytest.raises(ArchsimError, match="seed"):
        run_scrramble(config, net, images, seed=-1)
    with pytest.raises(ArchsimError, match="inputs"):
        run_scrramble(config, net, np.zeros((0, 784)))
