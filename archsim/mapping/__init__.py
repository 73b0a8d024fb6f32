"""Mapping stage: matrix layers -> crossbar layouts -> crossbars placed on tiles."""

from archsim.mapping.crossbar import CrossbarLayout, CrossbarSlot, LayerLayout, layout_layer
from archsim.mapping.placement import LayerMapping, NetworkMapping, PlacedGroup, map_network

__all__ = [
    "CrossbarLayout",
    "CrossbarSlot",
    "LayerLayout",
    "LayerMapping",
    "NetworkMapping",
    "PlacedGroup",
    "layout_layer",
    "map_network",
]
