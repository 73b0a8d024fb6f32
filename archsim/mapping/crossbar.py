"""Weight matrices onto crossbar arrays (stage: mapping).

A matrix layer (dense or conv via im2col) has a ``rows`` x ``cols`` weight matrix: ``rows``
inputs, ``cols`` outputs. On a crossbar of ``R`` x ``C`` cells, one logical output column takes
``polarity x slices`` physical columns:

* polarity 2 for differential pairs (W = G+ - G-), 1 for the offset scheme (G = a (W + b));
* slices = ceil(magnitude bits / cell bits), the weight's bits spread over MLC/SLC cells
  (a differential pair stores the magnitude, the sign picks the column).

The matrix is split into ``ceil(rows / R)`` row blocks and as many column blocks as needed; the
crossbars of one copy compute one input vector together (a *group*) and their partial sums are
merged digitally. Extra copies of a layer compute different input vectors in parallel; a copy
that fits in a fraction of one array is packed block-diagonally with others into the same array
(disjoint rows and columns), so one activation of that array serves several vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from archsim.errors import MappingError


@dataclass(frozen=True)
class CrossbarSlot:
    """One copy's block of a layer's weight matrix on one physical crossbar.

    Logical rows ``[row_start, row_stop)`` and logical columns ``[col_start, col_stop)`` sit in the
    array from physical row ``array_row`` and physical column ``array_col`` on.
    """

    copy: int
    row_start: int
    row_stop: int
    col_start: int
    col_stop: int
    array_row: int
    array_col: int

    @property
    def rows(self) -> int:
        """Physical rows this block occupies."""
        return self.row_stop - self.row_start


@dataclass(frozen=True)
class CrossbarLayout:
    """One physical crossbar's contents: the blocks it holds (more than one when packed), and
    the mode the mapping set the array to (``"slc"`` or ``"mlc"`` on hybrid tiles; None on
    tiles without modes)."""

    slots: tuple[CrossbarSlot, ...]
    rows_used: int
    cols_used: int
    mode: str | None = None


@dataclass(frozen=True)
class LayerGeometry:
    """The arithmetic of a layer's layout, before any crossbar is built.

    A ``rows`` x ``cols`` weight matrix on ``array_rows``-row crossbars: ``polarity`` columns per
    sign scheme, ``weight_slices`` cells per weight, ``outputs_per_array`` logical outputs per
    array, the row and column splits, and ``copies_per_array`` copies packed per array.
    """

    layer: str
    rows: int
    cols: int
    array_rows: int
    polarity: int
    weight_slices: int
    outputs_per_array: int
    row_splits: int
    col_splits: int
    copies: int
    copies_per_array: int

    @property
    def physical_cols_per_output(self) -> int:
        """Physical columns per logical output column."""
        return self.polarity * self.weight_slices

    @property
    def crossbars(self) -> int:
        """Physical crossbars the layout occupies."""
        groups = math.ceil(self.copies / self.copies_per_array)
        return groups * self.row_splits * self.col_splits


@dataclass(frozen=True)
class LayerLayout(LayerGeometry):
    """How one matrix layer is laid out over crossbars, before placement on tiles.

    ``groups[g]`` lists the crossbar layouts that compute vectors together in one step; the
    copies they hold are ``group_copies[g]``.
    """

    groups: tuple[tuple[CrossbarLayout, ...], ...] = ()
    group_copies: tuple[tuple[int, ...], ...] = ()


def weight_slices(weight_bits: int, cell_bits: int, signed_weights: str) -> int:
    """Cells per weight per polarity: the magnitude bits divided over cells of ``cell_bits``."""
    magnitude_bits = weight_bits - 1 if signed_weights == "differential" else weight_bits
    return max(1, math.ceil(magnitude_bits / cell_bits))


def layer_geometry(
    layer: str,
    rows: int,
    cols: int,
    *,
    array_rows: int,
    array_cols: int,
    weight_bits: int,
    cell_bits: int,
    signed_weights: str,
    copies: int = 1,
    pack_copies: bool = True,
) -> LayerGeometry:
    """Splits, slices and packing of a ``rows`` x ``cols`` matrix on ``array_rows`` x
    ``array_cols`` crossbars, in O(1) whatever the number of copies.

    Raises :class:`MappingError` when one logical output column does not fit in an array.
    """
    polarity = 2 if signed_weights == "differential" else 1
    slices = weight_slices(weight_bits, cell_bits, signed_weights)
    per_output = polarity * slices
    outputs_per_array = array_cols // per_output
    if outputs_per_array == 0:
        raise MappingError(
            f"layer {layer}: one weight column needs {per_output} physical columns "
            f"({polarity} polarity x {slices} slices) but tile.crossbar.cols is {array_cols}"
        )
    row_splits = math.ceil(rows / array_rows)
    col_splits = math.ceil(cols / outputs_per_array)
    per_array = 1
    if pack_copies and row_splits == 1 and col_splits == 1:
        per_array = max(1, min(array_rows // rows, array_cols // (cols * per_output), copies))
    return LayerGeometry(
        layer, rows, cols, array_rows, polarity, slices, outputs_per_array, row_splits,
        col_splits, copies, per_array,
    )


def layout_layer(geometry: LayerGeometry, mode: str | None = None) -> LayerLayout:
    """Build the crossbar layouts of a layer from its geometry (one group per copy, or per set
    of packed copies), every array set to ``mode``."""
    g = geometry
    per_output = g.physical_cols_per_output
    single_array = g.row_splits == 1 and g.col_splits == 1
    groups: list[tuple[CrossbarLayout, ...]] = []
    group_copies: list[tuple[int, ...]] = []
    for first in range(0, g.copies, g.copies_per_array):
        members = tuple(range(first, min(g.copies, first + g.copies_per_array)))
        if single_array:
            slots = tuple(
                CrossbarSlot(c, 0, g.rows, 0, g.cols, j * g.rows, j * g.cols * per_output)
                for j, c in enumerate(members)
            )
            layout = CrossbarLayout(
                slots, g.rows * len(members), g.cols * per_output * len(members), mode
            )
            groups.append((layout,))
        else:
            (copy,) = members
            layouts = []
            for r in range(g.row_splits):
                r0, r1 = r * g.array_rows, min(g.rows, (r + 1) * g.array_rows)
                for c in range(g.col_splits):
                    c0 = c * g.outputs_per_array
                    c1 = min(g.cols, (c + 1) * g.outputs_per_array)
                    slot = CrossbarSlot(copy, r0, r1, c0, c1, 0, 0)
                    layouts.append(
                        CrossbarLayout((slot,), r1 - r0, (c1 - c0) * per_output, mode)
                    )
            groups.append(tuple(layouts))
        group_copies.append(members)
    return LayerLayout(
        **{f.name: getattr(g, f.name) for f in fields(LayerGeometry)},
        groups=tuple(groups),
        group_copies=tuple(group_copies),
    )
