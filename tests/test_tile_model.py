"""Tile model: cycles and action counts of one crossbar operation against closed forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.config import load_hardware
from archsim.hw.tile import CrossbarTiles, Tile
from archsim.mapping.crossbar import CrossbarLayout

CONFIGS = Path(__file__).resolve().parents[1] / "hw_configs"
#: The one tile of the one-tile groups built here.
TILE = Tile(0, "default")


def tiles_for(name: str, *overrides: str) -> CrossbarTiles:
    config = load_hardware(CONFIGS / name, overrides)
    return CrossbarTiles(config.tile, tiles=(TILE,), crossbars=1, used=1)


def test_wu_operation_is_720ns():
    """Wu et al. 2023, Sec. 2.3 (REFERENCES.md [Wu2023]): 8 bit-serial samples + 1 conversion
    = 9 cycles per output, 8 column groups one after another: 72 cycles = 720 ns at 100 MHz,
    whatever the number of columns in use (every group is converted)."""
    tiles = tiles_for("wu2023_64x64.yaml")
    for cols_used in (8, 24, 64):
        cost = tiles.op_cost(CrossbarLayout((), 25, cols_used), input_bits=8, tile=TILE)
        assert cost.cycles == 72
        assert cost.count("adc", "convert") == 64
        assert cost.count("tia", "sample") == 64 * 8
        assert cost.count("dac", "drive") == 64 * 8 * 8  # every row, every bit, again for every column group


def test_skipping_idle_column_groups_shortens_narrow_operations():
    tiles = tiles_for("wu2023_64x64.yaml", "tile.adc.skip_idle_column_groups=true")
    cost = tiles.op_cost(CrossbarLayout((), 25, 3), input_bits=8, tile=TILE)
    assert cost.cycles == 3 * 9
    assert cost.count("adc", "convert") == 3


@settings(max_examples=100, deadline=None)
@given(
    read=st.integers(1, 200),
    conv=st.integers(1, 8),
    cpa=st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
    input_bits=st.integers(1, 16),
    dac_bits=st.integers(1, 4),
    overlap=st.booleans(),
)
def test_digital_accumulation_matches_closed_form(read, conv, cpa, input_bits, dac_bits, overlap):
    """ISAAC-style: S slices; each slice reads (r cycles) then converts G groups (c each);
    with overlap, conversion of slice k hides the read of slice k + 1."""
    tiles = tiles_for(
        "isaac_like.yaml",
        f"tile.crossbar.read_cycles={read}",
        f"tile.adc.conversion_cycles={conv}",
        f"tile.adc.columns_per_adc={cpa}",
        f"tile.dac.bits={dac_bits}",
        f"tile.adc.overlap_with_read={'true' if overlap else 'false'}",
    )
    cost = tiles.op_cost(CrossbarLayout((), 128, 128), input_bits=input_bits, tile=TILE)
    slices = -(-input_bits // dac_bits)
    convert = cpa * conv
    expected = read + (slices - 1) * max(read, convert) + convert if overlap else slices * (read + convert)
    assert cost.cycles == expected
    assert cost.count("adc", "convert") == 128 * slices
    assert cost.count("shift_add", "add") == 128 * (slices - 1)
    assert cost.busy_of("adc") == cost.count("adc", "convert") * conv


@pytest.mark.parametrize("cpa", [2, 4, 8, 16, 32, 64])
@pytest.mark.parametrize("config", ["wu2023_64x64.yaml", "isaac_like.yaml"])
def test_more_adcs_never_slow_an_operation(cpa, config):
    """Halving the columns per ADC (doubling the ADCs) never lengthens an operation."""
    slow = tiles_for(config, f"tile.adc.columns_per_adc={cpa}")
    fast = tiles_for(config, f"tile.adc.columns_per_adc={cpa // 2}")
    layout = CrossbarLayout((), 64, 64)
    assert fast.op_cost(layout, 8, TILE).cycles <= slow.op_cost(layout, 8, TILE).cycles


def test_isaac_operation_by_hand():
    """ISAAC-like: 8 one-bit slices, a 120-cycle (100 ns) read, 128 columns on one ADC at one
    conversion per cycle, conversion overlapped with the next read:
    120 + 7 x max(120, 128) + 128 = 1144 cycles (953 ns at 1.2 GHz)."""
    cost = tiles_for("isaac_like.yaml").op_cost(
        CrossbarLayout((), 128, 128), input_bits=8, tile=TILE
    )
    assert cost.cycles == 1144
    assert cost.count("adc", "convert") == 1024


@settings(max_examples=100, deadline=None)
@given(
    config=st.sampled_from(["wu2023_64x64.yaml", "isaac_like.yaml"]),
    cpa=st.sampled_from([1, 2, 4, 8, 16, 32, 64]),
    dac_bits=st.integers(1, 8),
    accumulate=st.sampled_from(["analog", "digital"]),
    overlap=st.booleans(),
    skip=st.booleans(),
    rows_used=st.integers(1, 64),
    cols_used=st.integers(1, 64),
    read=st.integers(1, 200),
)
def test_no_component_is_busier_than_the_operation(
    config, cpa, dac_bits, accumulate, overlap, skip, rows_used, cols_used, read
):
    """Property: per instance, no tile component is busy longer than the operation lasts."""
    overrides = [
        "tile.crossbar.rows=64", "tile.crossbar.cols=64", f"tile.adc.columns_per_adc={cpa}",
        f"tile.dac.bits={dac_bits}", f"tile.adc.accumulate={accumulate}",
        f"tile.adc.skip_idle_column_groups={str(skip).lower()}",
        f"tile.adc.overlap_with_read={str(overlap and accumulate == 'digital').lower()}",
        f"tile.crossbar.read_cycles={read}",
    ]
    tiles = tiles_for(config, *overrides)  # a chip of one crossbar
    cost = tiles.op_cost(CrossbarLayout((), rows_used, cols_used), input_bits=8, tile=TILE)
    assert cost.busy_of("dac") <= tiles.dac.instances * cost.cycles
    assert cost.busy_of("tia") <= tiles.tia.instances * cost.cycles
    assert cost.busy_of("adc") <= tiles.adc.instances * cost.cycles


def test_tia_busy_time_by_hand_with_skipped_column_groups():
    """Wu tile, 9 columns used, idle groups skipped: 9 columns integrate 8 one-cycle samples
    each = 72 TIA-cycles; the operation lasts 8 groups x 9 cycles = 72 cycles."""
    tiles = tiles_for("wu2023_64x64.yaml", "tile.adc.skip_idle_column_groups=true")
    cost = tiles.op_cost(CrossbarLayout((), 64, 9), input_bits=8, tile=TILE)
    assert cost.busy_of("tia") == 72
    assert cost.cycles == 72


@pytest.mark.parametrize(("rows", "gate"), [(64, False), (256, False), (256, True)])
def test_array_read_energy_counts_the_driven_rows(rows, gate):
    """``tile.crossbar.energy.row_read`` is charged once per driven row and read: on the Wu
    tile (8.8 fJ) an operation's array energy is 8.8 fJ x rows driven x 64 reads, so 36.04 pJ
    for 64 rows (wu2023_64x64.yaml's derivation) and 4x that for 256, unless idle rows are
    gated (then only the 25 rows holding weights count)."""
    tiles = tiles_for(
        "wu2023_64x64.yaml",
        f"tile.crossbar.rows={rows}",
        f"tile.gate_idle_rows={'true' if gate else 'false'}",
    )
    cost = tiles.op_cost(CrossbarLayout((), 25, 24), input_bits=8, tile=TILE)
    tiles.charge(cost, operations=3)
    driven = 25 if gate else rows
    assert tiles.crossbar.counts["row_read"] == 3 * driven * 64
    assert tiles.crossbar.counts["read"] == 3 * 64
    energy = tiles.crossbar.counts["row_read"] * tiles.crossbar.actions["row_read"].energy_j
    assert energy == pytest.approx(3 * driven / 64 * 36.0448e-12, rel=1e-12)
