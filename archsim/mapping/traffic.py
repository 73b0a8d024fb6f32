"""Activation traffic between tiles, and placement of tiles on the NoC (stage: mapping).

Where a layer's outputs are produced and which tiles need them follows, element by element,
from the crossbar placement (:mod:`archsim.mapping.placement`):

* **Producers.** Matrix-layer vector ``p`` (an output pixel of a conv; the one vector of a dense
  layer) is computed by copy ``p mod copies``, as the engine deals them; an output column is
  merged on the tile that holds the first row block of its column block. Digital layers run
  where their input is (activation and flatten keep every element in place, a pooled value
  stays with its window's first element, an addition with its first operand), so activations
  do not move until a matrix layer needs them.
* **Consumers.** A dense layer's row block reads those input elements (its vector goes to copy
  0). A conv's row block holds kernel entries ``(kh, kw, c)`` (im2col order): for every output
  pixel its copy computes, it reads the input pixels under those offsets in those channels,
  padding excluded. Input rows needed on several tiles are sent to each.
* **Flows.** ``bits(t -> t')`` = ``act_bits`` x the elements produced on ``t`` that ``t'``
  reads. Flows within a tile stay in its buffer. A residual addition's second operand is not
  moved. The network input is already in the tiles' buffers (loaded by the host), unless
  ``mapping.input_node`` names the router it arrives from: then each layer fed by it receives
  the elements its tiles read from the I/O port there (:data:`IO`).
* **Routed layers** (ScRRAMBLe cores) are fed block by block: every route is one flow of one
  block, ``block x act_bits`` bits in one packet, from the tile that produced the block (or
  the I/O port) to the tile holding the layer's copy 0, in route order; the packet header then
  also names the block among the core's routes (:attr:`Traffic.chunk_index_bits`).

When a trace's layer shapes do not chain element for element (synthetic chains of dense layers
applied to several vectors), an edge falls back to proportions: each tile's share of the
producer's outputs times each consumer tile's share of the rows.

:func:`place_tiles` puts tiles on the routers of the NoC, ``in_order`` (tile ``i`` on router
``i``) or ``traffic_aware``: starting from in-order, move tiles (swapping with a router's
tile, or to a free router) while that lowers the hop-weighted traffic
``sum bits(t -> t') x hops(node(t), node(t'))``; deterministic.
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

__all__ = ["IO", "Flow", "Traffic", "hop_weighted_traffic", "network_traffic", "place_tiles"]

#: The source "tile" of flows that bring the network input from the I/O port.
IO = -1

#: Passes of pairwise swaps the traffic-aware placement makes at most.
_MAX_PASSES = 50


@dataclass(frozen=True)
class Flow:
    """``bits`` of activations per sample from tile ``src`` (:data:`IO`: the I/O port) to tile
    ``dst`` (``src != dst``), in packets of ``packet_bits`` payload bits (None: the chip's
    activation payload)."""

    src: int
    dst: int
    bits: int
    packet_bits: int | None = None


@dataclass(frozen=True)
class Traffic:
    """The activation traffic of one sample of a mapped network.

    Attributes:
        flows: per edge ``(input layer, matrix layer)`` of the network, the flows along it.
        shares: per layer (matrix or digital), the tiles its work runs on and the fraction of it
            on each, ``((tile, fraction), ...)`` in tile order; layers fed only by the network
            input run on tile 0.
        matrix: ``tile_span x tile_span`` bits per sample between tiles (all edges but those
            from the I/O port).
        chunk_index_bits: header bits naming a routed block among its core's routes (0 with no
            routed layer).
    """

    flows: Mapping[tuple[str, str], tuple[Flow, ...]]
    shares: Mapping[str, tuple[tuple[int, float], ...]]
    matrix: np.ndarray
    chunk_index_bits: int = 0


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


def _matrix_owner(mapping: NetworkMapping, layer: LayerSpec) -> np.ndarray | None:
    """The producing tile of each output element of a matrix layer, flattened in HWC order:
    vector ``p`` (an output pixel of a conv, the one vector of a dense layer) is dealt to copy
    ``p mod copies``, and a column's value is merged on the tile of its first row block."""
    lm = mapping.layers[layer.name]
    layout = lm.layout
    vectors = layer.vectors_per_sample
    if vectors * layout.cols != math.prod(layer.out_shape):
        return None
    table = np.full((layout.copies, layout.cols), -1, dtype=np.int64)
    for placed in lm.groups:
        for index, crossbar in zip(placed.crossbars, placed.layouts):
            for slot in crossbar.slots:
                if slot.row_start == 0:
                    table[slot.copy, slot.col_start:slot.col_stop] = mapping.crossbar_tile[index]
    return table[np.arange(vectors) % layout.copies].reshape(-1)


def _digital_owner(layer: LayerSpec, inputs: list[np.ndarray | None]) -> np.ndarray | None:
    """Where a digital layer's outputs are: with its input (the first, for an addition); a
    pooled value on the tile of its window's first element."""
    size = math.prod(layer.out_shape)
    first = inputs[0] if inputs else None
    if first is None:
        return None
    if layer.kind in ("maxpool", "avgpool") and len(layer.in_shape) == 3:
        h, w, c = layer.in_shape
        ho, wo, _ = layer.out_shape
        if first.size != h * w * c or size != ho * wo * c:
            return None
        stride, pad = layer.stride, layer.padding
        ys = np.clip(np.arange(ho) * stride - pad, 0, h - 1)
        xs = np.clip(np.arange(wo) * stride - pad, 0, w - 1)
        grid = first.reshape(h, w, c)
        return grid[np.ix_(ys, xs)].reshape(-1)
    return first if first.size == size else None


def _needed_inputs(
    mapping: NetworkMapping, layer: LayerSpec, size: int
) -> dict[int, np.ndarray] | None:
    """Per tile, a mask over the ``size`` input elements its crossbars read: a dense layer's
    row block reads those inputs (its one vector goes to copy 0); a conv's row block
    ``(kh, kw, c)`` entries read, for each output pixel its copy computes, the input pixels
    under those kernel offsets, in those channels (zero padding reads nothing)."""
    lm = mapping.layers[layer.name]
    layout = lm.layout
    needed: dict[int, np.ndarray] = {}
    slots = [
        (mapping.crossbar_tile[index], slot)
        for placed in lm.groups
        for index, crossbar in zip(placed.crossbars, placed.layouts)
        for slot in crossbar.slots
    ]
    if layer.kind == "dense":
        if size != layout.rows:
            return None
        for tile, slot in slots:
            if slot.copy == 0:
                mask = needed.setdefault(tile, np.zeros(size, dtype=bool))
                mask[slot.row_start:slot.row_stop] = True
        return needed
    if len(layer.in_shape) != 3 or len(layer.out_shape) != 3 or len(layer.kernel) != 2:
        return None
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    kh, kw = layer.kernel
    if size != h * w * c or layout.rows != kh * kw * c:
        return None
    positions = np.arange(ho * wo)
    for tile, slot in slots:
        mine = positions[positions % layout.copies == slot.copy]
        oy, ox = mine // wo * layer.stride, mine % wo * layer.stride
        mask = needed.setdefault(tile, np.zeros((h, w, c), dtype=bool))
        for offset in range(kh * kw):
            base = offset * c
            c0, c1 = max(slot.row_start, base) - base, min(slot.row_stop, base + c) - base
            if c0 >= c1:
                continue
            iy = oy + offset // kw - layer.padding
            ix = ox + offset % kw - layer.padding
            ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            mask[iy[ok], ix[ok], c0:c1] = True
    return {tile: mask.reshape(-1) for tile, mask in needed.items()}


def network_traffic(
    network: NetworkSpec, mapping: NetworkMapping, input_node: int | None = None
) -> Traffic:
    """The flows, work shares and tile-to-tile traffic matrix of ``network`` as ``mapping``
    places it; with ``input_node``, also the network input's flows from the I/O port (rules:
    module docstring)."""
    by_name = {layer.name: layer for layer in network.layers}
    tiles = mapping.tile_span
    owners: dict[str, np.ndarray | None] = {}
    shares: dict[str, dict[int, float]] = {}
    producers: dict[str, tuple[str, ...]] = {}  # layer -> matrix layers upstream (itself if matrix)
    for layer in network.layers:
        fed = [source for source in layer.inputs if source != "input"]
        if layer.is_matrix:
            owners[layer.name] = _matrix_owner(mapping, layer)
            shares[layer.name] = _output_shares(mapping, layer.name)
            producers[layer.name] = (layer.name,)
            continue
        upstream: list[str] = []
        for source in fed:
            upstream.extend(p for p in producers[source] if p not in upstream)
        producers[layer.name] = tuple(upstream)
        owner = _digital_owner(layer, [owners[source] for source in fed]) if fed else None
        owners[layer.name] = owner
        if owner is not None and (owner >= 0).all():
            counts = np.bincount(owner, minlength=tiles)
            shares[layer.name] = {
                t: float(n) / owner.size for t, n in enumerate(counts.tolist()) if n
            }
            continue
        merged: dict[int, float] = {}
        for producer in upstream:
            for tile, part in shares[producer].items():
                merged[tile] = merged.get(tile, 0.0) + part / len(upstream)
        shares[layer.name] = merged or {0: 1.0}
    matrix = np.zeros((tiles, tiles), dtype=np.int64)
    flows: dict[tuple[str, str], tuple[Flow, ...]] = {}
    chunk_bits = 0
    for layer in network.layers:
        if not layer.is_matrix:
            continue
        if layer.kind == "routed":
            edges = _routed_edges(mapping, layer, owners, shares, network.act_bits, input_node)
            # The header names one of the core's routes.
            chunk_bits = max(chunk_bits, max(1, (len(layer.routes) - 1).bit_length()))
        else:
            edges = {}
            for source in layer.inputs:
                if source == "input":
                    if input_node is not None:
                        edges[source] = _input_flows(mapping, layer, network)
                    continue
                if not producers[source]:
                    continue
                edge = _exact_edge(mapping, layer, by_name[source], owners[source], network.act_bits)
                if edge is None:
                    edge = _proportional_edge(
                        mapping, layer, by_name[source], producers[source], shares,
                        network.act_bits,
                    )
                edges[source] = [
                    Flow(src, dst, bits) for (src, dst), bits in sorted(edge.items()) if bits > 0
                ]
        for source, edge_flows in edges.items():
            for flow in edge_flows:
                if flow.src != IO:
                    matrix[flow.src, flow.dst] += flow.bits
            flows[(source, layer.name)] = tuple(edge_flows)
    frozen_shares = {
        name: tuple(sorted(parts.items())) for name, parts in shares.items()
    }
    return Traffic(
        MappingProxyType(flows), MappingProxyType(frozen_shares), matrix, chunk_bits
    )


def _copy0_tile(mapping: NetworkMapping, layer: LayerSpec) -> int:
    """The tile of the array holding copy 0 of a routed layer (one array per copy)."""
    for placed in mapping.layers[layer.name].groups:
        for index, crossbar in zip(placed.crossbars, placed.layouts):
            if any(slot.copy == 0 for slot in crossbar.slots):
                return mapping.crossbar_tile[index]
    raise AssertionError(f"layer {layer.name} has no copy 0")  # map_network places every copy


def _routed_edges(
    mapping: NetworkMapping,
    layer: LayerSpec,
    owners: Mapping[str, np.ndarray | None],
    shares: Mapping[str, Mapping[int, float]],
    act_bits: int,
    input_node: int | None,
) -> dict[str, list[Flow]]:
    """One flow per route of a routed layer, by source, in route order: a block of ``block``
    activations from the tile that produced its first element (the source's main tile when
    that is not known; the I/O port for the network input, with ``input_node``)."""
    dst = _copy0_tile(mapping, layer)
    bits = layer.block * act_bits
    edges: dict[str, list[Flow]] = {}
    for position, block, _, _ in layer.routes:
        source = layer.inputs[position]
        if source == "input":
            if input_node is None:
                continue
            src = IO
        else:
            owner = owners.get(source)
            first = block * layer.block
            if owner is not None and first < owner.size and owner[first] >= 0:
                src = int(owner[first])
            else:
                src = max(shares[source].items(), key=lambda item: (item[1], -item[0]))[0]
        if src != dst:
            edges.setdefault(source, []).append(Flow(src, dst, bits, bits))
    return edges


def _input_flows(mapping: NetworkMapping, layer: LayerSpec, network: NetworkSpec) -> list[Flow]:
    """The network input's flows from the I/O port into a dense or convolution layer: each
    tile receives the input elements its arrays read (in proportion to its rows when the
    shapes do not chain)."""
    size = math.prod(network.input_shape)
    needed = _needed_inputs(mapping, layer, size)
    if needed is not None:
        counts = {tile: int(mask.sum()) for tile, mask in needed.items()}
    else:
        counts = {
            tile: round(size * share) for tile, share in _input_shares(mapping, layer.name).items()
        }
    return [
        Flow(IO, tile, n * network.act_bits) for tile, n in sorted(counts.items()) if n > 0
    ]


def _exact_edge(
    mapping: NetworkMapping,
    layer: LayerSpec,
    source: LayerSpec,
    owner: np.ndarray | None,
    act_bits: int,
) -> dict[tuple[int, int], int] | None:
    """Bits per sample from each producing tile to each consumer tile, element by element;
    None when the shapes do not chain (the proportional model takes over)."""
    if owner is None or (owner < 0).any():
        return None
    needed = _needed_inputs(mapping, layer, owner.size)
    if needed is None:
        return None
    tiles = mapping.tile_span
    edge: dict[tuple[int, int], int] = {}
    for dst, mask in sorted(needed.items()):
        counts = np.bincount(owner[mask], minlength=tiles)
        for src, n in enumerate(counts.tolist()):
            if n and src != dst:
                edge[(src, dst)] = n * act_bits
    return edge


def _proportional_edge(
    mapping: NetworkMapping,
    layer: LayerSpec,
    source: LayerSpec,
    upstream: tuple[str, ...],
    shares: Mapping[str, Mapping[int, float]],
    act_bits: int,
) -> dict[tuple[int, int], int]:
    """Bits per sample between tiles in proportion to the producers' output shares and the
    consumer's row shares: for traces whose layer shapes do not chain element for element
    (synthetic chains of dense layers applied to several vectors)."""
    need = _input_shares(mapping, layer.name)
    total = _elements(source) * act_bits
    edge: dict[tuple[int, int], float] = {}
    for producer in upstream:
        for src, part in shares[producer].items():
            for dst, wanted in need.items():
                if src != dst:
                    edge[(src, dst)] = edge.get((src, dst), 0.0) + total * part * wanted / len(upstream)
    return {key: round(amount) for key, amount in edge.items()}


def hop_weighted_traffic(matrix: np.ndarray, hops: np.ndarray, nodes: tuple[int, ...]) -> int:
    """``sum bits(t -> t') x hops(nodes[t], nodes[t'])`` in bit-hops per sample."""
    where = np.asarray(nodes, dtype=np.int64)
    return int((matrix * hops[np.ix_(where, where)]).sum())


#: Routers up to which the traffic-aware placement searches (it keeps an N x N hop table and
#: makes O(T x N) work per tile move).
MAX_PLACEMENT_ROUTERS = 1024


def place_tiles(matrix: np.ndarray, hops: np.ndarray, policy: str) -> tuple[int, ...]:
    """The NoC router of each tile in use, by ``policy`` (``in_order`` or ``traffic_aware``).

    ``matrix`` is the ``T x T`` traffic in bits, ``hops`` the hop counts of the routing between
    routers: ``T x T`` suffices for ``in_order``, ``traffic_aware`` needs all ``N x N``
    (``N >= T``). Traffic-aware placement never has more hop-weighted traffic than in-order:
    it starts there and, tile by tile, takes the move (a swap with another router's tile, or to
    a free router) that lowers the bit-hops most, until a pass finds none (at most
    ``_MAX_PASSES`` passes). Raises :class:`MappingError` when the NoC has fewer routers than
    tiles in use, or more than :data:`MAX_PLACEMENT_ROUTERS` for ``traffic_aware``.
    """
    tiles, nodes = matrix.shape[0], hops.shape[0]
    if policy not in ("in_order", "traffic_aware"):
        raise MappingError(f"mapping.placement: expected in_order or traffic_aware, got {policy!r}")
    if tiles > nodes:
        raise MappingError(
            f"the network uses {tiles} tiles but the NoC has {nodes} routers (one tile each); "
            "enlarge noc.dims or use fewer tiles"
        )
    if policy == "in_order":
        return tuple(range(tiles))
    if nodes > MAX_PLACEMENT_ROUTERS:
        raise MappingError(
            f"mapping.placement: traffic_aware searches NoCs of up to {MAX_PLACEMENT_ROUTERS} "
            f"routers, this one has {nodes}; use in_order"
        )
    # The bit-hops are sum_{i<j} W[i, j] H[P_i, P_j] with W = matrix + matrix.T. S[m, x] =
    # sum_j W[x, j] H[m, P_j] is tile x's cost were it on router m. Swapping tile t (router h)
    # with tile o (router n) gains S[h, t] - S[n, t] + S[n, o] - S[h, o] - 2 W[t, o] H[h, n];
    # a move to a free router n gains S[h, t] - S[n, t].
    weight = (matrix + matrix.T).astype(np.float64)
    np.fill_diagonal(weight, 0.0)
    dist = hops.astype(np.float64)
    where = np.arange(tiles, dtype=np.int64)
    slots = np.full(nodes, -1, dtype=np.int64)
    slots[:tiles] = where
    cost = dist[:, where] @ weight  # S, N x T (W is symmetric)
    routers = np.arange(nodes)
    for _ in range(_MAX_PASSES):
        improved = False
        for tile in range(tiles):
            here = int(where[tile])
            held = slots >= 0
            other = np.where(held, slots, 0)
            gain = cost[here, tile] - cost[:, tile]
            gain += np.where(
                held,
                cost[routers, other] - cost[here, other] - 2.0 * weight[tile, other] * dist[here],
                0.0,
            )
            gain[here] = 0.0
            best = int(np.argmax(gain))
            if gain[best] <= 1e-9:
                continue
            moved = int(slots[best])
            shift = dist[:, best] - dist[:, here]
            cost += np.outer(shift, weight[tile])
            if moved >= 0:
                cost -= np.outer(shift, weight[moved])
                where[moved] = here
            slots[here], slots[best] = moved, tile
            where[tile] = best
            improved = True
        if not improved:
            break
    return tuple(int(n) for n in where)
