"""Mapping stage: weight matrices onto crossbars, copies, packing and placement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.errors import MappingError
from archsim.mapping.crossbar import layer_geometry, layout_layer, weight_slices


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 700),
    cols=st.integers(1, 300),
    array_rows=st.sampled_from([16, 32, 64, 128, 256]),
    array_cols=st.sampled_from([16, 32, 64, 128]),
    cell_bits=st.integers(1, 8),
    weight_bits=st.integers(2, 8),
    signed=st.sampled_from(["differential", "offset"]),
    copies=st.integers(1, 9),
    pack=st.booleans(),
)
def test_every_weight_mapped_exactly_once_per_copy(
    rows, cols, array_rows, array_cols, cell_bits, weight_bits, signed, copies, pack
):
    """Property: each copy covers the weight matrix exactly once, within array bounds, and
    packed blocks never overlap inside one array."""
    try:
        geometry = layer_geometry(
            "L", rows, cols, array_rows=array_rows, array_cols=array_cols,
            weight_bits=weight_bits, cell_bits=cell_bits, signed_weights=signed,
            copies=copies, pack_copies=pack,
        )
    except MappingError:
        assert (2 if signed == "differential" else 1) * weight_slices(
            weight_bits, cell_bits, signed
        ) > array_cols
        return
    layout = layout_layer(geometry)
    per_output = layout.physical_cols_per_output
    # The O(1) count used for the fit check equals the crossbars actually laid out.
    assert geometry.crossbars == sum(len(group) for group in layout.groups)
    cover = np.zeros((copies, rows, cols), dtype=np.int64)
    for group, members in zip(layout.groups, layout.group_copies):
        for crossbar in group:
            used = np.zeros((array_rows, array_cols), dtype=np.int64)
            for slot in crossbar.slots:
                assert slot.copy in members
                cover[slot.copy, slot.row_start:slot.row_stop, slot.col_start:slot.col_stop] += 1
                height = slot.row_stop - slot.row_start
                width = (slot.col_stop - slot.col_start) * per_output
                assert slot.array_row + height <= array_rows
                assert slot.array_col + width <= array_cols
                used[slot.array_row:slot.array_row + height,
                     slot.array_col:slot.array_col + width] += 1
            assert used.max() == 1
            assert crossbar.rows_used <= array_rows and crossbar.cols_used <= array_cols
    assert (cover == 1).all()
    assert sorted(c for members in layout.group_copies for c in members) == list(range(copies))


@pytest.mark.parametrize(
    ("rows", "cols", "array", "expected"),
    [
        # LeNet-Wu on 64x64 (Wu et al. 2023, Table 2; REFERENCES.md [Wu2023]): conv1 1,
        # conv2 2, fc1 3 crossbars.
        (25, 4, (64, 64), 1), (100, 12, (64, 64), 2), (192, 10, (64, 64), 3),
        # VGG-8-Wu on 256x64: 1+2+4+6+12+20+32+1 = 78 crossbars.
        (27, 32, (256, 64), 1), (288, 32, (256, 64), 2), (288, 64, (256, 64), 4),
        (576, 64, (256, 64), 6), (576, 128, (256, 64), 12), (1152, 128, (256, 64), 20),
        (2048, 128, (256, 64), 32), (128, 10, (256, 64), 1),
    ],
)
def test_crossbar_counts_of_wu_networks(rows, cols, array, expected):
    """Differential 8-bit weights in 7-bit cells: one pair of columns per weight."""
    layout = layout_layer(layer_geometry("L", rows, cols, array_rows=array[0],
                                         array_cols=array[1], weight_bits=8, cell_bits=7,
                                         signed_weights="differential"))
    assert sum(len(group) for group in layout.groups) == expected


def test_copies_pack_block_diagonally():
    """conv1 of LeNet-Wu (25 rows x 8 columns) fits twice in a 64x64 array: 8 copies, 4 arrays."""
    layout = layout_layer(layer_geometry("conv1", 25, 4, array_rows=64, array_cols=64,
                                         weight_bits=8, cell_bits=7,
                                         signed_weights="differential", copies=8))
    assert layout.copies_per_array == 2
    assert layout.group_copies == ((0, 1), (2, 3), (4, 5), (6, 7))
    unpacked = layer_geometry("conv1", 25, 4, array_rows=64, array_cols=64, weight_bits=8,
                              cell_bits=7, signed_weights="differential", copies=8,
                              pack_copies=False)
    assert unpacked.crossbars == 8


def test_weight_slices_over_mlc_cells():
    assert weight_slices(8, 7, "differential") == 1
    assert weight_slices(8, 2, "differential") == 4
    assert weight_slices(8, 2, "offset") == 4
    assert weight_slices(8, 1, "offset") == 8


def test_one_weight_wider_than_the_array_is_a_mapping_error():
    with pytest.raises(MappingError, match="layer fc1: one weight column needs 14 physical"):
        layer_geometry("fc1", 4, 4, array_rows=8, array_cols=8, weight_bits=8, cell_bits=1,
                       signed_weights="differential")
