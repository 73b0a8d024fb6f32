"""The block-sparse training fabric end to end (archsim/hw/fabric.py, archsim/sim/fabric.py).

Small hand-written version-4 traces (one to three steps of one or two dense layers) run on
``hw_configs/sparse_fabric.yaml`` with ``--set`` style overrides; each test checks one law of
the model against a count made independently from the trace:

* MAC accounting: ``performed + skipped_zero + skipped_mask == dense`` per phase and layer;
* blocks fetched and block-CSR bytes: every product and every update fetches the blocks in
  force once (``scipy.sparse.bsr_array`` counts the bytes);
* the ideal fabric (no DRAM, no NoC, gated zeros, balanced): a product on a fraction
  ``1 - s`` of the blocks takes ``(1 - s)`` of the dense time, within one block per unit;
* U <= 1 per unit, and the speed-up of weight sparsity alone <= ``1 / (1 - s)``;
* mask updates: an unchanged mask costs exactly the controller's check, a changed one more;
* the DIN's imbalance under both rules, dense execution, determinism, the command line;
* :meth:`ScuBank.stream`'s closed form and :func:`block_assignment`.

A few tests run a window of a bundled trace (``traces/sparse/``): its first step and the
steps around its first two mask updates, renumbered (:func:`real_window`), so that they do
not depend on how many steps the bundled files hold.
"""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy

from archsim import api
from archsim.cli import main
from archsim.config import load_hardware
from archsim.energy import account
from archsim.errors import ConfigError
from archsim.hw.fabric import Fabric, block_assignment
from archsim.hw.scu import ScuBank, ScuJob, assign_balanced, assign_static
from archsim.sim import simulate
from archsim.sim.result import SimResult
from archsim.workload.sparse_train import BlockCsrStats, block_csr
from archsim.workload.trace import TraceWriter

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "hw_configs" / "sparse_fabric.yaml"
SPARSE_TRACES = ROOT / "traces" / "sparse"
IDEAL = ("fabric.memory=ideal", "fabric.interconnect=ideal")
PRODUCTS = ("spmm", "spmm_t", "spmm_w")
PHASES = ("forward", "backward", "update")

#: The bundled config's figures the tests rely on (checked in test_bundled_config_figures).
UNITS, MAC_WIDTH, DEPTH, CHECK_CYCLES, BLOCKS_PER_CYCLE = 16, 16, 4, 32, 4
VALUE_BYTES, INDEX_BITS = 4, 32

# -- traces ------------------------------------------------------------------------------------


def grid_of(rows: int, cols: int, block: int) -> tuple[int, int]:
    """The block grid of a ``rows`` x ``cols`` matrix."""
    return (-(-rows // block), -(-cols // block))


def real_weights(positions: Iterable[int], rows: int, cols: int, block: int) -> int:
    """Real (not padding) weights in the blocks at row-major flat ``positions``."""
    g = grid_of(rows, cols, block)
    br, bc = np.divmod(np.asarray(list(positions), dtype=np.int64), g[1])
    return int((np.minimum(block, rows - br * block) * np.minimum(block, cols - bc * block)).sum())


def write_trace(
    path: Path,
    layers: Sequence[tuple[str, int, int]],
    steps: int,
    *,
    block: int = 8,
    vectors: int = 32,
    masks: dict[int, dict[str, Sequence[int]]] | None = None,
    backward: bool = True,
    update: bool = True,
    input_nz: float = 0.625,
    grad_nz: float = 0.875,
    scored: dict[int, dict[str, int]] | None = None,
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """A version-4 trace of a chain of dense ``layers`` (name, rows, cols), ``steps`` steps:
    per step the forward ``spmm`` of every layer, the backward ``spmm_t`` of all but the first
    (``backward``), the ``spmm_w`` of every layer (``update``), then the ``mask`` records of
    ``masks[step]`` (layer -> kept block positions, sorted on writing), with their ``prune``
    and ``regrow``. Returns every record written with the positions in force at it (for the
    products, the blocks they fetch)."""
    specs, previous, shape = [], "input", [layers[0][1]]
    for name, rows, cols in layers:
        specs.append({"name": name, "kind": "dense", "inputs": [previous], "in_shape": shape,
                      "out_shape": [cols], "rows": rows, "cols": cols})
        previous, shape = name, [cols]
    header = {"model": "tiny", "samples": steps, "seed": 0, "meta": {},
              "network": {"input_shape": [layers[0][1]], "weight_bits": 32, "act_bits": 32,
                          "layers": specs}}
    masks, scored = masks or {}, scored or {}
    force = {
        name: np.arange(math.prod(grid_of(r, c, block)), dtype=np.int64) for name, r, c in layers
    }
    written: list[tuple[dict[str, Any], np.ndarray]] = []
    with TraceWriter(path, header, version=4) as writer:

        def record(step: int, phase: str, name: str, kind: str, **fields: Any) -> None:
            obj = {"sample": step, "phase": phase, "layer": name, "kind": kind, **fields}
            writer.write(obj)
            written.append((obj, force[name]))

        def product(name: str, rows: int, cols: int) -> dict[str, Any]:
            kept = force[name]
            return {"vectors": vectors, "rows": rows, "cols": cols, "block": block,
                    "blocks": int(kept.size), "weights": real_weights(kept, rows, cols, block)}

        for step in range(steps):
            for name, r, c in layers:
                record(step, "forward", name, "spmm", **product(name, r, c), input_nz=input_nz)
            if backward:
                for name, r, c in reversed(layers[1:]):
                    record(step, "backward", name, "spmm_t", **product(name, r, c),
                           input_nz=grad_nz)
            if update:
                for name, r, c in layers:
                    record(step, "update", name, "spmm_w", **product(name, r, c),
                           input_nz=input_nz, grad_nz=grad_nz,
                           scored=scored.get(step, {}).get(name, 0))
            for name, r, c in layers:
                kept = masks.get(step, {}).get(name)
                if kept is None:
                    continue
                new = np.unique(np.asarray(kept, dtype=np.int64))
                old = force[name]
                g = grid_of(r, c, block)
                record(step, "update", name, "prune", blocks=int(np.setdiff1d(old, new).size))
                record(step, "update", name, "regrow", blocks=int(np.setdiff1d(new, old).size))
                record(step, "update", name, "mask", block_rows=block, block_cols=block,
                       blocks_total=g[0] * g[1], blocks_nonzero=int(new.size),
                       positions=new.tolist())
                force[name] = new
    return written


def products(written: Sequence[tuple[dict[str, Any], np.ndarray]]):
    """The product records (spmm, spmm_t, spmm_w) of a :func:`write_trace` list."""
    return [(r, kept) for r, kept in written if r["kind"] in PRODUCTS]


def real_window(source: Path, path: Path) -> Path:
    """A window of the bundled trace ``source`` written to ``path``: its first step and the
    steps of its first two mask updates with the step after each (the masks in force at
    every product are those of the full trace), renumbered from 0."""
    lines = gzip.decompress(source.read_bytes()).decode("utf-8").splitlines()
    header = json.loads(lines[0])
    records = [json.loads(line) for line in lines[1:]]
    records = [r for r in records if r.get("type") == "op"]
    steps = max(r["sample"] for r in records) + 1
    mask_steps = sorted({r["sample"] for r in records if r["kind"] == "mask"})[:2]
    keep = sorted({0, *mask_steps, *(s + 1 for s in mask_steps if s + 1 < steps)})
    renumber = {s: i for i, s in enumerate(keep)}
    header = {k: header[k] for k in ("model", "seed", "network", "meta") if k in header}
    header["samples"] = len(keep)
    with TraceWriter(path, header, version=4) as writer:
        for r in records:
            if r["sample"] in renumber:
                writer.write({**{k: v for k, v in r.items() if k != "type"},
                              "sample": renumber[r["sample"]]})
    return path


# -- runs --------------------------------------------------------------------------------------


def run(trace: Path, *overrides: str) -> tuple[SimResult, dict[str, Any]]:
    """Simulate ``trace`` on the bundled fabric config with ``overrides``: the result and its
    statistics by name."""
    result = simulate(load_hardware(CONFIG, list(overrides)), trace)
    return result, {s.name: s for s in result.statistics}


def phase_of(stats: dict[str, Any], name: str, phase: str) -> float:
    return stats[name].by_phase.get(phase, 0)


def actions(result: SimResult, phase: str) -> dict[str, float]:
    """Every component's action counts in ``phase`` (non-zero ones), keyed kind.action."""
    out: dict[str, float] = {}
    for component in result.components:
        for key, count in component.actions_by_phase.get(phase, {}).items():
            if count:
                out[key] = out.get(key, 0) + count
    return out


def random_mask(grid_blocks: int, keep: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(grid_blocks, keep, replace=False))


#: Two layers: fc1 64 x 64 (an 8 x 8 grid of 8 x 8 blocks), fc2 64 x 20 (8 x 3, the last block
#: column half padding).
TWO = [("fc1", 64, 64), ("fc2", 64, 20)]


@pytest.fixture(scope="module")
def two_layer(tmp_path_factory) -> tuple[Path, list[tuple[dict[str, Any], np.ndarray]]]:
    """Three steps of :data:`TWO` with a mask change on each layer after step 0, another on
    fc1 after step 1 (fc2's edge blocks among those pruned and regrown), scored blocks."""
    path = tmp_path_factory.mktemp("fabric") / "two.jsonl"
    masks = {
        0: {"fc1": random_mask(64, 24, 1), "fc2": [0, 2, 4, 5, 9, 13, 14, 20, 23]},
        1: {"fc1": random_mask(64, 16, 2)},
    }
    written = write_trace(path, TWO, 3, masks=masks, scored={1: {"fc1": 10}, 2: {"fc2": 5}},
                          input_nz=0.6171875, grad_nz=0.8125)
    return path, written


@pytest.fixture(scope="module")
def window(tmp_path_factory) -> Path:
    """The window (:func:`real_window`) of ``mlp_s0.9_b8``."""
    return real_window(SPARSE_TRACES / "mlp_s0.9_b8.jsonl.gz",
                       tmp_path_factory.mktemp("fabric") / "window.jsonl")


def test_bundled_config_figures():
    """The figures of the bundled config that the expected values below are computed from."""
    fabric = load_hardware(CONFIG).fabric
    assert fabric is not None
    assert (fabric.scu.units, fabric.scu.mac_width, fabric.scu.pipeline_depth) == (
        UNITS, MAC_WIDTH, DEPTH)
    assert (fabric.din.check_cycles, fabric.din.blocks_per_cycle) == (
        CHECK_CYCLES, BLOCKS_PER_CYCLE)
    assert (fabric.imc.value_bits, fabric.imc.index_bits) == (8 * VALUE_BYTES, INDEX_BITS)
    assert fabric.din.assignment == "balanced" and fabric.execution == "sparse"


# -- 1. MAC accounting -------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [(), ("fabric.execution=dense",)], ids=["sparse", "dense"])
def test_mac_accounting_per_phase_and_layer(two_layer, overrides):
    """Per phase and per layer, ``performed + skipped_zero + skipped_mask == dense``; dense is
    the records' ``vectors x rows x cols``, performed ``round(vectors x weights x input_nz)``
    (x ``grad_nz`` for spmm_w), padding ``vectors x (blocks x B^2 - weights)``, with the
    record's weights and blocks in force, or with dense weights every weight and block of
    the grid (nothing skipped on pruned blocks); the units' MACs are the performed, scoring
    and optimizer MACs."""
    path, written = two_layer
    result, stats = run(path, *overrides)
    dense_run = bool(overrides)
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for r, _ in products(written):
        e = expected.setdefault((r["phase"], r["layer"]), {"dense": 0, "performed": 0,
                                                           "padding": 0, "in_blocks": 0})
        nz = r["input_nz"] * (r["grad_nz"] if r["kind"] == "spmm_w" else 1.0)
        weights, blocks = (
            (r["rows"] * r["cols"], math.prod(grid_of(r["rows"], r["cols"], r["block"])))
            if dense_run else (r["weights"], r["blocks"])
        )
        e["dense"] += r["vectors"] * r["rows"] * r["cols"]
        e["performed"] += round(r["vectors"] * weights * nz)
        e["in_blocks"] += r["vectors"] * weights
        e["padding"] += r["vectors"] * (blocks * r["block"] ** 2 - weights)
    for phase in PHASES:
        mine = {k: v for k, v in expected.items() if k[0] == phase}
        dense = phase_of(stats, "macs_dense", phase)
        performed = phase_of(stats, "macs_performed", phase)
        zero = phase_of(stats, "macs_skipped_zero", phase)
        masked = phase_of(stats, "macs_skipped_mask", phase)
        assert performed + zero + masked == dense, phase
        assert dense == sum(e["dense"] for e in mine.values()), phase
        assert performed == sum(e["performed"] for e in mine.values()), phase
        assert zero == sum(e["in_blocks"] - e["performed"] for e in mine.values()), phase
        assert phase_of(stats, "padding_slots", phase) == sum(
            e["padding"] for e in mine.values()), phase
    for name, _, _ in TWO:
        mine = {k: v for k, v in expected.items() if k[1] == name}
        assert stats["macs_dense"].by_group[name] == sum(e["dense"] for e in mine.values())
        assert stats["macs_performed"].by_group[name] == sum(
            e["performed"] for e in mine.values())
        assert sum(stats[k].by_group[name] for k in (
            "macs_performed", "macs_skipped_zero", "macs_skipped_mask"
        )) == stats["macs_dense"].by_group[name]
    assert sum(result.fabric.unit_macs) == (
        stats["macs_performed"].total + stats["scored_macs"].total
        + stats["optimizer_macs"].total
    )


# -- 2. blocks fetched -------------------------------------------------------------------------


@pytest.mark.parametrize("memory", ["dram", "ideal"])
def test_blocks_fetched_are_the_blocks_in_force_of_every_product(two_layer, memory):
    """Every spmm, spmm_t and spmm_w fetches the blocks in force once: the ``blocks_fetched``
    counter (per phase and layer) and the IMC's ``imc_blocks_fetched`` are the sum of the
    records' ``blocks``, and the IMC made one fetch per product."""
    path, written = two_layer
    result, stats = run(path, f"fabric.memory={memory}")
    prods = products(written)
    assert stats["blocks_fetched"].total == sum(r["blocks"] for r, _ in prods)
    for phase in PHASES:
        assert phase_of(stats, "blocks_fetched", phase) == sum(
            r["blocks"] for r, _ in prods if r["phase"] == phase)
    for name, _, _ in TWO:
        assert stats["blocks_fetched"].by_group[name] == sum(
            r["blocks"] for r, _ in prods if r["layer"] == name)
    assert result.fabric.imc_blocks_fetched == stats["blocks_fetched"].total
    assert result.fabric.imc_fetches == len(prods)


# -- 3. bytes: block-CSR data and metadata -----------------------------------------------------


def block_csr_bytes(
    prods: Sequence[tuple[dict[str, Any], np.ndarray]]
) -> tuple[int, int]:
    """(metadata, data) bytes of the block-CSR arrays of every product's blocks in force,
    counted by scipy's bsr_array (:func:`block_csr`) and :class:`BlockCsrStats`."""
    rng = np.random.default_rng(0)
    metadata = data = 0
    for r, kept in prods:
        b = r["block"]
        g = grid_of(r["rows"], r["cols"], b)
        mask = np.zeros(g, dtype=bool)
        mask.flat[kept] = True
        matrix = block_csr(rng.standard_normal((r["rows"], r["cols"])), mask, b)
        assert matrix.nnz // (b * b) == r["blocks"]
        stats = BlockCsrStats.of(matrix, index_bits=INDEX_BITS, value_bits=8 * VALUE_BYTES)
        metadata += stats.index_bytes
        data += stats.data_bytes
    return metadata, data


def test_imc_bytes_are_block_csr_data_and_metadata(two_layer):
    """The IMC's metadata and data bytes are the block-CSR arrays of the blocks in force at
    every fetch, as scipy's bsr_array counts them; DRAM reads at least those (whole bursts,
    plus the velocity and the mask rewrites); with ideal memory no DRAM access at all, and the
    same IMC byte counts."""
    path, written = two_layer
    metadata, data = block_csr_bytes(products(written))
    result, _ = run(path)
    f = result.fabric
    assert (f.imc_metadata_bytes, f.imc_data_bytes) == (metadata, data)
    assert f.dram_bytes_read >= metadata + data
    assert f.dram_bytes_read % 64 == 0 and f.dram_reads * 64 == f.dram_bytes_read
    ideal, _ = run(path, "fabric.memory=ideal")
    g = ideal.fabric
    assert (g.imc_metadata_bytes, g.imc_data_bytes) == (metadata, data)
    assert (g.dram_reads, g.dram_writes, g.dram_bytes_read, g.dram_bytes_written) == (0, 0, 0, 0)
    assert g.dram_row_hits + g.dram_row_misses + g.dram_row_conflicts == 0
    assert not any(c.kind in ("dram", "imc") for c in ideal.components)


# -- 4. the ideal fabric: (1 - s) of the dense time --------------------------------------------


@pytest.mark.parametrize("units", [4, 16, 32])
@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_ideal_sparse_product_takes_one_minus_s_of_the_dense_time(tmp_path, units, sparsity):
    """With ideal memory and interconnect, gated zeros and balanced assignment, a forward
    product on ``n = (1 - s) G`` of the ``G`` blocks of a layer takes, by
    :meth:`ScuBank.job_cycles` on the most loaded unit,
    ``T(n) = depth + ceil(ceil(n / U) x B^2 V / W)``: here ``k = B^2 V / W`` is a whole number,
    so ``T(n) = depth + k ceil(n / U)`` with ``n / U <= ceil(n / U) <= n / U + (U - 1) / U``,
    whence

        -k (U - 1) / U  <=  s depth - (1 - s) k (U - 1) / U
                        <=  T(n) - (1 - s) T(G)
                        <=  s depth + k (U - 1) / U  <  depth + k,

    that is ``|T_sparse - (1 - s) T_dense| <= ceil(B^2 V / W) + depth`` (one block per unit,
    plus the fill). T_sparse is the masked step's forward time (the run's less the unmasked
    step's, itself the dense run's per step); U = 32 is more units than the 5 x 4 mesh has
    routers, which an ideal interconnect does not need."""
    rows = cols = 128
    b, v = 8, 32
    grid = (rows // b) * (cols // b)
    n = round((1 - sparsity) * grid)
    s = 1 - n / grid
    k = b * b * v // MAC_WIDTH
    settings = [*IDEAL, "fabric.scu.zero_handling=gate", "fabric.din.assignment=balanced",
                f"fabric.scu.units={units}"]
    masked = write_trace(tmp_path / "m.jsonl", [("fc1", rows, cols)], 2, vectors=v,
                         masks={0: {"fc1": random_mask(grid, n, 7)}}, backward=False,
                         update=False)
    assert [r["blocks"] for r, _ in products(masked)] == [grid, n]
    write_trace(tmp_path / "full.jsonl", [("fc1", rows, cols)], 1, vectors=v, backward=False,
                update=False)
    _, full = run(tmp_path / "full.jsonl", *settings)
    _, sparse = run(tmp_path / "m.jsonl", *settings)
    _, dense = run(tmp_path / "m.jsonl", *settings, "fabric.execution=dense")
    t_full = phase_of(full, "time_fabric", "forward")
    t_dense = phase_of(dense, "time_fabric", "forward") / 2
    t_sparse = phase_of(sparse, "time_fabric", "forward") - t_full
    assert t_full == t_dense == DEPTH + k * -(-grid // units)
    assert t_sparse == DEPTH + k * -(-n // units)
    assert abs(t_sparse - (1 - s) * t_dense) <= math.ceil(b * b * v / MAC_WIDTH) + DEPTH


def test_ideal_interconnect_does_not_limit_units_but_the_noc_does(tmp_path):
    """More units than the mesh has routers run with ``interconnect: ideal`` (all of them
    given blocks) and are refused with the NoC."""
    path = tmp_path / "t.jsonl"
    write_trace(path, [("fc1", 128, 128)], 1, backward=False, update=False)
    result, _ = run(path, "fabric.interconnect=ideal", "fabric.scu.units=64")
    assert result.fabric.units == 64
    assert all(busy > 0 for busy in result.fabric.unit_busy_cycles)
    with pytest.raises(ConfigError, match="fabric.scu.units"):
        run(path, "fabric.scu.units=64")


# -- 5. U <= 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("handling", ["skip", "gate"])
def test_utilisation_is_at_most_one_per_unit(window, two_layer, handling):
    """U = non-zero MACs / MAC slots <= 1 for every unit, over its busy cycles and over the
    products' time, on the bundled config with a real trace (a window of mlp_s0.9_b8) and on
    the two-layer trace; every unit did some work."""
    for trace in (window, two_layer[0]):
        result, _ = run(trace, f"fabric.scu.zero_handling={handling}")
        f = result.fabric
        assert f.zero_handling == handling
        assert all(m > 0 for m in f.unit_macs)
        for u in (*f.utilisation_busy, *f.utilisation_span):
            assert 0.0 < u <= 1.0
        # the busy cycles hold the unit's slots: MACs plus zero slots, mac_width a cycle
        for macs, zeros, busy in zip(f.unit_macs, f.unit_zero_slots, f.unit_busy_cycles,
                                     strict=True):
            issued = macs + (zeros if handling == "gate" else 0)
            assert issued <= MAC_WIDTH * busy
        assert max(f.unit_busy_cycles) <= f.span_cycles


# -- 6. the speed-up of weight sparsity alone --------------------------------------------------


def speedup(trace: Path, *overrides: str) -> tuple[float, float]:
    """(time dense / time sparse, 1 / (1 - weight sparsity)) of ``trace``, both gated."""
    gate = ("fabric.scu.zero_handling=gate", *overrides)
    sparse, stats = run(trace, *gate)
    dense, _ = run(trace, *gate, "fabric.execution=dense")
    s = stats["macs_skipped_mask"].total / stats["macs_dense"].total
    return dense.total_cycles / sparse.total_cycles, 1.0 / (1.0 - s)


@pytest.mark.parametrize("ideal", [False, True], ids=["dram-noc", "ideal"])
def test_speedup_of_weight_sparsity_is_at_most_one_over_one_minus_s(window, tmp_path, ideal):
    """Same trace dense and sparse, zeros gated in both: time_dense / time_sparse <= 1 / (1 -
    s), s the sparse run's macs_skipped_mask / macs_dense, with HBM2 and the NoC and with
    ideal ones; no tolerance. The traces have no padded edge blocks and grids divisible by
    the 16 units (the real window: fc1 98 x 16 blocks, fc2 16 x 2 whose padded blocks are
    never pruned; the hand-written one: 16 x 16 and 16 x 4 blocks of 8): an edge effect of
    either kind lets the measured speed-up pass the bound (see
    test_ideal_speedup_bound_on_edge_effects)."""
    overrides = IDEAL if ideal else ()
    hand = tmp_path / "hand.jsonl"
    write_trace(hand, [("fc1", 128, 128), ("fc2", 128, 32)], 3,
                masks={0: {"fc1": random_mask(256, 32, 3), "fc2": random_mask(64, 16, 4)},
                       1: {"fc1": random_mask(256, 32, 5)}})
    for trace in (window, hand):
        measured, bound = speedup(trace, *overrides)
        assert 1.0 < measured <= bound, (trace.name, measured, bound)


@pytest.mark.parametrize("case", ["padded-edge", "grid-not-divisible"])
def test_ideal_speedup_bound_on_edge_effects(tmp_path, case):
    """Where 1 / (1 - s) is not a bound: pruning padded edge blocks saves their padding
    slots, which s (real MACs only) does not count; and a grid of G blocks not divisible by
    the units costs the dense run a whole round of blocks more. On the ideal fabric the
    product times are ``depth + k ceil(n / U)``, so the true bound is the ratio of the rounds
    of blocks per unit, which these traces reach; the report's ``ideal_speedup`` is then
    below the measured speed-up."""
    if case == "padded-edge":  # 64 x 20: 8 x 3 blocks, the third column half padding
        layer, kept, units = ("fc1", 64, 20), [i * 3 + j for i in range(8) for j in range(2)], 8
    else:  # 136 x 8: 17 blocks on 16 units
        layer, kept, units = ("fc1", 136, 8), list(range(16)), 16
    path = tmp_path / "t.jsonl"
    write_trace(path, [layer], 2, masks={0: {"fc1": kept}}, backward=False, update=False)
    grid = math.prod(grid_of(layer[1], layer[2], 8))
    settings = (*IDEAL, "fabric.scu.zero_handling=gate", f"fabric.scu.units={units}")
    _, sparse = run(path, *settings)
    _, dense = run(path, *settings, "fabric.execution=dense")
    k = 8 * 8 * 32 // MAC_WIDTH
    t_dense = phase_of(dense, "time_fabric", "forward") / 2
    t_sparse = phase_of(sparse, "time_fabric", "forward") - t_dense
    assert t_dense == DEPTH + k * -(-grid // units)
    assert t_sparse == DEPTH + k * -(-len(kept) // units)
    rows, cols = layer[1], layer[2]
    s = 1 - real_weights(kept, rows, cols, 8) / (rows * cols)
    assert t_dense / t_sparse > 1 / (1 - s)  # the edge effect
    assert t_dense / t_sparse <= -(-grid // units) / -(-len(kept) // units)


# -- 7. mask updates ---------------------------------------------------------------------------


def test_an_unchanged_mask_costs_only_the_controllers_check(tmp_path):
    """Two traces alike but for a second mask record on fc1 that repeats the mask in force:
    that record adds exactly ``check_cycles`` to the mask phase's time and to the controller's
    cycles, one mask check and no change, no routing entry, no rewrite, no DRAM, IMC or NoC
    action, and its energy is exactly one ``din.check``; nothing else differs."""
    m1 = random_mask(64, 24, 11)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_trace(a, TWO, 2, masks={0: {"fc1": m1}})
    write_trace(b, TWO, 2, masks={0: {"fc1": m1}, 1: {"fc1": m1}})
    ra, sa = run(a)
    rb, sb = run(b)
    assert phase_of(sb, "time_fabric", "mask") - phase_of(sa, "time_fabric", "mask") == (
        CHECK_CYCLES)
    assert sb["din_cycles"].total - sa["din_cycles"].total == CHECK_CYCLES
    assert (sa["mask_checks"].total, sb["mask_checks"].total) == (1, 2)
    assert sa["mask_changes"].total == sb["mask_changes"].total == 1
    for name in ("route_entries", "rewrite_bytes", "blocks_fetched", "macs_performed"):
        assert sa[name].total == sb[name].total, name
    for phase in PHASES:
        assert phase_of(sa, "time_fabric", phase) == phase_of(sb, "time_fabric", phase)
    added = {k: actions(rb, "mask").get(k, 0) - actions(ra, "mask").get(k, 0)
             for k in {*actions(ra, "mask"), *actions(rb, "mask")}}
    assert {k: n for k, n in added.items() if n} == {"din.check": 1}
    check_j = next(c for c in rb.components if c.kind == "din").energy_per_action_j["din.check"]
    ea, eb = account(ra), account(rb)
    assert eb.by_phase_j["mask"] - ea.by_phase_j["mask"] == pytest.approx(check_j, rel=1e-9)
    assert eb.total_j - ea.total_j == pytest.approx(check_j, rel=1e-6)


def test_a_mask_record_that_keeps_every_block_is_one_check(tmp_path):
    """A layer's first mask record keeping every block (the mask in force before any) is the
    whole mask phase: its time is ``check_cycles``, one ``din.check`` its only action."""
    path = tmp_path / "t.jsonl"
    write_trace(path, TWO, 1, masks={0: {"fc1": range(64)}})
    result, stats = run(path)
    assert stats["time_fabric"].by_phase["mask"] == CHECK_CYCLES
    assert stats["mask_changes"].total == 0 and stats["mask_checks"].total == 1
    assert actions(result, "mask") == {"din.check": 1}
    din = next(c for c in result.components if c.kind == "din")
    assert account(result).by_phase_j["mask"] == din.energy_per_action_j["din.check"]


def route_entries(old: np.ndarray, new: np.ndarray, rule: str) -> int:
    """Routing entries a mask change from ``old`` to ``new`` writes: the new blocks whose unit
    differs from their old one, or that are new (units by :func:`block_assignment`'s rule,
    worked out here independently)."""
    def unit(positions: np.ndarray) -> dict[int, int]:
        return {int(p): (k if rule == "balanced" else int(p)) % UNITS
                for k, p in enumerate(positions)}
    before, after = unit(old), unit(new)
    return sum(1 for p, u in after.items() if before.get(p) != u)


@pytest.mark.parametrize("rule", ["balanced", "static"])
def test_a_changed_mask_costs_the_controller_routes_and_the_rewrite(tmp_path, rule):
    """A changed mask on fc1 (64 blocks -> 24 -> 16): the controller takes ``check_cycles +
    ceil(nnzb / blocks_per_cycle)`` (balanced; static only checks), writes the routing
    entries of the blocks whose unit changed or that are new, and the block-CSR arrays are
    rewritten (old W and V read, new row pointers, indices, W and V written: DRAM reads and
    writes in phase ``mask``); with ideal memory the mask phase is the controller's time."""
    m1, m2 = random_mask(64, 24, 11), random_mask(64, 16, 12)
    path = tmp_path / "t.jsonl"
    write_trace(path, TWO, 2, masks={0: {"fc1": m1}, 1: {"fc1": m2}})
    full = np.arange(64)
    result, stats = run(path, f"fabric.din.assignment={rule}")
    _, ideal = run(path, f"fabric.din.assignment={rule}", "fabric.memory=ideal")
    assign = [(-(-n // BLOCKS_PER_CYCLE) if rule == "balanced" else 0) for n in (24, 16)]
    din_cycles = 2 * CHECK_CYCLES + sum(assign)
    assert stats["din_cycles"].total == ideal["din_cycles"].total == din_cycles
    assert stats["mask_changes"].total == 2
    assert stats["route_entries"].total == (
        route_entries(full, m1, rule) + route_entries(m1, m2, rule))
    rowptr = (8 + 1) * INDEX_BITS // 8
    block_bytes = 64 * VALUE_BYTES
    rewrite = sum(2 * o * block_bytes + rowptr + n * INDEX_BITS // 8 + 2 * n * block_bytes
                  for o, n in ((64, 24), (24, 16)))
    assert stats["rewrite_bytes"].total == rewrite
    mask_actions = actions(result, "mask")
    assert mask_actions.get("dram.read", 0) > 0 and mask_actions.get("dram.write", 0) > 0
    assert stats["time_fabric"].by_phase["mask"] > din_cycles
    assert ideal["time_fabric"].by_phase["mask"] == din_cycles
    assert "dram.read" not in actions(run(path, "fabric.memory=ideal")[0], "mask")


def test_the_rewrite_reads_the_old_blocks_where_the_old_layout_put_them(tmp_path, monkeypatch):
    """At a mask change the rewrite reads the old W data (module docstring of
    archsim/sim/fabric.py: "the old W and V data read"), which lies at the *old* block-CSR
    layout's data address; the new layout's data starts elsewhere when the number of column
    indices changed (64 -> 16 blocks of fc1: 256 B of indices less)."""
    calls: list[tuple[int, int, bool, str]] = []
    old_data: list[int] = []
    transfer, set_mask = Fabric.transfer, Fabric.set_mask

    def logged_transfer(self, address, nbytes, write, phase):
        calls.append((address, nbytes, write, phase))
        return transfer(self, address, nbytes, write, phase)

    def logged_set_mask(self, name, positions):
        old_data.append(self.layers[name].layout.data_address)
        return set_mask(self, name, positions)

    monkeypatch.setattr(Fabric, "transfer", logged_transfer)
    monkeypatch.setattr(Fabric, "set_mask", logged_set_mask)
    path = tmp_path / "t.jsonl"
    write_trace(path, [("fc1", 64, 64)], 1, masks={0: {"fc1": random_mask(64, 16, 3)}},
                backward=False)
    run(path)
    reads = [c for c in calls if c[3] == "mask" and not c[2]]
    assert len(old_data) == 1 and len(reads) == 2  # W data and V
    w_read = min(reads)  # W's region comes before V's
    assert w_read[1] == 64 * 64 * VALUE_BYTES
    assert w_read[0] == old_data[0], "the old W is read at the new layout's data address"


# -- 8. the DIN's two rules --------------------------------------------------------------------


def test_balanced_imbalance_is_at_most_static_and_each_run_reports_the_other(two_layer):
    """On the same masks: balanced's imbalance (most loaded unit over the mean, per product)
    is at most static's, overall and per phase; each run's ``imbalance_other`` is exactly the
    other run's ``imbalance`` (count, mean, min, max, percentiles)."""
    path = two_layer[0]
    _, balanced = run(path)
    _, static = run(path, "fabric.din.assignment=static")

    def figures(t):
        return (t.count, t.mean, t.min, t.max, t.p50, t.p99)

    assert figures(balanced["imbalance_other"]) == figures(static["imbalance"])
    assert figures(static["imbalance_other"]) == figures(balanced["imbalance"])
    for phase in PHASES:
        b, s = balanced["imbalance"].by_phase[phase], static["imbalance"].by_phase[phase]
        assert figures(balanced["imbalance_other"].by_phase[phase]) == figures(s)
        assert b.max <= s.max and b.mean <= s.mean
    assert balanced["imbalance"].mean < static["imbalance"].mean


def test_static_is_maximally_imbalanced_on_blocks_congruent_modulo_the_units(tmp_path):
    """A mask keeping only the blocks at positions 3 mod 16 of a 16 x 16 grid puts all 16 on
    one unit under ``static`` (imbalance = units = 16) and one on each under ``balanced``
    (1.0); on the ideal fabric with gated zeros the masked product runs 16 blocks on one unit
    instead of one."""
    path = tmp_path / "t.jsonl"
    kept = np.arange(3, 256, UNITS)
    write_trace(path, [("fc1", 128, 128)], 2, masks={0: {"fc1": kept}}, backward=False,
                update=False)
    gate = (*IDEAL, "fabric.scu.zero_handling=gate")
    _, balanced = run(path, *gate)
    _, static = run(path, *gate, "fabric.din.assignment=static")
    assert static["imbalance"].max == UNITS == balanced["imbalance_other"].max
    assert balanced["imbalance"].max == 1.0 == static["imbalance_other"].max
    k = 8 * 8 * 32 // MAC_WIDTH
    full = DEPTH + k * 256 // UNITS
    assert phase_of(balanced, "time_fabric", "forward") == full + DEPTH + k
    assert phase_of(static, "time_fabric", "forward") == full + DEPTH + k * UNITS


# -- 9. dense execution ------------------------------------------------------------------------


@pytest.mark.parametrize("memory", ["dram", "ideal"])
def test_dense_execution_fetches_every_block_without_metadata(two_layer, memory):
    """``execution: dense``: every product fetches every block of the layer's grid (no
    metadata: the dense matrix's bytes), zero operands handled as the config says (here
    gate: every slot issued), and masks cost nothing (no mask phase at all)."""
    path, written = two_layer
    result, stats = run(
        path, "fabric.execution=dense", f"fabric.memory={memory}", "fabric.scu.zero_handling=gate"
    )
    prods = products(written)
    grids = {name: math.prod(grid_of(r, c, 8)) for name, r, c in TWO}
    blocks = sum(grids[r["layer"]] for r, _ in prods)
    f = result.fabric
    assert f.execution == "dense" and f.zero_handling == "gate"
    assert stats["blocks_fetched"].total == blocks
    assert f.imc_metadata_bytes == 0
    assert f.imc_data_bytes == blocks * 64 * VALUE_BYTES
    assert f.imc_fetches == len(prods)
    assert stats["mask_checks"].total == stats["mask_changes"].total == 0
    assert "mask" not in stats["time_fabric"].by_phase
    assert stats["din_cycles"].total == stats["route_entries"].total == 0
    assert actions(result, "mask") == {}
    slots = sum(m + z for m, z in zip(f.unit_macs, f.unit_zero_slots, strict=True))
    assert slots == sum(
        r["vectors"] * grids[r["layer"]] * 64 for r, _ in prods
    ) + sum(grids[r["layer"]] * 64 * 2 for r, _ in prods if r["kind"] == "spmm_w")
    assert f.imc_blocks_fetched == blocks, "the IMC's block count of a dense run"


def test_dense_execution_keeps_the_configs_zero_handling(two_layer):
    """Dense weights do not change how the units treat a zero operand: a dense run with
    ``skip`` performs the same non-zero MACs as with ``gate`` in fewer busy cycles, so dense
    against sparse on one config is weight sparsity alone."""
    path = two_layer[0]
    skip, _ = run(path, "fabric.execution=dense")
    gate, _ = run(path, "fabric.execution=dense", "fabric.scu.zero_handling=gate")
    assert skip.fabric.zero_handling == "skip" and gate.fabric.zero_handling == "gate"
    assert skip.fabric.unit_macs == gate.fabric.unit_macs
    assert sum(skip.fabric.unit_busy_cycles) < sum(gate.fabric.unit_busy_cycles)


# -- 10. determinism ---------------------------------------------------------------------------


def test_two_runs_give_identical_reports(two_layer, tmp_path, capsys):
    """The same config and trace twice: identical report JSON from the API, and identical
    report.json bytes from ``archsim run`` into two folders."""
    path = two_layer[0]
    first = api.run(CONFIG, path, overrides=["fabric.scu.units=8"])
    second = api.run(CONFIG, path, overrides=["fabric.scu.units=8"])
    assert first.to_json() == second.to_json()
    assert first["fabric"]["scu"]["units"] == 8
    for out in ("a", "b"):
        assert main(["run", str(CONFIG), str(path), "--out", str(tmp_path / out)]) == 0
    capsys.readouterr()
    assert (tmp_path / "a" / "report.json").read_bytes() == (
        tmp_path / "b" / "report.json").read_bytes()


# -- 11. the command line ----------------------------------------------------------------------


FABRIC_LINES = ("training", "time", "energy", "SCUs", "MACs", "DRAM", "IMC", "DIN")


def check_cli(trace: Path, out: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "archsim", "run", str(CONFIG), str(trace), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  fabric (sparse"))
    for word, line in zip(FABRIC_LINES, lines[start + 1:], strict=False):
        assert line.split()[0] == word, line
    assert (out / "report.json").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["fabric"]["execution"] == "sparse"
    return done.stdout


def test_cli_run_prints_the_fabric_lines(two_layer, tmp_path):
    """``python -m archsim run`` on a fabric config exits 0, prints the fabric section's lines
    (training, time, energy, SCUs, MACs, DRAM, IMC, DIN) and writes report.json."""
    stdout = check_cli(two_layer[0], tmp_path / "out")
    assert "3 of 3 mask checks changed a mask" in stdout


@pytest.mark.slow
def test_cli_run_on_a_bundled_sparse_trace(tmp_path):
    """The bundled command: mlp_s0.9_b8 on the sparse fabric config (about 20 s)."""
    check_cli(SPARSE_TRACES / "mlp_s0.9_b8.jsonl.gz", tmp_path / "out")


def test_dram_part_fields_can_be_overridden():
    """``--set fabric.dram.rows=1`` changes the DRAM part named by path (a sweep over a DRAM
    parameter needs it); it is refused with "'fabric.dram' is not a mapping" because the
    overrides are applied before the part file is read (archsim/config/__init__.py,
    hardware_from_data)."""
    config = load_hardware(CONFIG, ["fabric.dram.rows=1"])
    assert config.fabric.dram.rows == 1 and config.fabric.dram.name == "hbm2"


# -- 12. ScuBank.stream and block_assignment ---------------------------------------------------


def scu_bank(units: int = 2, handling: str = "gate", depth: int = DEPTH) -> ScuBank:
    config = replace(load_hardware(CONFIG).fabric.scu, units=units, zero_handling=handling,
                     pipeline_depth=depth)
    return ScuBank(simpy.Environment(), config, clock_hz=1e9)


def stream_reference(job: ScuJob, arrivals: Sequence[int], free: int, bank: ScuBank) -> int:
    """The streamed job's end by the recurrence the closed form solves, in exact fractions:
    a block's slots issue once it has arrived and the previous block's slots are issued,
    ``q = ceil(issued / mac_width) / blocks`` cycles each; then the pipeline drains."""
    cycles = bank.job_cycles(job)
    q = Fraction(cycles - bank.config.pipeline_depth, job.blocks)
    t = Fraction(free)
    for a in sorted(arrivals):
        t = max(t, Fraction(a)) + q
    return math.ceil(t) + bank.config.pipeline_depth


def test_stream_with_every_block_there_takes_job_cycles():
    """Every block there at the start: the job ends ``job_cycles`` after it, on every unit;
    the busy cycles are the job's."""
    bank = scu_bank(units=3)
    jobs = [ScuJob(3, 8, 32, 4000), ScuJob(1, 8, 5, 100), ScuJob(0, 8, 32, 0)]
    ends = bank.stream(jobs, [[0] * 3, [0], []], start=10)
    assert ends == [10 + bank.job_cycles(jobs[0]), 10 + bank.job_cycles(jobs[1]), 10]
    assert [s.busy_cycles for s in bank.unit_stats()] == [
        bank.job_cycles(jobs[0]), bank.job_cycles(jobs[1]), 0]
    assert bank.job_cycles(jobs[0]) == DEPTH + 3 * 64 * 32 // MAC_WIDTH


def test_stream_late_arrivals_by_hand():
    """Blocks of 4 x 4 on 4 vectors (64 slots: 4 cycles on 16 MACs, gated): arrivals 0, 0, 100
    end at 100 + 4 + depth; arrivals 0, 1, 2 wait for nothing (0 + 12 + depth); skip mode with
    fractional cycles per block (10 MACs on 2 blocks: 1 cycle, half a cycle each) arriving at
    0 and 5 ends at ceil(5.5) + depth; busy cycles never count the waits."""
    bank = scu_bank(units=2)
    job = ScuJob(3, 4, 4, 100)
    assert bank.stream([job, ScuJob(0, 4, 4, 0)], [[0, 100, 0], []], start=0)[0] == (
        100 + 4 + DEPTH)
    bank = scu_bank(units=2)
    assert bank.stream([job, ScuJob(0, 4, 4, 0)], [[2, 1, 0], []], start=0)[0] == 12 + DEPTH
    assert bank.unit_stats()[0].busy_cycles == 12 + DEPTH
    skip = scu_bank(units=1, handling="skip")
    assert skip.stream([ScuJob(2, 4, 4, 10)], [[0, 5]], start=0) == [6 + DEPTH]
    assert skip.unit_stats()[0].busy_cycles == 1 + DEPTH


def test_stream_waits_for_a_unit_busy_with_a_previous_job():
    """A unit still busy with a previous streamed job starts the next when it is free, even
    with the blocks there earlier; the other unit starts at once."""
    bank = scu_bank(units=2)
    first = ScuJob(2, 8, 32, 1000)
    end = bank.stream([first, ScuJob(0, 8, 32, 0)], [[0, 0], []], start=0)[0]
    assert end == bank.job_cycles(first)
    second = ScuJob(1, 8, 32, 500)
    ends = bank.stream([second, second], [[0], [0]], start=0)
    assert ends == [end + bank.job_cycles(second), bank.job_cycles(second)]
    late = bank.stream([second, ScuJob(0, 8, 32, 0)], [[ends[0] + 50], []], start=0)
    assert late[0] == ends[0] + 50 + bank.job_cycles(second)


@pytest.mark.parametrize("handling", ["skip", "gate"])
def test_stream_closed_form_matches_the_recurrence(handling):
    """Random jobs, arrivals and previous ends: the closed form is the block-by-block
    recurrence (exact fractions), and the busy cycles are job_cycles."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        bank = scu_bank(units=1, handling=handling, depth=int(rng.integers(0, 6)))
        free = 0
        for _ in range(3):
            blocks, b, v = int(rng.integers(1, 9)), int(rng.choice([2, 4, 8])), int(
                rng.integers(1, 7))
            job = ScuJob(blocks, b, v, int(rng.integers(0, blocks * b * b * v + 1)))
            start = int(rng.integers(0, 300))
            arrivals = rng.integers(0, 400, size=blocks).tolist()
            busy = bank.unit_stats()[0].busy_cycles
            end = bank.stream([job], [arrivals], start=start)[0]
            assert end == stream_reference(job, arrivals, max(start, free), bank)
            assert bank.unit_stats()[0].busy_cycles - busy == bank.job_cycles(job)
            free = end


def test_stream_refuses_arrivals_that_are_not_one_per_block():
    bank = scu_bank(units=1)
    with pytest.raises(ValueError, match="arrivals"):
        bank.stream([ScuJob(2, 4, 4, 10)], [[0]])
    with pytest.raises(ValueError, match="jobs"):
        bank.stream([ScuJob(2, 4, 4, 10)] * 2, [[0, 0]] * 2)


def test_block_assignment_rules():
    """``balanced`` deals the k-th block in force to unit k mod U; ``static`` block (i, j) to
    unit (i x cols + j) mod U; their loads are assign_balanced's and assign_static's, and
    balanced's largest load is ceil(nnzb / U), never above static's."""
    positions = np.array([0, 3, 5, 6, 9, 12, 13, 15])
    assert block_assignment(positions, 4, 3, "balanced").tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert block_assignment(positions, 4, 3, "static").tolist() == [0, 0, 2, 0, 0, 0, 1, 0]
    rng = np.random.default_rng(0)
    for _ in range(100):
        shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        mask = rng.random(shape) < rng.random()
        units = int(rng.integers(1, 20))
        kept = np.flatnonzero(mask)
        balanced = np.bincount(block_assignment(kept, shape[1], units, "balanced"),
                               minlength=units)
        static = np.bincount(block_assignment(kept, shape[1], units, "static"),
                             minlength=units)
        assert tuple(balanced) == assign_balanced(mask, units)
        assert tuple(static) == assign_static(mask, units)
        assert balanced.max(initial=0) == -(-kept.size // units) <= static.max(initial=0)


def test_a_sweep_axis_may_name_dram_part_files(tmp_path, monkeypatch):
    """``fabric.dram`` values in a sweep may be part files, relative to the base config's
    folder wherever the sweep runs from: each point's config holds that part."""
    from archsim.dse.spec import load_spec
    from archsim.dse.sweep import resolve_config

    repo = ROOT
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "version: 1\nname: dram_parts\n"
        f"config: {repo / 'hw_configs' / 'sparse_fabric.yaml'}\n"
        f"traces: [{repo / 'traces' / 'sparse' / 'mlp_s0.9_b16.jsonl.gz'}]\n"
        "axes:\n  - path: fabric.dram\n    values: [dram/hbm2.yaml, dram/ddr4_3200.yaml]\n"
        "metrics: [fabric.dram.part]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # not the config's folder
    loaded = load_spec(spec)
    names = [resolve_config(loaded, point).fabric.dram.name for point in loaded.points()]
    assert names == ["hbm2", "ddr4_3200"]
    spec.write_text(spec.read_text().replace("dram/ddr4_3200.yaml", "dram/nope.yaml"))
    with pytest.raises(ConfigError, match=r"fabric\.dram: part file 'dram/nope\.yaml'"):
        load_spec(spec)


def test_an_override_may_change_a_part_another_override_named():
    """``--set fabric.dram=dram/ddr4_3200.yaml --set fabric.dram.rows=1024``: the second
    override changes the part the first one named."""
    config = load_hardware(CONFIG, ["fabric.dram=dram/ddr4_3200.yaml", "fabric.dram.rows=1024"])
    assert (config.fabric.dram.name, config.fabric.dram.rows) == ("ddr4_3200", 1024)


def test_tiny_requests_stream_a_dense_matrix_in_bursts(two_layer):
    """``imc.request_bytes`` below a burst: the dense stream still moves whole bursts (one
    batch each), so the run is as fast as with one-burst requests and reads the same bytes."""
    path = two_layer[0]
    tiny, _ = run(path, "fabric.execution=dense", "fabric.imc.request_bytes=1B")
    burst, _ = run(path, "fabric.execution=dense", "fabric.imc.request_bytes=64B")
    assert tiny.total_cycles == burst.total_cycles
    assert tiny.fabric.dram_bytes_read == burst.fabric.dram_bytes_read
