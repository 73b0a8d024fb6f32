"""Placement of a network's crossbars on the chip's tiles (stage: mapping).

:func:`map_network` lays every matrix layer of a network out over crossbars
(:mod:`archsim.mapping.crossbar`) and assigns the crossbars to tiles in layer order, filling one
tile's arrays before the next. A network that needs more arrays than the chip has is refused with
a message naming the layers and what is short.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from archsim.config.schema import HardwareConfig
from archsim.errors import MappingError
from archsim.mapping.crossbar import CrossbarLayout, LayerLayout, layer_geometry, layout_layer

if TYPE_CHECKING:
    from archsim.workload.trace import NetworkSpec


@dataclass(frozen=True)
class PlacedGroup:
    """Crossbars that compute one step together: their global indices, layouts and copies."""

    crossbars: tuple[int, ...]
    layouts: tuple[CrossbarLayout, ...]
    copies: tuple[int, ...]


@dataclass(frozen=True)
class LayerMapping:
    """A matrix layer's layout with its crossbars placed on the chip."""

    layout: LayerLayout
    groups: tuple[PlacedGroup, ...]

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.layout.layer


@dataclass(frozen=True)
class NetworkMapping:
    """Every matrix layer of a network placed on the chip.

    ``crossbar_tile[i]`` is the tile that holds crossbar ``i``; ``crossbars_available`` is the
    chip's total (tiles x crossbars per tile).
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


def map_network(network: NetworkSpec, config: HardwareConfig) -> NetworkMapping:
    """Lay out and place every matrix layer of ``network`` on the chip of ``config``.

    Raises :class:`MappingError` when a layer named in ``mapping.copies`` is not a matrix layer
    of the network, or when the chip has too few crossbars.
    """
    xbar = config.tile.crossbar
    matrix_layers = [layer for layer in network.layers if layer.is_matrix]
    names = {layer.name for layer in matrix_layers}
    for name in config.mapping.copies:
        if name not in names:
            raise MappingError(
                f"mapping.copies.{name}: no matrix layer of that name in the network; "
                f"expected one of {', '.join(sorted(names))}"
            )
    geometries = [
        layer_geometry(
            layer.name,
            layer.rows,
            layer.cols,
            array_rows=xbar.rows,
            array_cols=xbar.cols,
            weight_bits=network.weight_bits,
            cell_bits=xbar.cell_bits,
            signed_weights=xbar.signed_weights,
            copies=config.mapping.copies.get(layer.name, 1),
            pack_copies=config.mapping.pack_copies,
        )
        for layer in matrix_layers
    ]
    # Check the fit arithmetically first: building the layouts of a layer with a huge
    # number of copies would take time and memory only to be refused.
    available = config.chip.tiles * config.chip.crossbars_per_tile
    needed = sum(g.crossbars for g in geometries)
    if needed > available:
        detail = ", ".join(f"{g.layer}: {g.crossbars}" for g in geometries)
        raise MappingError(
            f"the network needs {needed} crossbars ({detail}) but the chip has {available} "
            f"(chip.tiles={config.chip.tiles} x chip.crossbars_per_tile="
            f"{config.chip.crossbars_per_tile}); add tiles or lower mapping.copies"
        )
    layouts: list[LayerLayout] = [layout_layer(g) for g in geometries]
    placed: dict[str, LayerMapping] = {}
    next_index = 0
    for layout in layouts:
        groups = []
        for members, copies in zip(layout.groups, layout.group_copies):
            indices = tuple(range(next_index, next_index + len(members)))
            next_index += len(members)
            groups.append(PlacedGroup(indices, members, copies))
        placed[layout.layer] = LayerMapping(layout, tuple(groups))
    tiles = tuple(i // config.chip.crossbars_per_tile for i in range(next_index))
    return NetworkMapping(MappingProxyType(placed), tiles, available, network.weight_bits)
