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

The work follows the flows and the layers' distinct row blocks, never tiles x tiles: tiles
holding the same row blocks read the same elements, counted once; the tile-to-tile traffic is a
sparse :class:`TrafficMatrix`.

:func:`place_tiles` puts tiles on the routers of the NoC, ``in_order`` (tile ``i`` on router
``i``) or ``traffic_aware``: on NoCs of up to :data:`MAX_PLACEMENT_ROUTERS` routers, starting
from in-order, move tiles (swapping with a router's tile, or to a free router) while that lowers
the hop-weighted traffic ``sum bits(t -> t') x hops(node(t), node(t'))``; on larger ones, lay
the tiles along a space-filling curve and make bounded local moves (rule: :func:`place_tiles`).
Both are deterministic and never worse than in-order. Hop counts come from
:class:`HopDistances`, computed for the pairs asked about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

import numpy as np

from archsim.errors import MappingError
from archsim.mapping.placement import NetworkMapping

if TYPE_CHECKING:
    from archsim.workload.trace import LayerSpec, NetworkSpec

__all__ = [
    "IO",
    "MAX_PLACEMENT_ROUTERS",
    "Flow",
    "HopDistances",
    "Traffic",
    "TrafficMatrix",
    "hop_weighted_traffic",
    "network_traffic",
    "place_tiles",
]

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


@dataclass(frozen=True, eq=False)
class TrafficMatrix:
    """Bits per sample between tiles: a ``tiles x tiles`` matrix kept sparse, as its nonzero
    entries off the diagonal (coordinate arrays, int64, read-only), sorted by ``(src, dst)``,
    each pair once. A tile's traffic to itself stays in its buffer and costs no hops, so it is
    not kept. Build it with :meth:`of` or :meth:`from_dense`.

    Attributes:
        tiles: the matrix's side (tiles ``0..tiles-1``).
        src, dst: the tiles of each entry (``src != dst``).
        bits: bits per sample from ``src`` to ``dst`` (> 0).
    """

    tiles: int
    src: np.ndarray
    dst: np.ndarray
    bits: np.ndarray

    @classmethod
    def of(
        cls, tiles: int, src: np.ndarray, dst: np.ndarray, bits: np.ndarray
    ) -> TrafficMatrix:
        """The matrix with ``bits[i]`` added at ``(src[i], dst[i])`` for every ``i`` (pairs
        named more than once are summed; zeros and the diagonal dropped)."""
        src = np.asarray(src, dtype=np.int64).reshape(-1)
        dst = np.asarray(dst, dtype=np.int64).reshape(-1)
        bits = np.asarray(bits, dtype=np.int64).reshape(-1)
        keep = (src != dst) & (bits != 0)
        key = src[keep] * tiles + dst[keep]
        order = np.argsort(key, kind="stable")
        key, bits = key[order], bits[keep][order]
        first = np.flatnonzero(np.diff(key, prepend=-1))
        sums = _segment_sums(bits, first)
        key = key[first]
        keep = sums != 0
        return cls(tiles, *(_frozen(a[keep]) for a in (key // tiles, key % tiles, sums)))

    @classmethod
    def from_dense(cls, matrix: np.ndarray) -> TrafficMatrix:
        """The sparse form of a dense ``T x T`` matrix of bits."""
        matrix = np.asarray(matrix)
        src, dst = np.nonzero(matrix)
        return cls.of(matrix.shape[0], src, dst, matrix[src, dst])

    def dense(self) -> np.ndarray:
        """The ``tiles x tiles`` matrix (int64); memory grows with the square of ``tiles``."""
        matrix = np.zeros((self.tiles, self.tiles), dtype=np.int64)
        matrix[self.src, self.dst] = self.bits
        return matrix


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _segment_sums(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the segments starting at the sorted indices ``first`` (each
    segment runs to the next start), exact in int64."""
    total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return total[np.append(first[1:], values.size)] - total[first]


@dataclass(frozen=True)
class Traffic:
    """The activation traffic of one sample of a mapped network.

    Attributes:
        flows: per edge ``(input layer, matrix layer)`` of the network, the flows along it.
        shares: per layer (matrix or digital), the tiles its work runs on and the fraction of it
            on each, ``((tile, fraction), ...)`` in tile order; layers fed only by the network
            input run on tile 0.
        matrix: bits per sample between tiles, a sparse ``tile_span x tile_span`` matrix (all
            edges but those from the I/O port).
        chunk_index_bits: header bits naming a routed block among its core's routes (0 with no
            routed layer).
    """

    flows: Mapping[tuple[str, str], tuple[Flow, ...]]
    shares: Mapping[str, tuple[tuple[int, float], ...]]
    matrix: TrafficMatrix
    chunk_index_bits: int = 0


def _output_shares(mapping: NetworkMapping, layer: str) -> dict[int, float]:
    lm = mapping.layers[layer]
    layout = lm.layout
    shares: dict[int, float] = {}
    for placed in lm.output_groups:
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
    for placed in lm.input_groups:
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
    for placed in lm.output_groups:
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
) -> list[tuple[np.ndarray, tuple[int, ...]]] | None:
    """Which of the ``size`` input elements each tile's crossbars read, as ``(elements,
    tiles)`` pairs: the indices (ascending) and the tiles, in ascending order, that read
    exactly those. A dense layer's row block reads those inputs (its one vector goes to copy
    0); a conv's row block ``(kh, kw, c)`` entries read, for each output pixel its copy
    computes, the input pixels under those kernel offsets, in those channels (zero padding
    reads nothing). Tiles holding the same row blocks of the same copies read the same
    elements, so the work follows a layer's distinct row blocks, not its tiles."""
    lm = mapping.layers[layer.name]
    layout = lm.layout
    held: dict[int, set[tuple[int, int, int]]] = {}  # tile -> {(copy, row_start, row_stop)}
    for placed in lm.input_groups:
        for index, crossbar in zip(placed.crossbars, placed.layouts):
            for slot in crossbar.slots:
                if layer.kind != "dense" or slot.copy == 0:
                    held.setdefault(mapping.crossbar_tile[index], set()).add(
                        (slot.copy, slot.row_start, slot.row_stop)
                    )
    if layer.kind == "dense":
        if size != layout.rows:
            return None
        reads = _dense_reads
    else:
        if len(layer.in_shape) != 3 or len(layer.out_shape) != 3 or len(layer.kernel) != 2:
            return None
        kh, kw = layer.kernel
        if size != math.prod(layer.in_shape) or layout.rows != kh * kw * layer.in_shape[2]:
            return None
        reads = _conv_reads
    readers: dict[frozenset[tuple[int, int, int]], list[int]] = {}
    for tile in sorted(held):
        readers.setdefault(frozenset(held[tile]), []).append(tile)
    return [
        (np.flatnonzero(reads(layer, layout.copies, size, blocks)), tuple(tiles))
        for blocks, tiles in readers.items()
    ]


def _dense_reads(
    layer: LayerSpec, copies: int, size: int, blocks: frozenset[tuple[int, int, int]]
) -> np.ndarray:
    """The mask of a dense layer's inputs read by row blocks ``(copy, start, stop)`` (the
    layer and its copies do not matter: the signature is :func:`_conv_reads`')."""
    mask = np.zeros(size, dtype=bool)
    for _, start, stop in blocks:
        mask[start:stop] = True
    return mask


def _conv_reads(
    layer: LayerSpec, copies: int, size: int, blocks: frozenset[tuple[int, int, int]]
) -> np.ndarray:
    """The mask (HWC order, flattened) of a conv's input pixels and channels read by row
    blocks ``(copy, start, stop)`` of its im2col rows, for the output pixels of each copy."""
    h, w, c = layer.in_shape
    ho, wo, _ = layer.out_shape
    kh, kw = layer.kernel
    positions = np.arange(ho * wo)
    mask = np.zeros((h, w, c), dtype=bool)
    for copy, start, stop in blocks:
        mine = positions[positions % copies == copy]
        oy, ox = mine // wo * layer.stride, mine % wo * layer.stride
        for offset in range(kh * kw):
            base = offset * c
            c0, c1 = max(start, base) - base, min(stop, base + c) - base
            if c0 >= c1:
                continue
            iy = oy + offset // kw - layer.padding
            ix = ox + offset % kw - layer.padding
            ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            mask[iy[ok], ix[ok], c0:c1] = True
    return mask.reshape(-1)


def network_traffic(
    network: NetworkSpec, mapping: NetworkMapping, input_node: int | None = None
) -> Traffic:
    """The flows, work shares and tile-to-tile traffic matrix of ``network`` as ``mapping``
    places it; with ``input_node``, also the network input's flows from the I/O port (rules:
    module docstring)."""
    by_name = {layer.name: layer for layer in network.layers}
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
            counts = np.bincount(owner)
            shares[layer.name] = {
                t: float(counts[t]) / owner.size for t in np.flatnonzero(counts).tolist()
            }
            continue
        merged: dict[int, float] = {}
        for producer in upstream:
            for tile, part in shares[producer].items():
                merged[tile] = merged.get(tile, 0.0) + part / len(upstream)
        shares[layer.name] = merged or {0: 1.0}
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
                edge = _exact_edge(
                    mapping, layer, by_name[source], owners[source], network.act_bits
                )
                if edge is None:
                    edge = _proportional_edge(
                        mapping, layer, by_name[source], producers[source], shares,
                        network.act_bits,
                    )
                edges[source] = [
                    Flow(src, dst, bits) for (src, dst), bits in sorted(edge.items()) if bits > 0
                ]
        for source, edge_flows in edges.items():
            flows[(source, layer.name)] = tuple(edge_flows)
    between = [flow for edge_flows in flows.values() for flow in edge_flows if flow.src != IO]
    matrix = TrafficMatrix.of(
        mapping.tile_span,
        np.fromiter((flow.src for flow in between), np.int64, len(between)),
        np.fromiter((flow.dst for flow in between), np.int64, len(between)),
        np.fromiter((flow.bits for flow in between), np.int64, len(between)),
    )
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
        counts = {tile: reads.size for reads, tiles in needed for tile in tiles}
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
    edge: dict[tuple[int, int], int] = {}
    for reads, tiles in needed:
        producers, counts = (part.tolist() for part in np.unique(owner[reads], return_counts=True))
        for dst in tiles:
            for src, n in zip(producers, counts):
                if src != dst:
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
                    amount = total * part * wanted / len(upstream)
                    edge[(src, dst)] = edge.get((src, dst), 0.0) + amount
    return {key: round(amount) for key, amount in edge.items()}


class HopDistances(Protocol):
    """Links on the NoC's route between routers, for any pairs
    (:class:`archsim.hw.noc.topology.HopCounts` computes them from the topology)."""

    @property
    def nodes(self) -> int:
        """Routers, numbered ``0..nodes-1``."""

    def between(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Links from each ``src`` router to the ``dst`` router beside it (int64; the arrays
        broadcast against each other)."""


@dataclass(frozen=True, eq=False)
class _HopTable:
    """A dense ``N x N`` hop table as :class:`HopDistances`."""

    table: np.ndarray

    @property
    def nodes(self) -> int:
        return int(self.table.shape[0])

    def between(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return self.table[src, dst]


def _sparse(matrix: TrafficMatrix | np.ndarray) -> TrafficMatrix:
    return matrix if isinstance(matrix, TrafficMatrix) else TrafficMatrix.from_dense(matrix)


def _distances(hops: HopDistances | np.ndarray) -> HopDistances:
    return _HopTable(np.asarray(hops)) if isinstance(hops, np.ndarray) else hops


def hop_weighted_traffic(
    matrix: TrafficMatrix | np.ndarray,
    hops: HopDistances | np.ndarray,
    nodes: Sequence[int],
) -> int:
    """``sum bits(t -> t') x hops(nodes[t], nodes[t'])`` in bit-hops per sample, over the
    matrix's entries (a dense matrix or hop table is taken as well)."""
    traffic = _sparse(matrix)
    where = np.asarray(nodes, dtype=np.int64)
    links = _distances(hops).between(where[traffic.src], where[traffic.dst])
    return int((traffic.bits * links).sum())


#: Routers up to which the traffic-aware placement searches all moves (it keeps an N x N hop
#: table and makes O(T x N) work per tile move); larger NoCs are placed along a space-filling
#: curve and improved by bounded local moves.
MAX_PLACEMENT_ROUTERS = 1024

#: Passes of local moves the placement of a large NoC makes at most.
_CURVE_PASSES = 3

#: A tile's partners (heaviest first) near which the placement of a large NoC tries to put it.
_CURVE_PARTNERS = 8

#: Positions along the curve, around each such partner's router, tried for the tile.
_CURVE_WINDOW = np.arange(-4, 5)


def place_tiles(
    matrix: TrafficMatrix | np.ndarray,
    hops: HopDistances | np.ndarray,
    policy: str,
    curve: np.ndarray | None = None,
) -> tuple[int, ...]:
    """The NoC router of each tile in use, by ``policy`` (``in_order`` or ``traffic_aware``).

    ``matrix`` is the ``T x T`` traffic in bits, ``hops`` the hop counts of the routing between
    all ``N >= T`` routers (on demand, or a dense ``N x N`` table), ``curve`` the routers in an
    order that keeps consecutive ones close (the topology's ``space_filling_order``), needed
    by ``traffic_aware`` above :data:`MAX_PLACEMENT_ROUTERS` routers. Traffic-aware placement
    never has more hop-weighted traffic than in-order, and is deterministic:

    * up to :data:`MAX_PLACEMENT_ROUTERS` routers it starts from in-order and, tile by tile,
      takes the move (a swap with another router's tile, or to a free router) that lowers the
      bit-hops most, until a pass finds none (at most ``_MAX_PASSES`` passes);
    * above, tile ``i`` goes on the ``i``-th router along ``curve`` (tiles are numbered layer
      by layer, so a layer's tiles, and the layers that talk, land in compact blocks); then,
      for at most ``_CURVE_PASSES`` passes, each tile takes the best improving move among the
      routers within ``_CURVE_WINDOW`` of its ``_CURVE_PARTNERS`` heaviest partners' routers
      along the curve (a swap with their tiles, or a free router); the result is kept if its
      bit-hops are below in-order's. The work is
      ``O(passes x T x partners x window x degree)``, never ``N x N``.

    Raises :class:`MappingError` when the NoC has fewer routers than tiles in use, or, for
    ``traffic_aware``, more than :data:`MAX_PLACEMENT_ROUTERS` and no ``curve``.
    """
    traffic, distances = _sparse(matrix), _distances(hops)
    tiles, nodes = traffic.tiles, distances.nodes
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
        if curve is None:
            raise MappingError(
                f"mapping.placement: traffic_aware searches NoCs of up to "
                f"{MAX_PLACEMENT_ROUTERS} routers, and places larger meshes, tori, rings and "
                f"trees along a space-filling curve; this NoC has {nodes} routers and no "
                "such curve; use in_order"
            )
        return _place_along(traffic, distances, np.asarray(curve, dtype=np.int64))
    if isinstance(hops, np.ndarray):
        table = hops
    else:
        routers = np.arange(nodes, dtype=np.int64)
        table = distances.between(routers[:, None], routers[None, :])
    return _search(matrix if isinstance(matrix, np.ndarray) else traffic.dense(), table)


def _search(matrix: np.ndarray, hops: np.ndarray) -> tuple[int, ...]:
    """Traffic-aware placement on a small NoC (rule: :func:`place_tiles`): ``matrix`` the
    dense ``T x T`` traffic, ``hops`` the dense ``N x N`` table."""
    tiles, nodes = matrix.shape[0], hops.shape[0]
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


def _place_along(
    traffic: TrafficMatrix, hops: HopDistances, curve: np.ndarray
) -> tuple[int, ...]:
    """Traffic-aware placement on a large NoC (rule: :func:`place_tiles`)."""
    tiles = traffic.tiles
    in_order = np.arange(tiles, dtype=np.int64)
    where = _improve(traffic, hops, curve, curve[:tiles].copy())
    if _bit_hops(traffic, hops, where) >= _bit_hops(traffic, hops, in_order):
        where = in_order
    return tuple(where.tolist())


def _bit_hops(traffic: TrafficMatrix, hops: HopDistances, where: np.ndarray) -> int:
    return int((traffic.bits * hops.between(where[traffic.src], where[traffic.dst])).sum())


@dataclass(frozen=True, eq=False)
class _Partners:
    """Each tile's partners in ``W = M + M^T``: tile ``t``'s are ``partner[start[t]:
    start[t + 1]]`` (ascending), with the bits ``weight`` exchanged both ways."""

    start: np.ndarray
    partner: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, traffic: TrafficMatrix) -> _Partners:
        both = TrafficMatrix.of(
            traffic.tiles, np.concatenate((traffic.src, traffic.dst)),
            np.concatenate((traffic.dst, traffic.src)),
            np.concatenate((traffic.bits, traffic.bits)),
        )
        return cls(np.searchsorted(both.src, np.arange(traffic.tiles + 1)), both.dst, both.bits)

    def entries(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The indices into ``partner`` of each of ``tiles``' partners, one tile after the
        other, and how many each has."""
        counts = self.start[tiles + 1] - self.start[tiles]
        first = np.cumsum(counts) - counts  # where each tile's run begins among the entries
        entries = np.repeat(self.start[tiles] - first, counts) + np.arange(counts.sum())
        return entries, counts


def _improve(
    traffic: TrafficMatrix, hops: HopDistances, curve: np.ndarray, where: np.ndarray
) -> np.ndarray:
    """``where`` (the router of each tile) after at most ``_CURVE_PASSES`` passes of the best
    improving move per tile among routers near its heaviest partners along ``curve``."""
    tiles, nodes = traffic.tiles, hops.nodes
    partners = _Partners.of(traffic)
    position = np.empty(nodes, dtype=np.int64)
    position[curve] = np.arange(nodes)
    slots = np.full(nodes, -1, dtype=np.int64)
    slots[where] = np.arange(tiles)
    for _ in range(_CURVE_PASSES):
        moved = False
        for tile in np.flatnonzero(np.diff(partners.start)).tolist():
            span = slice(partners.start[tile], partners.start[tile + 1])
            heaviest = np.argsort(-partners.weight[span], kind="stable")[:_CURVE_PARTNERS]
            there = where[partners.partner[span][heaviest]]
            near = (position[there][:, None] + _CURVE_WINDOW).reshape(-1)
            routers = np.unique(curve[near[(near >= 0) & (near < nodes)]])
            routers = routers[routers != where[tile]]
            if not routers.size:
                continue
            gain = _gains(partners, where, slots, tile, routers, hops)
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                continue
            here, target = int(where[tile]), int(routers[best])
            other = int(slots[target])
            if other >= 0:
                where[other] = here
            slots[here], slots[target] = other, tile
            where[tile] = target
            moved = True
        if not moved:
            break
    return where


def _gains(
    partners: _Partners,
    where: np.ndarray,
    slots: np.ndarray,
    tile: int,
    routers: np.ndarray,
    hops: HopDistances,
) -> np.ndarray:
    """Bit-hops saved (int64, exact) by moving ``tile`` to each of ``routers``, swapping with
    the tile there if any; every hop count needed is asked for in one call.

    With ``P`` the placement, moving tile ``t`` from router ``h`` to ``n`` saves ``sum_p
    W[t, p] (H[h, P_p] - H[n, P_p])``; when tile ``o`` on ``n`` takes ``h``, add ``sum_q W[o,
    q] (H[n, P_q] - H[h, P_q])`` less ``2 W[t, o] H[h, n]`` (both sums counted the pair ``(t,
    o)``, whose distance the swap keeps).
    """
    here = int(where[tile])
    span = slice(partners.start[tile], partners.start[tile + 1])
    mates, mine = partners.partner[span], partners.weight[span]
    there = where[mates]
    held = np.flatnonzero(slots[routers] >= 0)
    others, taken = slots[routers[held]], routers[held]
    entries, counts = partners.entries(others)
    theirs = where[partners.partner[entries]]  # the routers of the other tiles' partners
    k, d, e = routers.size, there.size, theirs.size
    links = hops.between(
        np.concatenate((np.repeat(routers, d), np.repeat(taken, counts),
                        np.full(d + e + taken.size, here))),
        np.concatenate((np.tile(there, k), theirs, there, theirs, taken)),
    )
    moved, swapped, now, before, apart = np.split(links, np.cumsum((k * d, e, d, e)))
    gain = int(now @ mine) - moved.reshape(k, d) @ mine
    saved = np.concatenate(([0], np.cumsum(partners.weight[entries] * (swapped - before))))
    ends = np.cumsum(counts)
    shared = np.zeros(others.size, dtype=np.int64)  # W[t, o]
    index = np.searchsorted(mates, others)
    found = index < mates.size
    found[found] = mates[index[found]] == others[found]
    shared[found] = mine[index[found]]
    gain[held] += saved[ends] - saved[ends - counts] - 2 * shared * apart
    return gain
