"""Mapping stage: matrix layers -> crossbar layouts -> crossbars placed on tiles
(:mod:`.crossbar`, :mod:`.placement`) -> activation traffic between tiles and tiles placed on
the NoC (:mod:`.traffic`) -> the controller's instruction stream (:mod:`.program`)."""

from archsim.mapping.crossbar import (
    CrossbarLayout,
    CrossbarSlot,
    LayerGeometry,
    LayerLayout,
    layer_geometry,
    layout_layer,
)
from archsim.mapping.placement import LayerMapping, NetworkMapping, PlacedGroup, map_network

__all__ = [
    "CrossbarLayout",
    "CrossbarSlot",
    "LayerGeometry",
    "LayerLayout",
    "LayerMapping",
    "NetworkMapping",
    "PlacedGroup",
    "layer_geometry",
    "layout_layer",
    "map_network",
]
