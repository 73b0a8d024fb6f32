"""Activation traffic between tiles, and placement of tiles on the NoC (stage: mapping).

Where a layer's outputs are produced and where the next matrix layer needs them follows from the
crossbar placement (:mod:`archsim.mapping.placement`):

* **Producers.** A matrix layer's output columns are produced on the tile that holds the first
  row block of each column block (the row blocks' partial sums are merged there). A group of
  copies produces its copies' share of the vectors, dealt round-robin as in the engine. So tile
  ``t`` produces the fraction ``src[t]`` of the layer's outputs; the fractions sum to 1.
  Digital layers (activation, pooling, additions) run where their input was produced, on the
  same tiles and in the same shares, so activations do not move until a matrix layer needs them.
* **Consumers.** A matrix layer's copy needs its share of the input; within the copy, a tile
  needs the input rows of the crossbars it holds (column blocks on one tile share them). So tile
  ``t'`` needs the fraction ``dst[t']`` of the input; the fractions sum to 1 or more (input rows
  needed on several tiles are sent to each).
* **Flows.** Into a matrix layer ``M`` from each of its inputs ``X`` travel the ``elements(X)``
  activations of ``act_bits`` bits: ``bits(t -> t') = total x src[t] x dst[t'] / k`` for the
  ``k`` matrix layers upstream of ``X`` (through digital layers). Flows within a tile stay in the
  tile buffer; the network input is already in the tiles' buffers (loaded by the host).

:func:`place_tiles` puts tiles on the routers of the NoC, ``in_order`` (tile ``i`` on router
``i``) or ``traffic_aware``: starting from in-order, swap pairs of positions while that lowers
the hop-weighted traffic ``sum bits(t -> t') x hops(node(t), node(t'))``; deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

import numpy as np

from archsim.errors import MappingError
from archsim.mapping.placement import NetworkMapping

if TYPE_CHECKING:
    from archsim.workload.trace import LayerSpec, NetworkSpec

__all__ = ["Flow", "Traffic", "hop_weighted_traffic", "network_traffic", "place_tiles"]

#: Passes of pairwise swaps the traffic-aware placement makes at most.
_MAX_PASSES = 50


@dataclass(frozen=True)
class Flow:
    """``bits`` of activations per sample from tile ``src`` to tile ``dst`` (``src != dst``)."""

    src: int
    dst: int
    bits: int


@dataclass(frozen=True)
class Traffic:
    """The activation traffic of one sample of a mapped network.

    Attributes:
        flows: per edge ``(input layer, matrix layer)`` of the network, the flows along it.
        shares: per layer (matrix or digital), the tiles its work runs on and the fraction of it
            on each, ``((tile, fraction), ...)`` in tile order; layers fed only by the network
            input run on tile 0.
        matrix: ``tiles_used x tiles_used`` bits per sample between tiles (all edges).
    """

    flows: Mapping[tuple[str, str], tuple[Flow, ...]]
    shares: Mapping[str, tuple[tuple[int, float], ...]]
    matrix: np.ndarray


def _output_shares(mapping: NetworkMapping, layer: str) -> dict[int, float]:
    lm = mapping.layers[layer]
    layout = lm.layout
    shares: dict[int, float] = {}
    for placed in lm.groups:
        for index, crossbar in zip(placed.crossbars, placed.layouts):
            tile = mapping.crossbar_tile[index]
            for slot in crossbar.slots:  # one slot is one copy's block
                if slot.row_start == 0:  # the first row block merges the column block's sums
                    part = (slot.col_stop - slot.col_start) / (layout.cols * layout.copies)
                    shares[tile] = shares.get(tile, 0.0) + part
    return shares


def _input_shares(mapping: NetworkMapping, layer: str) -> dict[int, float]:
    lm = mapping.layers[layer]
    layout = lm.layout
    shares: dict[int, float] = {}
    for placed in lm.groups:
        per_copy = 1.0 / layout.copies
        rows: dict[tuple[int, int], set[tuple[int, int]]] = {}
        for index, crossbar in zip(placed.crossbars, placed.layouts):
            tile = mapping.crossbar_tile[index]
            for slot in crossbar.slots:
                rows.setdefault((tile, slot.copy), set()).add((slot.row_start, slot.row_stop))
        for (tile, _copy), blocks in rows.items():
            held = sum(stop - start for start, stop in blocks)
            shares[tile] = shares.get(tile, 0.0) + per_copy * held / layout.rows
    return shares


def _elements(layer: LayerSpec) -> int:
    return math.prod(layer.out_shape)


def network_traffic(network: NetworkSpec, mapping: NetworkMapping) -> Traffic:
    """The flows, work shares and tile-to-tile traffic matrix of ``network`` as ``mapping``
    places it (rules: module docstring)."""
    by_name = {layer.name: layer for layer in network.layers}
    shares: dict[str, dict[int, float]] = {}
    producers: dict[str, tuple[str, ...]] = {}  # layer -> matrix layers upstream (itself if matrix)
    for layer in network.layers:
        if layer.is_matrix:
            shares[layer.name] = _output_shares(mapping, layer.name)
            producers[layer.name] = (layer.name,)
            continue
        upstream: list[str] = []
        for source in layer.inputs:
            if source != "input":
                upstream.extend(p for p in producers[source] if p not in upstream)
        producers[layer.name] = tuple(upstream)
        merged: dict[int, float] = {}
        for producer in upstream:
            for tile, part in shares[producer].items():
                merged[tile] = merged.get(tile, 0.0) + part / len(upstream)
        shares[layer.name] = merged or {0: 1.0}
    tiles = mapping.tiles_used
    matrix = np.zeros((tiles, tiles), dtype=np.int64)
    flows: dict[tuple[str, str], tuple[Flow, ...]] = {}
    for layer in network.layers:
        if not layer.is_matrix:
            continue
        need = _input_shares(mapping, layer.name)
        for source in layer.inputs:
            if source == "input" or not producers[source]:
                continue
            total = _elements(by_name[source]) * network.act_bits
            upstream = producers[source]
            edge: dict[tuple[int, int], float] = {}
            for producer in upstream:
                for src, part in shares[producer].items():
                    for dst, wanted in need.items():
                        if src != dst:
                            key = (src, dst)
                            edge[key] = edge.get(key, 0.0) + total * part * wanted / len(upstream)
            edge_flows = tuple(
                Flow(src, dst, bits)
                for (src, dst), amount in sorted(edge.items())
                if (bits := round(amount)) > 0
            )
            for flow in edge_flows:
                matrix[flow.src, flow.dst] += flow.bits
            flows[(source, layer.name)] = edge_flows
    frozen_shares = {
        name: tuple(sorted(parts.items())) for name, parts in shares.items()
    }
    return Traffic(MappingProxyType(flows), MappingProxyType(frozen_shares), matrix)


def hop_weighted_traffic(matrix: np.ndarray, hops: np.ndarray, nodes: tuple[int, ...]) -> int:
    """``sum bits(t -> t') x hops(nodes[t], nodes[t'])`` in bit-hops per sample."""
    where = np.asarray(nodes, dtype=np.int64)
    return int((matrix * hops[np.ix_(where, where)]).sum())


def place_tiles(matrix: np.ndarray, hops: np.ndarray, policy: str) -> tuple[int, ...]:
    """The NoC router of each tile in use, by ``policy`` (``in_order`` or ``traffic_aware``).

    ``matrix`` is the ``T x T`` traffic in bits, ``hops`` the ``N x N`` hop counts of the
    routing (``N >= T``). Traffic-aware placement never has more hop-weighted traffic than
    in-order: it starts there and only takes swaps that lower it (tiles may also move to
    routers no tile uses). Raises :class:`MappingError` when the NoC has fewer routers than
    tiles in use.
    """
    tiles, nodes = matrix.shape[0], hops.shape[0]
    if tiles > nodes:
        raise MappingError(
            f"the network uses {tiles} tiles but the NoC has {nodes} routers (one tile each); "
            "enlarge noc.dims or use fewer tiles"
        )
    if policy == "in_order":
        return tuple(range(tiles))
    if policy != "traffic_aware":
        raise MappingError(f"mapping.placement: expected in_order or traffic_aware, got {policy!r}")
    # position[p] = the tile on router p, or -1; symmetric traffic weights for the cost.
    weight = (matrix + matrix.T).astype(np.float64)
    slots = np.full(nodes, -1, dtype=np.int64)
    slots[:tiles] = np.arange(tiles)
    where = np.arange(tiles, dtype=np.int64)

    def cost_of(tile: int, node: int, exclude: int = -1) -> float:
        others = np.ones(tiles, dtype=bool)
        others[tile] = False
        if exclude >= 0:
            others[exclude] = False
        return float((weight[tile, others] * hops[node, where[others]]).sum())

    for _ in range(_MAX_PASSES):
        improved = False
        for tile in range(tiles):
            best_gain, best_node = 1e-9, -1
            here = int(where[tile])
            for node in range(nodes):
                if node == here:
                    continue
                other = int(slots[node])
                before = cost_of(tile, here, other)
                after = cost_of(tile, node, other)
                if other >= 0:
                    before += cost_of(other, node, tile)
                    after += cost_of(other, here, tile)
                    # The pair's own traffic keeps its distance when the two swap.
                gain = before - after
                if gain > best_gain:
                    best_gain, best_node = gain, node
            if best_node >= 0:
                other = int(slots[best_node])
                slots[here], slots[best_node] = other, tile
                where[tile] = best_node
                if other >= 0:
                    where[other] = here
                improved = True
        if not improved:
            break
    return tuple(int(n) for n in where)
