"""Multi-tile dataflow: activations as NoC packets, the controller's instruction stream, placement.

Closed forms are derived in each test's docstring from the cycle semantics of
archsim.hw.controller and archsim.hw.crossbar_group; properties hold for random chains of layers.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, write_chain_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.config import load_hardware
from archsim.energy import account
from archsim.errors import ConfigError
from archsim.mapping.traffic import hop_weighted_traffic, place_tiles
from archsim.report import build_report, to_json
from archsim.sim import simulate

WU_NOC = CONFIGS / "wu2023_64x64_noc.yaml"
WU = CONFIGS / "wu2023_64x64.yaml"
LENET = CONFIGS.parent / "traces" / "lenet-wu_trained_16.jsonl.gz"

# Chains of dense layers (rows, cols, vectors) that spread over several 64x64 tiles.
chains = st.lists(
    st.tuples(st.integers(1, 200), st.integers(1, 40), st.integers(1, 20)), min_size=2, max_size=4
)


def run(config_path, trace, *overrides):
    config = load_hardware(config_path, overrides)
    result = simulate(config, trace)
    return result, build_report(result, account(result))


def zero_cost_controller() -> list[str]:
    return [f"controller.cycles.{op}=0" for op in
            ("load", "store", "mvm", "valu", "send", "recv", "barrier", "loop")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=chains, router=st.integers(1, 8), width=st.sampled_from([16, 32, 64]),
       pipeline=st.booleans(), placement=st.sampled_from(["in_order", "traffic_aware"]))
def test_a_layer_that_crosses_the_noc_is_never_faster(layers, router, width, pipeline, placement):
    """Property: with activations crossing the NoC, the mean latency and the run time are
    never below those of the same chip with a zero-latency interconnect (no NoC: the tiles
    share a buffer). (The interval of a 2-sample pipeline is one gap between completions, not
    a steady state: delaying the first completion more than the second can shorten it.)"""
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_chain_trace(Path(tmp) / "t.jsonl", layers, samples=2, relu=True)
        mode = f"mapping.pipeline={str(pipeline).lower()}"
        common = ["chip.tiles=64", "noc.dims=[8, 8]", mode, f"mapping.placement={placement}"]
        crossing, _ = run(WU_NOC, trace, *common, f"noc.router_cycles={router}",
                          f"noc.link_width_bits={width}")
        ideal, _ = run(WU_NOC, trace, *common, "noc=null")
    assert crossing.latency.mean >= ideal.latency.mean
    assert crossing.total_cycles >= ideal.total_cycles
    assert crossing.noc is not None and ideal.noc is None


def test_noc_time_in_a_sequential_run_is_the_transfer_phase():
    """Sequential LeNet on the 3x3 mesh: the latency splits exactly into tile, controller and
    NoC time, and the NoC part is what the packets took: removing the NoC removes it."""
    with_noc, report = run(WU_NOC, LENET)
    without, _ = run(WU_NOC, LENET, "noc=null")
    split = with_noc.time_split
    assert sum(split.values()) == with_noc.latency.mean * with_noc.samples
    assert split["noc"] > 0 and without.time_split["noc"] == 0
    assert split["tile"] == without.time_split["tile"] == 641 * 72 * with_noc.samples
    assert report["latency_breakdown_s"]["waiting"] == 0.0
    # The controller's time does not depend on the NoC beyond its send/recv instructions.
    assert with_noc.latency.mean > without.latency.mean


def test_packets_are_conserved_and_overhead_is_measured():
    """Every activation packet sent is delivered; the measured header overhead is the header
    bits over all bits sent, which for LeNet's packets (4-bit destination field on 9 routers)
    is 4 x packets / (4 x packets + data bits)."""
    result, report = run(WU_NOC, LENET)
    noc = result.noc
    assert noc.packets > 0 and noc.latency.count == noc.packets
    assert noc.header_bits == 4 * noc.packets
    expected = noc.header_bits / (noc.header_bits + noc.data_bits)
    assert report["noc"]["header_overhead"] == pytest.approx(expected, rel=1e-12)
    # Data bits per sample, at 8 bits an element. conv2 (5x5 kernels, 4 channels, over pool1's
    # 12x12x4, 8x8 outputs): rows 0-63 on tile 1 are kernel offsets 0-15 (kernel rows 0-2 and
    # (3, 0)), reading input rows 0-9 whole and 8 pixels of row 10: 128 pixels x 4 = 512
    # elements; rows 64-99 on tile 2 are offsets 16-24, reading 11 + 7 x 12 + 12 = 107 pixels,
    # 428 elements. fc's three row blocks each read their 64 of pool2's 192 elements.
    assert noc.data_bits == result.samples * 8 * (512 + 428 + 192)


def test_controller_step_closed_form(chain_trace):
    """One dense layer of 10 vectors on one 64x64 array, analog ADC (72-cycle operation),
    controller costs load 1, mvm 2, store 3, loop 4, barrier 5 (others 0). Per step the core
    issues load + mvm (3 cycles) then the array computes 72 while the loop and the previous
    step's store (7 <= 72) retire; after the loop the last store (3), then the barrier (5):
    10 x (3 + 72) + 3 + 5 = 758 cycles."""
    trace = chain_trace([(64, 32, 10)])
    result, report = run(
        WU, trace, "controller.enabled=true", *zero_cost_controller(), "controller.cycles.load=1",
        "controller.cycles.mvm=2", "controller.cycles.store=3", "controller.cycles.loop=4",
        "controller.cycles.barrier=5",
    )
    assert result.latency.mean == 10 * (3 + 72) + 3 + 5
    ins = result.controller.instructions
    assert (ins["load"], ins["mvm"], ins["store"], ins["loop"], ins["barrier"]) == (10, 10, 10, 10, 1)
    busy = 10 * (1 + 2 + 3 + 4) + 5
    assert result.controller.busy_cycles == busy
    assert result.controller.stall_cycles == result.latency.mean - busy
    assert report["controller"]["energy_j"] == 0.0  # the energies of WU are all zero


def test_untimed_controller_changes_nothing_but_counts(chain_trace):
    """controller.enabled: false keeps tile-only accounting: same latency with any cycles."""
    trace = chain_trace([(64, 32, 10), (32, 10, 1)])
    base, _ = run(WU, trace)
    costly, report = run(WU, trace, "controller.cycles.mvm=50", "controller.cycles.loop=9")
    assert base.latency.mean == costly.latency.mean
    assert report["controller"]["instructions"]["mvm"] == 11
    assert report["controller"]["busy_s"] == 0.0


def test_per_tile_cores_run_layers_in_parallel_in_a_pipeline(chain_trace):
    """Two layers on two tiles, pipelined, with a costly issue: one shared core serialises the
    two stages' issue slots, one core per tile does not, so the interval is shorter."""
    trace = chain_trace([(64, 32, 20), (32, 10, 20)], samples=6)
    common = ["mapping.pipeline=true", "controller.enabled=true", *zero_cost_controller(),
              "controller.cycles.mvm=40"]
    chip, _ = run(WU, trace, *common, "controller.scope=chip")
    tile, _ = run(WU, trace, *common, "controller.scope=tile")
    assert tile.interval_cycles < chip.interval_cycles
    assert tile.controller.cores_used == 2 and chip.controller.cores_used == 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), tiles=st.integers(2, 9))
def test_traffic_aware_placement_never_raises_hop_weighted_traffic(seed, tiles):
    """Property: the traffic-aware placement starts from in-order and only takes improving
    swaps, so its bit-hops never exceed in-order's, on a 4x4 mesh's hop matrix."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 1000, size=(tiles, tiles)) * (rng.random((tiles, tiles)) < 0.4)
    np.fill_diagonal(matrix, 0)
    xy = [(n % 4, n // 4) for n in range(16)]
    hops = np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in xy] for a in xy])
    aware = place_tiles(matrix, hops, "traffic_aware")
    assert sorted(set(aware)) == sorted(aware)  # one tile per router
    assert hop_weighted_traffic(matrix, hops, aware) <= hop_weighted_traffic(
        matrix, hops, tuple(range(tiles))
    )


def test_traffic_aware_placement_pulls_a_chain_together():
    """Tiles 0 and 3 exchange 100 bits and nothing else: in order on a 4x4 mesh they sit
    three hops apart (routers 0 and 3); the traffic-aware placement makes them neighbours."""
    matrix = np.zeros((4, 4), dtype=np.int64)
    matrix[0, 3] = 100  # tile 0 talks to tile 3 only
    xy = [(n % 4, n // 4) for n in range(16)]
    hops = np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in xy] for a in xy])
    aware = place_tiles(matrix, hops, "traffic_aware")
    assert hop_weighted_traffic(matrix, hops, aware) == 100  # neighbours
    assert hop_weighted_traffic(matrix, hops, (0, 1, 2, 3)) == 300


def test_a_noc_with_too_few_routers_is_a_config_error():
    config = load_hardware(WU_NOC, ["noc.dims=[2, 2]"])
    with pytest.raises(ConfigError, match="chip.tiles: the NoC .* has 4 routers"):
        simulate(config, LENET)


def test_dataflow_report_is_deterministic():
    reports = []
    for _ in range(2):
        result, _ = run(WU_NOC, LENET, "mapping.pipeline=true", "mapping.placement=traffic_aware")
        reports.append(to_json(build_report(result, account(result))))
    assert reports[0] == reports[1]
    noc = json.loads(reports[0])["noc"]
    assert noc["bit_hops_per_inference"] <= noc["bit_hops_in_order"]
    assert math.isfinite(noc["packet_latency_s"]["p99"])


def test_dense_flows_follow_columns_onto_rows(chain_trace):
    """fc1 (10 x 80) needs three 64-column arrays for its 80 differential outputs (32 + 32 +
    16 on tiles 0-2); fc2 (80 x 4) two row blocks (64 + 16 on tiles 3-4). Outputs 0-63 go to
    tile 3 only, 64-79 to tile 4 only: 256, 256 and 128 bits."""
    from archsim.mapping.placement import map_network
    from archsim.mapping.traffic import network_traffic
    from archsim.workload.trace import TraceReader

    trace = chain_trace([(10, 80, 1), (80, 4, 1)])
    config = load_hardware(WU_NOC)
    with TraceReader(trace) as reader:
        network = reader.header.network
    traffic = network_traffic(network, map_network(network, config))
    flows = {(f.src, f.dst): f.bits for f in traffic.flows[("fc1", "fc2")]}
    assert flows == {(0, 3): 256, (1, 3): 256, (2, 4): 128}


@pytest.mark.parametrize("kind,dims", [("mesh", [4, 3]), ("torus", [4, 3]), ("ring", [7]),
                                       ("tree", [2, 2])])
def test_hop_matrix_is_the_routes_length(kind, dims):
    """The closed-form / breadth-first hop table equals the shipped routing's route lengths."""
    from archsim.hw.noc.routing import Routing
    from archsim.hw.noc.topology import build_topology, hop_matrix

    noc = load_hardware(WU_NOC, [f"noc.topology={kind}", f"noc.dims={dims}"]).noc
    topology = build_topology(noc)
    routing = Routing(topology)
    n = topology.nodes
    expected = [[routing.hops(a, b) for b in range(n)] for a in range(n)]
    assert hop_matrix(topology, n).tolist() == expected


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), tiles=st.integers(2, 7))
def test_traffic_aware_placement_ends_at_a_local_optimum(seed, tiles):
    """Property: after the placement no single move (a swap, or a move to a free router)
    lowers the bit-hops, checked by brute force on a 3x3 mesh; so the incremental gains the
    search uses agree with the real cost."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 1000, size=(tiles, tiles)) * (rng.random((tiles, tiles)) < 0.5)
    np.fill_diagonal(matrix, 0)
    xy = [(n % 3, n // 3) for n in range(9)]
    hops = np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in xy] for a in xy])
    placed = list(place_tiles(matrix, hops, "traffic_aware"))
    best = hop_weighted_traffic(matrix, hops, tuple(placed))
    for tile in range(tiles):
        for node in range(9):
            trial = placed.copy()
            if node in trial:
                other = trial.index(node)
                trial[other] = placed[tile]
            trial[tile] = node
            assert hop_weighted_traffic(matrix, hops, tuple(trial)) >= best


def test_wormhole_carries_packets_longer_than_the_buffers():
    """1,000-bit payloads are 32 flits of 32 bits (4-bit header), four times the 8-flit
    buffers: virtual cut-through refuses them by name, wormhole carries every one. Per image:
    4,096 bits = 4 x 1000 + 96 (4 x 32 + 4 flits), 3,424 = 3 x 1000 + 424 (3 x 32 + 14) and
    three packets of 512 (17 flits each): 293 flits."""
    long = ["mapping.packet_data_bits=1000"]
    with pytest.raises(ConfigError, match="mapping.packet_data_bits: 1000-bit payloads make "
                                          "32-flit packets"):
        simulate(load_hardware(WU_NOC, long), LENET)
    for topology in ("noc.topology=mesh", "noc.topology=torus"):
        worm, _ = run(WU_NOC, LENET, *long, "noc.flow_control=wormhole", topology)
        assert worm.noc.packets == 16 * (5 + 4 + 3)
        assert worm.noc.flits == 16 * (4 * 32 + 4 + 3 * 32 + 14 + 3 * 17)
        assert worm.noc.flow_control == "wormhole"
