"""Placement of a network's crossbars on the chip's tile groups (stage: mapping).

:func:`map_network` lays every matrix layer of a network out over crossbars
(:mod:`archsim.mapping.crossbar`), in the tile group ``mapping.layers.<name>.group`` names (the
chip's first group by default), with that group's array shape, cells and signed-weight scheme,
and assigns the crossbars to the group's tiles in layer order, filling one tile's arrays before
the next. How a layer's weights are laid out depends on the group's kind of tile and the
layer's kind (:data:`STRATEGIES`): on crossbar tiles, dense,
convolution and routed layers are weight matrices split over arrays, a routed layer (a
ScRRAMBLe core, fed by signed blocks routed from several sources) into exactly one array per
copy. A network that needs more arrays than a group has is refused with a message naming the
group, the layers and what is short.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from archsim.config.schema import DEFAULT_GROUP, HardwareConfig, MappingConfig, TileGroup
from archsim.errors import MappingError, listed, shown
from archsim.limits import DEFAULT_LIMITS, Limits
from archsim.mapping.crossbar import (
    CrossbarLayout,
    LayerGeometry,
    LayerLayout,
    layer_geometry,
    layout_layer,
)

if TYPE_CHECKING:
    from archsim.workload.trace import LayerSpec, NetworkSpec


@dataclass(frozen=True)
class PlacedGroup:
    """Crossbars that compute one step together: their indices among the crossbars in use,
    layouts and copies; for a layer mapped in parts, the ``part`` they hold (an index into
    :attr:`LayerMapping.parts`) and its ``stage``, the pass of the product it computes."""

    crossbars: tuple[int, ...]
    layouts: tuple[CrossbarLayout, ...]
    copies: tuple[int, ...]
    stage: int = 0
    part: int = 0


@dataclass(frozen=True)
class LayerPart:
    """One part of a layer mapped in parts: a matrix of its own (``layout``), on arrays in one
    ``mode``, computed in pass ``stage``. An SVD layer W = U (Sigma V^T) on hybrid tiles has
    up to four: ``u.slc`` and ``u.mlc`` (the inputs times U's columns of the SLC and of the
    MLC rank components, stage 0), ``v.slc`` and ``v.mlc`` (those results times the same
    components' rows of Sigma V^T, stage 1, whose two partial sums are added digitally)."""

    name: str
    layout: LayerLayout
    mode: str | None
    stage: int


@dataclass(frozen=True)
class PartedGeometry:
    """What a mapping strategy returns for a layer it maps in parts: the whole matrix's
    geometry (``rows`` x ``cols``, its ``copies``) and each part's ``(name, geometry, mode,
    stage)``."""

    whole: LayerGeometry
    parts: tuple[tuple[str, LayerGeometry, str | None, int], ...]

    @property
    def crossbars(self) -> int:
        """Physical crossbars of every part."""
        return sum(geometry.crossbars for _, geometry, _, _ in self.parts)


@dataclass(frozen=True)
class LayerMapping:
    """A matrix layer's layout with its crossbars placed on the chip, in tile group ``group``.

    A layer mapped in parts (:class:`LayerPart`) has ``parts``; its ``layout`` then gives the
    whole matrix's rows, columns and copies, and its crossbars are those of the parts."""

    layout: LayerLayout
    groups: tuple[PlacedGroup, ...]
    group: str = DEFAULT_GROUP
    parts: tuple[LayerPart, ...] = ()

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.layout.layer

    @property
    def crossbars(self) -> int:
        """Physical crossbars the layer occupies."""
        return sum(len(placed.crossbars) for placed in self.groups)

    def part_layout(self, placed: PlacedGroup) -> LayerLayout:
        """The layout of the matrix ``placed`` holds a block of: its part's, or the layer's."""
        return self.parts[placed.part].layout if self.parts else self.layout

    @property
    def input_groups(self) -> tuple[PlacedGroup, ...]:
        """The groups that read the layer's input vectors (the first pass's)."""
        return tuple(placed for placed in self.groups if placed.stage == 0)

    @property
    def output_groups(self) -> tuple[PlacedGroup, ...]:
        """The groups whose slots' columns are the layer's outputs, merged where they are: the
        last part's (the other parts of the last pass add their partial sums into it)."""
        if not self.parts:
            return self.groups
        last = len(self.parts) - 1
        return tuple(placed for placed in self.groups if placed.part == last)


@dataclass(frozen=True)
class NetworkMapping:
    """Every matrix layer of a network placed on the chip.

    ``crossbar_tile[i]`` is the tile that holds crossbar ``i`` of those in use (numbered in
    layer order); ``crossbars_available`` is the chip's total over its tile groups.
    """

    layers: Mapping[str, LayerMapping]
    crossbar_tile: tuple[int, ...]
    crossbars_available: int
    weight_bits: int

    @property
    def crossbars(self) -> int:
        """Physical crossbars in use."""
        return len(self.crossbar_tile)

    @property
    def tiles_used(self) -> int:
        """Tiles holding at least one crossbar."""
        return len(set(self.crossbar_tile))

    @property
    def tile_span(self) -> int:
        """Tiles from 0 to the last tile in use (per-tile tables have this many rows; a tile
        group's unused tiles before the next group's are among them, idle)."""
        return max(self.crossbar_tile) + 1 if self.crossbar_tile else 0


def _matrix_geometry(
    layer: LayerSpec, group: TileGroup, weight_bits: int, copies: int, config: MappingConfig
) -> LayerGeometry:
    """Dense and convolution layers: the weight matrix split over the group's arrays."""
    xbar = group.tile.crossbar
    return layer_geometry(
        layer.name, layer.rows, layer.cols,
        array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=weight_bits,
        cell_bits=xbar.cell_bits, signed_weights=xbar.signed_weights,
        copies=copies, pack_copies=config.pack_copies,
    )


def _hybrid_geometry(
    layer: LayerSpec, group: TileGroup, weight_bits: int, copies: int, config: MappingConfig
) -> PartedGeometry:
    """Dense and convolution layers on hybrid tiles (:class:`LayerPart`): with
    ``mapping.hybrid.svd`` the matrix's SVD at rank
    :func:`~archsim.workload.redistribution.svd_rank` (k = mn / (m + n): U and Sigma V^T hold
    no more weights than W; archsim/REFERENCES.md [HyFlexPIM]), the first
    :func:`~archsim.workload.redistribution.slc_count` rank components on SLC arrays and the
    rest on MLC arrays, U (stage 0) and Sigma V^T (stage 1) of each, for the layers
    ``mapping.hybrid.decompose`` names (the others whole on SLC arrays); without it, the
    matrix itself on arrays of one mode (SLC at ``slc_fraction`` 1, MLC at 0). Each part is laid out
    as a matrix of its own with its mode's cells per weight."""
    # Imported here: only a chip with hybrid tiles needs the redistribution's arithmetic.
    from archsim.workload.redistribution import slc_count, svd_rank

    assert group.tile.modes is not None
    xbar = group.tile.crossbar
    hybrid = config.hybrid
    modes = {"slc": group.tile.modes.slc, "mlc": group.tile.modes.mlc}

    def geometry(name: str, rows: int, cols: int, mode: str) -> LayerGeometry:
        return layer_geometry(
            f"{layer.name}.{name}", rows, cols,
            array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=weight_bits,
            cell_bits=modes[mode].cell_bits, signed_weights=xbar.signed_weights,
            copies=copies, pack_copies=config.pack_copies,
        )

    m, n = layer.rows, layer.cols
    parts: list[tuple[str, LayerGeometry, str | None, int]] = []
    decomposed = any(fnmatch.fnmatchcase(layer.name, p) for p in hybrid.decompose)
    if not hybrid.svd or not decomposed:
        mode = "slc" if hybrid.slc_fraction == 1.0 or hybrid.svd else "mlc"
        parts.append((f"w.{mode}", geometry(f"w.{mode}", m, n, mode), mode, 0))
    else:
        rank = svd_rank(m, n)
        slc = slc_count(rank, hybrid.slc_fraction)
        split = (("slc", slc), ("mlc", rank - slc))
        for stage, (matrix, rows_of, cols_of) in enumerate(
            (("u", lambda k: m, lambda k: k), ("v", lambda k: k, lambda k: n))
        ):
            for mode, k in split:
                if k:
                    name = f"{matrix}.{mode}"
                    parts.append((name, geometry(name, rows_of(k), cols_of(k), mode), mode, stage))
    whole = layer_geometry(
        layer.name, m, n, array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=weight_bits,
        cell_bits=xbar.cell_bits, signed_weights=xbar.signed_weights, copies=copies,
        pack_copies=False,
    )
    return PartedGeometry(whole, tuple(parts))


def _routed_geometry(
    layer: LayerSpec, group: TileGroup, weight_bits: int, copies: int, config: MappingConfig
) -> LayerGeometry:
    """Routed layers (ScRRAMBLe cores): one array per copy, the core's inputs on its rows."""
    geometry = _matrix_geometry(layer, group, weight_bits, copies, config)
    if geometry.row_splits != 1 or geometry.col_splits != 1:
        xbar = group.tile.crossbar
        raise MappingError(
            f"layer {shown(layer.name)}: a routed layer (a ScRRAMBLe core) of {layer.rows} "
            f"inputs x {layer.cols} outputs needs one array of {layer.rows} rows and "
            f"{layer.cols * geometry.physical_cols_per_output} columns; tile group "
            f"'{shown(group.name)}' has arrays of {xbar.rows}x{xbar.cols}"
        )
    return geometry


#: How each kind of matrix layer is laid out over the arrays of each kind of tile (the mapping
#: strategies), by ``(tile.kind, layer kind)``. A kind of tile with arrays of its own adds its
#: entries; a pair missing here is a layer that kind of tile cannot hold.
#: A mapping strategy: ``(layer, group, weight_bits, copies, mapping config)`` to the layer's
#: geometry, or its parts' (:class:`PartedGeometry`).
Strategy = Callable[
    ["LayerSpec", TileGroup, int, int, MappingConfig], "LayerGeometry | PartedGeometry"
]

STRATEGIES: Mapping[tuple[str, str], Strategy] = MappingProxyType({
    ("crossbar", "dense"): _matrix_geometry,
    ("crossbar", "conv"): _matrix_geometry,
    ("crossbar", "routed"): _routed_geometry,
    ("hybrid", "dense"): _hybrid_geometry,
    ("hybrid", "conv"): _hybrid_geometry,
})


def _check_names(network: NetworkSpec, config: HardwareConfig) -> None:
    matrix = {layer.name for layer in network.layers if layer.is_matrix}
    for name in config.mapping.copies:
        if name not in matrix:
            raise MappingError(
                f"mapping.copies.{shown(name)}: no matrix layer of that name in the network; "
                f"expected one of {listed(sorted(matrix))}"
            )
    for name in config.mapping.layers:
        if name not in matrix:
            raise MappingError(
                f"mapping.layers.{shown(name)}: no matrix layer of that name in the network; "
                f"expected one of {listed(sorted(matrix))}"
            )


def _group_of(layer: str, config: MappingConfig, first: str) -> str:
    """The tile group of matrix layer ``layer``: ``mapping.layers``' entry, else the first
    ``mapping.layer_groups`` pattern it matches, else ``first``."""
    entry = config.layers.get(layer)
    if entry is not None:
        return entry.group
    for pattern, group in config.layer_groups.items():
        if fnmatch.fnmatchcase(layer, pattern):
            return group
    return first


def _name(geometry: LayerGeometry | PartedGeometry) -> str:
    return geometry.whole.layer if isinstance(geometry, PartedGeometry) else geometry.layer


def _filled(
    layers: list[LayerSpec],
    placed_in: Mapping[str, str],
    groups: Mapping[str, TileGroup],
    plan: Callable[[LayerSpec, int], LayerGeometry | PartedGeometry],
    most: int,
) -> dict[str, int]:
    """``mapping.fill_groups``: per tile group, the most copies ``c`` (up to ``most``,
    ``mapping.fill_max_copies``) such that every one of its layers at ``c`` copies fits its
    arrays together (at least 1: a group too small for one copy of each is refused by the
    fit check). The layers of a group process the same
    vectors, so equal copies keep them in step. Found by bisection on the arrays needed,
    which grow with ``c``."""
    copies: dict[str, int] = {}
    for name, group in groups.items():
        mine = [layer for layer in layers if placed_in[layer.name] == name]
        if not mine:
            continue

        def needed(c: int) -> int:
            return sum(plan(layer, c).crossbars for layer in mine)

        low, high = 1, max(1, min(most, group.crossbars))
        while low < high:
            middle = (low + high + 1) // 2
            if needed(middle) <= group.crossbars:
                low = middle
            else:
                high = middle - 1
        copies.update((layer.name, low) for layer in mine)
    return copies


def map_network(
    network: NetworkSpec, config: HardwareConfig, limits: Limits = DEFAULT_LIMITS
) -> NetworkMapping:
    """Lay out and place every matrix layer of ``network`` on the tile groups of ``config``.

    Raises :class:`MappingError` when a layer named in ``mapping.copies`` or
    ``mapping.layers`` is not a matrix layer of the network, when a layer does not suit its
    group's arrays, or when a group has too few crossbars; :class:`LimitError` when the
    layers' copies (times their parts) exceed ``limits.copies`` (arrays of many cells can
    pack more copies than any record has vectors).
    """
    _check_names(network, config)
    groups = {group.name: group for group in config.groups}
    first = config.groups[0].name
    matrix_layers = [layer for layer in network.layers if layer.is_matrix]
    placed_in: dict[str, str] = {}
    strategies: dict[str, Strategy] = {}
    for layer in matrix_layers:
        group = groups[_group_of(layer.name, config.mapping, first)]
        placed_in[layer.name] = group.name
        strategy = STRATEGIES.get((group.tile.kind, layer.kind))
        if strategy is None:
            held = sorted(k for t, k in STRATEGIES if t == group.tile.kind)
            raise MappingError(
                f"mapping.layers.{shown(layer.name)}.group: tile group '{shown(group.name)}' "
                f"is of kind {group.tile.kind}, which holds {', '.join(held) or 'no'} layers; "
                f"layer '{shown(layer.name)}' is {layer.kind}"
            )
        strategies[layer.name] = strategy

    def plan(layer: LayerSpec, copies: int) -> LayerGeometry | PartedGeometry:
        return strategies[layer.name](
            layer, groups[placed_in[layer.name]], network.weight_bits, copies, config.mapping
        )

    copies_of = (
        _filled(matrix_layers, placed_in, groups, plan, config.mapping.fill_max_copies)
        if config.mapping.fill_groups
        else {layer.name: config.mapping.copies.get(layer.name, 1) for layer in matrix_layers}
    )
    geometries = [plan(layer, copies_of[layer.name]) for layer in matrix_layers]
    # Check the fit arithmetically first: building the layouts of a layer with a huge
    # number of copies would take time and memory only to be refused.
    for group in config.groups:
        mine = [g for g in geometries if placed_in[_name(g)] == group.name]
        needed = sum(g.crossbars for g in mine)
        if needed > group.crossbars:
            detail = listed([f"{shown(_name(g))}: {g.crossbars}" for g in mine])
            if config.tile_groups:
                where = (
                    f"tile group '{group.name}' has {group.crossbars} (tile_groups."
                    f"{group.name}.tiles={group.tiles} x crossbars_per_tile="
                    f"{group.crossbars_per_tile})"
                )
            else:
                where = (
                    f"the chip has {group.crossbars} (chip.tiles={group.tiles} x "
                    f"chip.crossbars_per_tile={group.crossbars_per_tile})"
                )
            remedy = (
                "add tiles (mapping.fill_groups gives each layer one copy at least)"
                if config.mapping.fill_groups else "add tiles or lower mapping.copies"
            )
            raise MappingError(
                f"the network needs {needed} crossbars ({detail}) but {where}; {remedy}"
            )
    laid_out = sum(
        g.whole.copies * len(g.parts) if isinstance(g, PartedGeometry) else g.copies
        for g in geometries
    )
    source = "mapping.fill_groups" if config.mapping.fill_groups else "mapping.copies"
    limits.check("copies", laid_out, f"the layers' copies ({source}, times each layer's parts)")
    first_tile: dict[str, int] = {}
    tile = 0
    for group in config.groups:
        first_tile[group.name] = tile
        tile += group.tiles
    used_in: dict[str, int] = dict.fromkeys(groups, 0)
    placed: dict[str, LayerMapping] = {}
    crossbar_tile: list[int] = []
    for geometry in geometries:
        name = placed_in[_name(geometry)]
        per_tile = groups[name].crossbars_per_tile
        if isinstance(geometry, PartedGeometry):
            # The whole matrix's layout names its rows, columns and copies; its arrays are
            # the parts'.
            whole = LayerLayout(
                **{f.name: getattr(geometry.whole, f.name) for f in fields(LayerGeometry)}
            )
            parts = tuple(
                LayerPart(part, layout_layer(g, mode), mode, stage)
                for part, g, mode, stage in geometry.parts
            )
        else:
            whole = layout_layer(geometry)
            parts = ()
        members_placed = []
        for index, part in enumerate(parts or (LayerPart("", whole, None, 0),)):
            for members, copies in zip(part.layout.groups, part.layout.group_copies):
                indices = tuple(range(len(crossbar_tile), len(crossbar_tile) + len(members)))
                for _ in members:
                    crossbar_tile.append(first_tile[name] + used_in[name] // per_tile)
                    used_in[name] += 1
                members_placed.append(PlacedGroup(indices, members, copies, part.stage, index))
        placed[whole.layer] = LayerMapping(whole, tuple(members_placed), name, parts)
    return NetworkMapping(
        MappingProxyType(placed), tuple(crossbar_tile), config.crossbars, network.weight_bits
    )


def processing_units(network: NetworkSpec, mapping: NetworkMapping, first: str) -> dict[str, str]:
    """The tile group whose units run each layer of ``network`` (a *processing unit*: its
    arrays, digital PIM modules and special-function unit): a matrix layer's own group; any
    other layer the group of the first matrix layer, in network order, that consumes its
    output directly or through other non-matrix layers (a block's LayerNorm, attention
    products and softmax run where the block's projections are); failing that, its first
    input's, or ``first`` for the network input."""
    names = [layer.name for layer in network.layers]
    order = {name: index for index, name in enumerate(names)}
    consumers: dict[str, list[str]] = {name: [] for name in names}
    for layer in network.layers:
        for source in layer.inputs:
            if source in consumers:
                consumers[source].append(layer.name)
    downstream: dict[str, str | None] = {}
    for layer in reversed(network.layers):
        if layer.name in mapping.layers:
            downstream[layer.name] = layer.name
            continue
        found = [downstream[c] for c in consumers[layer.name] if downstream[c] is not None]
        downstream[layer.name] = min(found, key=order.__getitem__) if found else None
    units: dict[str, str] = {}
    for layer in network.layers:
        matrix = downstream[layer.name]
        if matrix is not None:
            units[layer.name] = mapping.layers[matrix].group
        else:
            source = next((s for s in layer.inputs if s in units), None)
            units[layer.name] = units[source] if source is not None else first
    return units

