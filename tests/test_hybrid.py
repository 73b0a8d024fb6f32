"""HyFlexPIM's hybrid SLC/MLC tiles: the layout of an SVD layer against its closed forms, the
throughput at a fixed array budget measured by the simulator, and the energy of each mode."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from archsim import api
from archsim.config import load_hardware
from archsim.config.schema import HardwareConfig, TileGroupConfig
from archsim.errors import ConfigError
from archsim.hw.tile import HybridTiles, Tile
from archsim.mapping.crossbar import CrossbarLayout
from archsim.mapping.placement import map_network
from archsim.sim import simulate
from archsim.workload.redistribution import slc_count, svd_rank
from archsim.workload.trace import TraceReader

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
HYFLEXPIM = CONFIGS / "hyflexpim.yaml"
ROWS, COLS = 64, 128  # the arrays of hyflexpim.yaml


def chip(arrays: int, *overrides: str, per_tile: int = 128) -> HardwareConfig:
    """hyflexpim.yaml with one processing unit of ``arrays`` arrays, every matrix layer
    decomposed (the file decomposes the blocks' only; ``overrides`` applied after)."""
    config = load_hardware(HYFLEXPIM, ['mapping.hybrid.decompose=["*"]', *overrides])
    assert arrays % per_tile == 0
    group = TileGroupConfig(tiles=arrays // per_tile, crossbars_per_tile=per_tile, tile=config.tile)
    return replace(
        config, tile_groups=MappingProxyType({"pu0": group}),
        mapping=replace(config.mapping, layer_groups=MappingProxyType({}), pipeline=False),
    )


def network(chain_trace, m: int, n: int, vectors: int = 1):
    path = chain_trace([(m, n, vectors)])
    with TraceReader(path) as reader:
        return path, reader.header.network


@pytest.mark.parametrize("m, n", [(2560, 2560), (768, 768), (768, 3072), (3072, 768), (100, 37)])
@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.1, 0.2, 0.5, 1.0])
def test_svd_layout_matches_the_closed_forms(chain_trace, m, n, fraction):
    """Each part of an m x n layer is a matrix of its own: ceil(rows / 64) x ceil(cols x cells
    / 128) arrays (8 cells per weight on SLC, 4 on MLC); the parts hold U (m x k) and Sigma
    V^T (k x n) at k = mn / (m + n), so as many weights as W, at 4 (1 + s) cells per weight
    on average with s the fraction of rank components on SLC."""
    _, net = network(chain_trace, m, n)
    config = chip(1 << 20, f"mapping.hybrid.slc_fraction={fraction}", "mapping.pack_copies=false",
                  "mapping.fill_groups=false", per_tile=1 << 10)
    layer = map_network(net, config).layers["fc1"]
    k = svd_rank(m, n)
    assert k == m * n // (m + n)
    k_slc = slc_count(k, fraction)
    assert k_slc == math.floor(k * fraction + 0.5)
    cells = {"slc": 8, "mlc": 4}
    expected = {}
    for matrix, rows, cols in (("u", lambda j: m, lambda j: j), ("v", lambda j: j, lambda j: n)):
        for mode, j in (("slc", k_slc), ("mlc", k - k_slc)):
            if j:
                expected[f"{matrix}.{mode}"] = (
                    math.ceil(rows(j) / ROWS) * math.ceil(cols(j) * cells[mode] / COLS)
                )
    arrays = {part.name: 0 for part in layer.parts}
    for placed in layer.groups:
        arrays[layer.parts[placed.part].name] += len(placed.crossbars)
        assert {array.mode for array in placed.layouts} == {layer.parts[placed.part].mode}
    assert arrays == expected
    assert layer.crossbars == sum(expected.values())
    weights = sum(p.layout.rows * p.layout.cols for p in layer.parts)
    assert weights == k * (m + n) <= m * n
    used_cells = sum(
        p.layout.rows * p.layout.cols * cells[p.mode] for p in layer.parts
    )
    s = k_slc / k
    assert used_cells / weights == pytest.approx(4 * (1 + s))


def test_adc_conversions_per_token_follow_the_layout(chain_trace):
    """Every array converts each used column once per input bit (8 bit-serial slices): per
    token, the sum over parts of row blocks x columns x cells x 8."""
    m = n = 2560
    tokens = 7
    path, _ = network(chain_trace, m, n, tokens)
    config = chip(8192, "mapping.fill_groups=false")
    result = simulate(config, path)
    k = svd_rank(m, n)
    k_slc = slc_count(k, 0.05)
    expected = 8 * (
        math.ceil(m / ROWS) * k_slc * 8 + math.ceil(m / ROWS) * (k - k_slc) * 4
        + math.ceil(k_slc / ROWS) * n * 8 + math.ceil((k - k_slc) / ROWS) * n * 4
    )
    conversions = {
        c.part: c.actions["adc.convert"] for c in result.components
        if c.kind == "adc" and c.group == "pu0"
    }
    assert conversions["slc"] + conversions["mlc"] == expected * tokens
    assert conversions["slc"] == 8 * tokens * (
        math.ceil(m / ROWS) * k_slc * 8 + math.ceil(k_slc / ROWS) * n * 8
    )


def _throughput(config: HardwareConfig, trace: Path) -> float:
    return api.run(config, trace)["per_inference"]["throughput_per_s"]


@pytest.mark.parametrize(
    "fraction, budget, tokens",
    [(0.05, 134_400, 21 * 40 * 50), (0.10, 70_400, 11 * 20 * 200), (0.20, 96_000, 15 * 25 * 100)],
)
def test_throughput_at_a_fixed_array_budget(chain_trace, fraction, budget, tokens):
    """At a fixed array budget, every layer copied as often as the arrays allow, the
    linear layer's throughput against all-SLC is 2 / (1 + s): 1.905x at 5 %, 1.818x at 10 %,
    1.667x at 20 %.
    The layer (2560 x 2560, k = 1280) and the budgets are chosen so that every part fills
    whole arrays and both mappings fill the budget exactly; the tokens make the first pass's
    one-operation head start negligible. Measured by the simulator."""
    path, _ = network(chain_trace, 2560, 2560, tokens)
    hybrid = chip(budget, f"mapping.hybrid.slc_fraction={fraction}")
    all_slc = chip(budget, "mapping.hybrid.slc_fraction=1")
    baseline = chip(budget, "mapping.hybrid.svd=false", "mapping.hybrid.slc_fraction=1")
    gain = _throughput(hybrid, path) / _throughput(all_slc, path)
    assert gain == pytest.approx(2 / (1 + fraction), rel=1e-3)
    # The baseline without the SVD holds the same weights in the same arrays, in one pass.
    assert _throughput(hybrid, path) / _throughput(baseline, path) == pytest.approx(
        2 / (1 + fraction), rel=1e-3
    )


def test_all_mlc_doubles_the_copies_and_halves_nothing_else(chain_trace):
    """All-MLC against all-SLC (no SVD): half the cells, so twice the copies in the same
    arrays, and twice the throughput."""
    path, _ = network(chain_trace, 2560, 2560, 12_800)
    slc = chip(12_800, "mapping.hybrid.svd=false", "mapping.hybrid.slc_fraction=1")
    mlc = chip(12_800, "mapping.hybrid.svd=false", "mapping.hybrid.slc_fraction=0")
    assert _throughput(mlc, path) / _throughput(slc, path) == pytest.approx(2.0, rel=1e-3)


def test_each_mode_converts_at_its_resolution():
    """An SLC array converts at 6 bits, an MLC array at 7 (HyFlexPIM): with the linear SAR
    scaling, 6/7 of the energy per conversion; the same cycles (the conversion time is quoted
    per conversion); the same counts for the same columns."""
    config = load_hardware(HYFLEXPIM)
    group = config.groups[0]
    tile = Tile(0, group.name)
    kind = HybridTiles(group.tile, tiles=(tile,), crossbars=2, used=2, group=group.name,
                       modes_used={"slc": 1, "mlc": 1})
    slc = kind.op_cost(CrossbarLayout((), 64, 128, "slc"), 8, tile)
    mlc = kind.op_cost(CrossbarLayout((), 64, 128, "mlc"), 8, tile)
    assert slc.cycles == mlc.cycles == 100 + 7 * 128 + 128  # overlapped bit-serial reads
    assert slc.count("adc", "convert") == mlc.count("adc", "convert") == 128 * 8
    slc_adc = kind.modes["slc"].adc.actions["convert"].energy_j
    mlc_adc = kind.modes["mlc"].adc.actions["convert"].energy_j
    assert slc_adc == pytest.approx(mlc_adc * 6 / 7)
    assert mlc_adc == pytest.approx(0.78e-12)
    with pytest.raises(Exception, match="without a mode"):
        kind.op_cost(CrossbarLayout((), 64, 128), 8, tile)


@pytest.mark.parametrize(
    "override, field",
    [
        ("tile.modes=null", "modes"),
        ("tile.modes.mlc.cell_bits=1", "modes: slc.cell_bits"),
        ("tile.modes.slc.cell_bits=2", "modes: slc.cell_bits"),
        ("tile.modes.mlc.cell_bits=4", "modes.mlc.cell_bits"),
        ("tile.modes.slc.adc_bits=8", "modes.slc.adc_bits"),
        ("mapping.hybrid.svd=false", "mapping.hybrid.slc_fraction"),
        ("mapping.copies={block0.q: 2}", "mapping.copies"),
        ("mapping.layer_groups={x: nope}", "mapping.layer_groups"),
    ],
)
def test_bad_hybrid_configs_name_their_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_hardware(HYFLEXPIM, [override])


def test_hybrid_tiles_refuse_a_noc():
    """The passes of a split layer exchange data the NoC model does not carry: refused."""
    noc = ("noc={topology: mesh, dims: [24, 24], link_width_bits: 32, router_cycles: 1, "
           "link_cycles: 1, buffer_flits: 8, flow_control: virtual_cut_through, "
           "energy: {router: 1pJ, link_bit_mm: 0.1pJ}, link_length_m: 1mm}")
    with pytest.raises(ConfigError, match=r"noc: hybrid tiles"):
        load_hardware(HYFLEXPIM, [noc])


def test_crossbar_tiles_refuse_modes():
    with pytest.raises(ConfigError, match=r"tile\.modes: only hybrid tiles"):
        load_hardware(CONFIGS / "wu2023_64x64.yaml", [
            "tile.modes={slc: {cell_bits: 1, adc_bits: 6}, mlc: {cell_bits: 2, adc_bits: 7}}"
        ])


def test_a_later_pass_streams_behind_the_one_before():
    """A pass starts once the pass before it has produced its first results, and ends no
    earlier than one of its operations after that pass's last results: a faster pass waits
    for its inputs, a slower one sets the pace."""
    from types import SimpleNamespace

    from archsim.sim.handlers import MatrixForward

    def job(cycles: int, steps: int, index: int):
        return (SimpleNamespace(cost=SimpleNamespace(cycles=cycles)), steps, index)

    host = SimpleNamespace(_stages=(0, 0, 1, 1))
    same = [job(10, 5, 0), job(10, 5, 1), job(10, 5, 2), job(10, 5, 3)]
    assert MatrixForward._delays(host, same) == (0, 0, 10, 10)  # one operation behind
    faster = [job(10, 5, 0), job(8, 5, 1), job(4, 5, 2), job(20, 5, 3)]
    delays = MatrixForward._delays(host, faster)
    assert delays[:2] == (0, 0)
    # The fast job ends one of its operations after pass 0's last results (50 cycles).
    assert delays[2] + 5 * 4 == 50 + 4
    # The slow one starts once pass 0's first results are out (10 cycles) and sets the pace.
    assert delays[3] == 10
    single = [job(10, 5, 0)]
    assert MatrixForward._delays(SimpleNamespace(_stages=(0,)), single) == (0,)


def test_only_the_layers_named_are_decomposed(chain_trace):
    """``mapping.hybrid.decompose`` names the layers mapped as their SVD; the others sit whole
    on SLC arrays (8 cells per weight, one pass)."""
    path = chain_trace([(256, 128, 4), (128, 64, 4)])
    with TraceReader(path) as reader:
        net = reader.header.network
    config = chip(1 << 14, "mapping.fill_groups=false", 'mapping.hybrid.decompose=["fc2"]')
    mapping = map_network(net, config)
    whole, split = mapping.layers["fc1"], mapping.layers["fc2"]
    assert [(p.name, p.mode, p.stage) for p in whole.parts] == [("w.slc", "slc", 0)]
    assert whole.crossbars == math.ceil(256 / ROWS) * math.ceil(128 * 8 / COLS)
    assert [p.name for p in split.parts] == ["u.slc", "u.mlc", "v.slc", "v.mlc"]
    result = simulate(config, path)
    assert result.samples == 1
