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

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from archsim.config.schema import DEFAULT_GROUP, HardwareConfig, TileGroup
from archsim.errors import MappingError, listed, shown
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
    layouts and copies."""

    crossbars: tuple[int, ...]
    layouts: tuple[CrossbarLayout, ...]
    copies: tuple[int, ...]


@dataclass(frozen=True)
class LayerMapping:
    """A matrix layer's layout with its crossbars placed on the chip, in tile group ``group``."""

    layout: LayerLayout
    groups: tuple[PlacedGroup, ...]
    group: str = DEFAULT_GROUP

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.layout.layer


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
    layer: LayerSpec, group: TileGroup, weight_bits: int, copies: int, pack: bool
) -> LayerGeometry:
    """Dense and convolution layers: the weight matrix split over the group's arrays."""
    xbar = group.tile.crossbar
    return layer_geometry(
        layer.name, layer.rows, layer.cols,
        array_rows=xbar.rows, array_cols=xbar.cols, weight_bits=weight_bits,
        cell_bits=xbar.cell_bits, signed_weights=xbar.signed_weights,
        copies=copies, pack_copies=pack,
    )


def _routed_geometry(
    layer: LayerSpec, group: TileGroup, weight_bits: int, copies: int, pack: bool
) -> LayerGeometry:
    """Routed layers (ScRRAMBLe cores): one array per copy, the core's inputs on its rows."""
    geometry = _matrix_geometry(layer, group, weight_bits, copies, pack)
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
STRATEGIES: Mapping[
    tuple[str, str], Callable[[LayerSpec, TileGroup, int, int, bool], LayerGeometry]
] = MappingProxyType({
    ("crossbar", "dense"): _matrix_geometry,
    ("crossbar", "conv"): _matrix_geometry,
    ("crossbar", "routed"): _routed_geometry,
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


def map_network(network: NetworkSpec, config: HardwareConfig) -> NetworkMapping:
    """Lay out and place every matrix layer of ``network`` on the tile groups of ``config``.

    Raises :class:`MappingError` when a layer named in ``mapping.copies`` or
    ``mapping.layers`` is not a matrix layer of the network, when a layer does not suit its
    group's arrays, or when a group has too few crossbars.
    """
    _check_names(network, config)
    groups = {group.name: group for group in config.groups}
    first = config.groups[0].name
    matrix_layers = [layer for layer in network.layers if layer.is_matrix]
    placed_in: dict[str, str] = {}
    geometries: list[LayerGeometry] = []
    for layer in matrix_layers:
        entry = config.mapping.layers.get(layer.name)
        group = groups[entry.group if entry is not None else first]
        placed_in[layer.name] = group.name
        strategy = STRATEGIES.get((group.tile.kind, layer.kind))
        if strategy is None:
            held = sorted(k for t, k in STRATEGIES if t == group.tile.kind)
            raise MappingError(
                f"mapping.layers.{shown(layer.name)}.group: tile group '{shown(group.name)}' "
                f"is of kind {group.tile.kind}, which holds {', '.join(held) or 'no'} layers; "
                f"layer '{shown(layer.name)}' is {layer.kind}"
            )
        geometries.append(strategy(
            layer, group, network.weight_bits, config.mapping.copies.get(layer.name, 1),
            config.mapping.pack_copies,
        ))
    # Check the fit arithmetically first: building the layouts of a layer with a huge
    # number of copies would take time and memory only to be refused.
    for group in config.groups:
        mine = [g for g in geometries if placed_in[g.layer] == group.name]
        needed = sum(g.crossbars for g in mine)
        if needed > group.crossbars:
            detail = listed([f"{shown(g.layer)}: {g.crossbars}" for g in mine])
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
            raise MappingError(
                f"the network needs {needed} crossbars ({detail}) but {where}; add tiles or "
                "lower mapping.copies"
            )
    first_tile: dict[str, int] = {}
    tile = 0
    for group in config.groups:
        first_tile[group.name] = tile
        tile += group.tiles
    used_in: dict[str, int] = dict.fromkeys(groups, 0)
    placed: dict[str, LayerMapping] = {}
    crossbar_tile: list[int] = []
    for geometry in geometries:
        layout = layout_layer(geometry)
        name = placed_in[layout.layer]
        per_tile = groups[name].crossbars_per_tile
        members_placed = []
        for members, copies in zip(layout.groups, layout.group_copies):
            indices = tuple(range(len(crossbar_tile), len(crossbar_tile) + len(members)))
            for _ in members:
                crossbar_tile.append(first_tile[name] + used_in[name] // per_tile)
                used_in[name] += 1
            members_placed.append(PlacedGroup(indices, members, copies))
        placed[layout.layer] = LayerMapping(layout, tuple(members_placed), name)
    return NetworkMapping(
        MappingProxyType(placed), tuple(crossbar_tile), config.crossbars, network.weight_bits
    )
