"""The index-aware memory controller (archsim/hw/imc.py) on the DRAM model.

Bytes are checked against the block-CSR arrays as ``BlockCsrStats`` counts them, rounded up to
the DRAM bursts covering each array (each array read on its own: a burst is
``burst_bytes`` = 64 B in both presets); times against the DRAM's peak bandwidth and against
the same reads issued by hand; the prefetch buffer against the batches a consumer can see.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from conftest import CONFIGS
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.config import load_dram
from archsim.config.loader import config_from_data
from archsim.config.schema import DramConfig, ImcConfig
from archsim.energy import account
from archsim.errors import ConfigError
from archsim.hw.dram import Dram
from archsim.hw.imc import BlockBatch, BlockCsrLayout, Imc, ImcStats
from archsim.sim.engine import component_result
from archsim.workload.sparse_train import BlockCsrStats, block_csr

CLOCK_HZ = 1e9

IMC = {
    "buffer_bytes": "64KiB",
    "request_bytes": "4KiB",
    "prefix_sum_entries_per_cycle": 4,
    "index_bits": 32,
    "value_bits": 32,
    "energy": {
        "prefix_sum": "0.2pJ",
        "request": "1.5pJ",
        "buffer_write_byte": "0.6pJ",
        "buffer_read_byte": "0.4pJ",
    },
}


def imc_config(**changes: object) -> ImcConfig:
    return config_from_data(ImcConfig, {**IMC, **changes}, (), "<test>")


def dram_config(name: str = "ddr4_3200") -> DramConfig:
    return load_dram(CONFIGS / "dram" / f"{name}.yaml")


def build(config: ImcConfig | None = None, dram: str = "ddr4_3200") -> Imc:
    env = simpy.Environment()
    memory = Dram(env, dram_config(dram), clock_hz=CLOCK_HZ)
    return Imc(env, config or imc_config(), memory, clock_hz=CLOCK_HZ)


def matrix(grid: tuple[int, int], block: int, nnzb: int, seed: int = 0):
    """A block-CSR matrix of ``grid`` blocks of ``block`` x ``block`` with exactly ``nnzb``
    stored blocks at random positions."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(grid[0] * grid[1], dtype=bool)
    mask[rng.choice(mask.size, nnzb, replace=False)] = True
    weight = rng.standard_normal((grid[0] * block, grid[1] * block))
    return block_csr(weight, mask.reshape(grid), block)


def run_fetch(imc: Imc, layout: BlockCsrLayout, bytes_per_cycle: float = math.inf) -> ImcStats:
    fetch = imc.fetch(layout)
    imc.drain(bytes_per_cycle)
    imc.env.run()
    return fetch.value


def whole_bursts(nbytes: int, burst: int) -> int:
    return -(-nbytes // burst) * burst


# --------------------------------------------------------------------------------------------
# Bytes and blocks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("block", "value_bits", "nnzb"), [(16, 32, 400), (8, 16, 123), (4, 8, 0)])
def test_bytes_read_are_the_block_csr_arrays_in_whole_bursts(block, value_bits, nnzb):
    imc = build(imc_config(value_bits=value_bits))
    layout = imc.layout(matrix((32, 40), block, nnzb))
    expected = BlockCsrStats.of(matrix((32, 40), block, nnzb), value_bits=value_bits)
    result = run_fetch(imc, layout)
    burst = imc.dram.config.burst_bytes
    assert (result.rowptr_bytes, result.colidx_bytes, result.data_bytes) == (
        expected.rowptr_bytes, expected.colidx_bytes, expected.data_bytes
    )
    assert result.metadata_bytes == expected.index_bytes
    # Burst-aligned arrays: each costs its own bytes rounded up to whole bursts.
    assert result.metadata_bytes_read == (
        whole_bursts(expected.rowptr_bytes, burst) + whole_bursts(expected.colidx_bytes, burst)
    )
    assert result.data_bytes_read == whole_bursts(expected.data_bytes, burst)
    assert imc.dram.stats().bytes_read == result.dram_bytes_read
    assert 0 <= result.dram_bytes_read - expected.total_bytes < 3 * burst
    assert result.blocks_fetched == nnzb == expected.nnzb
    assert imc.stats() == result


def test_unaligned_arrays_and_batches_read_each_burst_once():
    # 2 x 2 blocks of 8-bit weights (4 B) in 100 B requests: batches end inside bursts, and
    # the arrays start off burst boundaries; each array still costs the bursts covering it.
    config = imc_config(value_bits=8, request_bytes="100B", buffer_bytes="300B")
    imc = build(config)
    stats = BlockCsrStats.of(matrix((50, 60), 2, 1500), value_bits=8)
    layout = BlockCsrLayout(stats, 37, 37 + stats.rowptr_bytes + 5, 1_000_003)
    result = run_fetch(imc, layout, bytes_per_cycle=7.0)
    burst = imc.dram.config.burst_bytes

    def covering(address: int, nbytes: int) -> int:
        return ((address + nbytes - 1) // burst - address // burst + 1) * burst

    assert result.data_bytes_read == covering(layout.data_address, stats.data_bytes)
    assert result.metadata_bytes_read == (
        covering(layout.rowptr_address, stats.rowptr_bytes)
        + covering(layout.colidx_address, stats.colidx_bytes)
    )
    assert imc.dram.stats().bytes_read == result.dram_bytes_read
    assert imc.counts["request"] == imc.dram.stats().reads


@pytest.mark.parametrize("name", ["ddr4_3200", "hbm2"])
def test_every_stored_block_is_delivered_once_in_order(name):
    # HBM2's 8 channels complete bursts out of order: blocks are still delivered in order.
    imc = build(imc_config(buffer_bytes="8KiB", request_bytes="3KiB"), dram=name)
    layout = imc.layout(matrix((20, 20), 8, 157))
    batches: list[BlockBatch] = []

    def consumer():
        while True:
            batch = yield imc.output.get()
            batches.append(batch)
            yield imc.env.timeout(max(0, batch.ready - imc.env.now))
            imc.consume(batch)
            if batch.last:
                return

    fetch = imc.fetch(layout)
    imc.env.process(consumer())
    imc.env.run()
    delivered = [k for b in batches for k in range(b.first, b.first + b.count)]
    assert delivered == list(range(157)) == list(range(fetch.value.blocks_fetched))
    ready = [cycle for b in batches for cycle in b.ready_cycles]
    assert ready == sorted(ready)
    assert ready[-1] == fetch.value.fetch_cycles  # the fetch ends with its last block
    assert [b.last for b in batches] == [False] * (len(batches) - 1) + [True]
    # 3 KiB requests of 256 B blocks: 12 blocks a batch
    assert {b.count for b in batches[:-1]} == {12}


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def test_metadata_then_prefix_sum_then_data():
    # No stored block: the fetch is the row-pointer read and then the prefix-sum unit,
    # ceil(entries / entries_per_cycle) cycles (the column indices are empty).
    config = imc_config(prefix_sum_entries_per_cycle=3)
    imc = build(config)
    layout = imc.layout(matrix((1000, 4), 4, 0))
    result = run_fetch(imc, layout)
    reference = Dram(simpy.Environment(), dram_config(), clock_hz=CLOCK_HZ)
    burst = reference.config.burst_bytes
    rowptr_done = max(reference.read(range(0, layout.stats.rowptr_bytes, burst)))
    assert result.prefix_sum_cycles == math.ceil(1001 / 3)
    assert result.fetch_cycles == rowptr_done + result.prefix_sum_cycles
    assert result.data_bytes_read == 0


@pytest.mark.parametrize("name", ["ddr4_3200", "hbm2"])
def test_dense_mode_streams_without_metadata_near_peak_bandwidth(name):
    # 4 MiB: the first access's latency and the row changes cost well under 1 % of the
    # 164k-cycle stream on DDR4 (and of HBM2's 16k); 95 % leaves room for the 64 KiB buffer.
    imc = build(dram=name)
    fetch = imc.fetch_dense(1024, 1024, address=0)
    imc.drain(math.inf)
    imc.env.run()
    result = fetch.value
    assert result.metadata_bytes == result.metadata_bytes_read == 0
    assert result.prefix_sum_cycles == 0 and imc.counts["prefix_sum"] == 0
    assert result.data_bytes == result.data_bytes_read == 1024 * 1024 * 4
    bandwidth = result.data_bytes / (result.fetch_cycles / CLOCK_HZ)
    peak = imc.dram.config.peak_bandwidth_bytes_per_s
    assert 0.95 * peak <= bandwidth <= peak


def test_a_sparser_matrix_takes_less_time_in_proportion_to_its_blocks():
    # DRAM-bound (instant consumer, 1 KiB blocks): the data time is nnzb x 1 KiB at peak
    # bandwidth, plus a fixed metadata prologue; doubling the blocks doubles the data time.
    times = {}
    peak_bytes_per_cycle = dram_config().peak_bandwidth_bytes_per_s / CLOCK_HZ
    for nnzb in (200, 400, 800, 1600):
        imc = build()
        layout = imc.layout(matrix((64, 64), 16, nnzb))
        result = run_fetch(imc, layout)
        data_bound = result.data_bytes / peak_bytes_per_cycle
        assert data_bound <= result.fetch_cycles <= 1.05 * data_bound + 2_000
        times[nnzb] = result.fetch_cycles
    assert times[200] < times[400] < times[800] < times[1600]
    for nnzb in (200, 400, 800):
        assert (times[2 * nnzb] - times[nnzb]) == pytest.approx(
            nnzb * 1024 / peak_bytes_per_cycle, rel=0.05
        )


# --------------------------------------------------------------------------------------------
# The prefetch buffer
# --------------------------------------------------------------------------------------------


def test_a_slow_consumer_stalls_the_fetch_and_the_buffer_bound_holds():
    config = imc_config(buffer_bytes="16KiB", request_bytes="2KiB")
    imc = build(config)
    layout = imc.layout(matrix((32, 32), 16, 300))
    rate = 2.0  # bytes per cycle, far below DDR4's 25.6 at 1 GHz
    result = run_fetch(imc, layout, bytes_per_cycle=rate)
    assert result.buffer_max_bytes == 16 * 1024
    assert result.stall_cycles > 0
    # The fetch can end at most one buffer ahead of the consumer.
    assert result.fetch_cycles >= (result.data_bytes - 16 * 1024) / rate
    fast = build(config)
    quick = run_fetch(fast, fast.layout(matrix((32, 32), 16, 300)))
    assert quick.fetch_cycles < result.fetch_cycles / 5


@settings(max_examples=25, deadline=None)
@given(
    block=st.sampled_from([2, 4, 8]),
    density=st.floats(0.0, 1.0),
    buffer_blocks=st.integers(1, 12),
    request_blocks=st.integers(1, 12),
    rate=st.sampled_from([0.5, 3.0, 40.0, math.inf]),
    seed=st.integers(0, 2**16),
)
def test_fetched_and_unconsumed_bytes_never_exceed_the_buffer(
    block, density, buffer_blocks, request_blocks, rate, seed
):
    block_bytes = block * block * 4
    request_blocks = min(request_blocks, buffer_blocks)
    config = imc_config(
        buffer_bytes=f"{buffer_blocks * block_bytes}B",
        request_bytes=f"{request_blocks * block_bytes}B",
    )
    imc = build(config)
    grid = (12, 10)
    layout = imc.layout(matrix(grid, block, round(density * 120), seed))
    outstanding: list[int] = []

    def consumer():
        # What is fetched and not consumed: the batches waiting in the store and the one
        # in hand, seen at every batch.
        while True:
            batch = yield imc.output.get()
            outstanding.append(batch.nbytes + sum(b.nbytes for b in imc.output.items))
            yield imc.env.timeout(math.ceil(batch.nbytes / rate) if rate < math.inf else 0)
            yield imc.env.timeout(max(0, batch.ready - imc.env.now))
            imc.consume(batch)
            if batch.last:
                return

    fetch = imc.fetch(layout)
    imc.env.process(consumer())
    imc.env.run()
    result = fetch.value
    assert max(outstanding) <= result.buffer_max_bytes <= config.buffer_bytes
    assert imc.buffer.level == config.buffer_bytes  # all consumed at the end
    assert result.blocks_fetched == layout.stats.nnzb
    assert imc.counts["buffer_write"] == imc.counts["buffer_read"] == layout.stats.data_bytes


# --------------------------------------------------------------------------------------------
# Energy and errors
# --------------------------------------------------------------------------------------------


def test_energy_is_the_sum_of_its_breakdown_and_of_the_declared_actions():
    imc = build()
    layout = imc.layout(matrix((40, 40), 8, 700))
    result = run_fetch(imc, layout)
    energy = account(SimpleNamespace(components=(component_result(imc),)))
    assert energy.total_j == pytest.approx(sum(energy.by_action_j.values()), rel=1e-12)
    e = imc.config.energy
    by_hand = (
        layout.stats.rowptr_entries * e.prefix_sum
        + imc.dram.stats().reads * e.request
        + result.data_bytes * (e.buffer_write_byte + e.buffer_read_byte)
    )
    assert energy.total_j == pytest.approx(by_hand, rel=1e-12)
    assert set(energy.by_action_j) == {
        "imc.prefix_sum", "imc.request", "imc.buffer_write", "imc.buffer_read"
    }


def test_bad_config_and_inputs_raise_one_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"request_bytes: must be <= buffer_bytes"):
        imc_config(request_bytes="128KiB")
    with pytest.raises(ConfigError, match=r"buffer_bytes"):
        imc_config(buffer_bytes="64")  # no unit
    imc = build(imc_config(buffer_bytes="512B", request_bytes="512B"))
    with pytest.raises(ValueError, match=r"does not fit in buffer_bytes"):
        imc.fetch(imc.layout(matrix((4, 4), 16, 3)))  # 1 KiB blocks
    stats = BlockCsrStats.of(matrix((4, 4), 2, 3), value_bits=16)
    with pytest.raises(ValueError, match=r"value_bits is 16"):
        imc.fetch(BlockCsrLayout.contiguous(stats))
    with pytest.raises(ValueError, match=r"bytes_per_cycle"):
        imc.drain(0.0)
    env = simpy.Environment()
    other = Dram(env, dram_config(), clock_hz=2 * CLOCK_HZ)
    with pytest.raises(ValueError, match=r"another clock"):
        Imc(env, imc_config(), other, clock_hz=CLOCK_HZ)
