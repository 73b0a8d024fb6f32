"""Network-on-chip topologies (stage: hw).

:func:`build_topology` turns a :class:`~archsim.config.schema.NocConfig` into a
:class:`Topology`: the routers, the directed links between them and the numbers derived from the
shape (diameter, bisection). Every node is one router with one endpoint (tile) attached.

Numbering, fixed so that everything downstream (routing, link ids, statistics) is deterministic:

* ``mesh`` / ``torus`` ``[x, y]``: node ``n = x + X * y``, coordinates ``(x, y)``; links join
  nodes one step apart in one dimension, and in a torus also the two ends of each row and
  column (a dimension of size 2 has one link per pair, not two; one of size 1 has none).
* ``ring`` ``[n]``: nodes ``0..n-1`` in ring order, coordinates ``(i,)``.
* ``tree`` ``[arity, depth]``: a complete tree numbered breadth first, root 0; the children of
  node ``i`` are ``arity * i + 1 .. arity * i + arity``; coordinates ``(level, index in level)``.
  ``depth`` counts the levels below the root.
* ``edges``: the listed undirected pairs over nodes ``0..n-1``, ``n = 1 + max id``;
  coordinates ``(i,)``.

:class:`HopCounts` gives the links between any routers on demand (closed forms, or breadth-first
search on edge lists), and :func:`space_filling_order` an order of the routers that keeps
neighbours close (for placing tiles on large NoCs); :func:`hop_matrix` is the dense table.

Every physical link is two directed links, one per direction. ``Topology.links`` lists the
directed links in ascending ``(u, v)`` order, whatever order the config gave them in; a link's
id is its position there. The graph's nodes are inserted in ascending order and its edges in
link-id order, each edge carrying its id as the attribute ``link``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from archsim.config.schema import NocConfig
from archsim.errors import ConfigError
from archsim.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    import networkx as nx
    from scipy.sparse import csr_array

__all__ = [
    "MAX_NODES", "TOPOLOGIES", "HopCounts", "Topology", "build_topology", "hop_matrix",
    "space_filling_order",
]

#: Largest network a config may describe at all (routers are addressed by 16-bit ids); the
#: size budget ``Limits.routers`` is usually lower.
MAX_NODES = 1 << 16

#: The topology kinds :func:`build_topology` understands.
TOPOLOGIES = ("mesh", "torus", "ring", "tree", "edges")

#: How many unconnected or unused node ids an error message lists before it abbreviates.
_LISTED = 10


@dataclass(frozen=True)
class Topology:
    """The routers and directed links of a NoC, with numbers derived from its shape.

    Built by :func:`build_topology`; treat it as read-only (the graph is frozen).

    Attributes:
        kind: one of :data:`TOPOLOGIES`.
        dims: the shape from the config (``()`` for an edge list).
        nodes: number of routers, numbered ``0..nodes-1`` (one endpoint per router).
        graph: a frozen :class:`networkx.DiGraph` holding both directions of every link; edge
            attribute ``link`` is the link id. Excluded from equality and hashing.
        coords: per-node coordinates (see the module docstring).
        links: the directed links ``(u, v)`` in ascending order; a link id is an index here.
        link_index: ``(u, v)`` -> link id. Excluded from equality and hashing.
        bisection_links: directed links crossing the bisection of a mesh, torus or ring; None
            for trees and edge lists. The cut is the straight one through the middle of one
            dimension, the dimension chosen to cross the fewest links (Dally & Towles' channel
            bisection: 2N/k directed links for a k-ary mesh, 4N/k for a torus, 4 for a ring).
            It is the exact minimum bisection when the cut dimension has even size; for an
            odd size the two halves differ by one slice of N/k routers.
        diameter: the largest shortest-path distance between two routers, in links.
    """

    kind: str
    dims: tuple[int, ...]
    nodes: int
    graph: nx.DiGraph = field(repr=False, compare=False)
    coords: tuple[tuple[int, ...], ...] = field(repr=False)
    links: tuple[tuple[int, int], ...] = field(repr=False)
    link_index: Mapping[tuple[int, int], int] = field(repr=False, compare=False)
    bisection_links: int | None
    diameter: int


def build_topology(noc: NocConfig, limits: Limits = DEFAULT_LIMITS) -> Topology:
    """Build the topology that ``noc`` describes.

    Raises:
        ConfigError: the shape is invalid; the message names the field (``noc.dims``,
            ``noc.edges[i]`` or ``noc.topology``) and what was expected.
        LimitError: more routers than ``limits.routers`` (checked before anything is built).
    """
    import networkx as nx  # imported when a NoC is built
    kind = noc.topology
    dims = tuple(noc.dims)
    if kind not in TOPOLOGIES:
        raise ConfigError(f"noc.topology: expected one of {', '.join(TOPOLOGIES)}, got {kind!r}")
    if kind != "edges" and noc.edges:
        raise ConfigError(
            f"noc.edges: only an edges topology takes edges, got {len(noc.edges)} for a {kind}"
        )
    if kind in ("mesh", "torus"):
        sizes = _check_grid(kind, dims, limits)
        wrap = kind == "torus"
        return _assemble(
            kind, dims, _cube_coords(sizes), _cube_pairs(sizes, wrap),
            _cube_bisection(sizes, wrap), _cube_diameter(sizes, wrap),
        )
    if kind == "ring":
        sizes = _check_ring(dims, limits)
        return _assemble(
            kind, dims, _cube_coords(sizes), _cube_pairs(sizes, True),
            _cube_bisection(sizes, True), _cube_diameter(sizes, True),
        )
    if kind == "tree":
        arity, depth = _check_tree(dims, limits)
        coords, pairs = _tree(arity, depth)
        return _assemble(kind, dims, coords, pairs, None, 2 * depth)
    undirected = _check_edges(dims, noc.edges, limits)
    return _assemble(
        kind, dims, tuple((i,) for i in range(len(undirected))), undirected.edges, None,
        nx.diameter(undirected),
    )


# --------------------------------------------------------------------------------------------
# Shape checks
# --------------------------------------------------------------------------------------------


def _check_size(kind: str, dims: tuple[int, ...], nodes: int, limits: Limits) -> None:
    if nodes > MAX_NODES:
        raise ConfigError(f"noc.dims: at most {MAX_NODES} routers, got {list(dims)} ({nodes})")
    limits.check("routers", nodes, f"noc.dims: a {kind} of {list(dims)}")


def _check_grid(kind: str, dims: tuple[int, ...], limits: Limits) -> tuple[int, ...]:
    if len(dims) != 2:
        raise ConfigError(f"noc.dims: a {kind} takes [x, y], got {list(dims)}")
    if min(dims) < 1:
        raise ConfigError(f"noc.dims: a {kind}'s sizes must be >= 1, got {list(dims)}")
    nodes = dims[0] * dims[1]
    if nodes < 2:
        raise ConfigError(f"noc.dims: a {kind} needs at least 2 routers, got {list(dims)}")
    _check_size(kind, dims, nodes, limits)
    return dims


def _check_ring(dims: tuple[int, ...], limits: Limits) -> tuple[int, ...]:
    if len(dims) != 1:
        raise ConfigError(f"noc.dims: a ring takes [n], got {list(dims)}")
    if dims[0] < 2:
        raise ConfigError(f"noc.dims: a ring needs n >= 2, got {list(dims)}")
    _check_size("ring", dims, dims[0], limits)
    return dims


def _check_tree(dims: tuple[int, ...], limits: Limits) -> tuple[int, int]:
    if len(dims) != 2:
        raise ConfigError(f"noc.dims: a tree takes [arity, depth], got {list(dims)}")
    arity, depth = dims
    if arity < 2:
        raise ConfigError(f"noc.dims: a tree needs arity >= 2, got {list(dims)}")
    if depth < 1:
        raise ConfigError(f"noc.dims: a tree needs depth >= 1, got {list(dims)}")
    nodes, level = 1, 1
    for _ in range(depth):
        level *= arity
        nodes += level
        if nodes > MAX_NODES:  # stop before a huge depth makes the number itself expensive
            break
    _check_size("tree", dims, nodes, limits)
    return arity, depth


def _listed(ids: Sequence[int], predicate: str) -> str:
    """``"node 4 is <predicate>"`` or ``"nodes 4, 7 are <predicate>"``, abbreviated if long."""
    if len(ids) == 1:
        return f"node {ids[0]} is {predicate}"
    shown = ", ".join(str(i) for i in ids[:_LISTED])
    if len(ids) > _LISTED:
        shown += f", ... ({len(ids)} in all)"
    return f"nodes {shown} are {predicate}"


def _check_edges(
    dims: tuple[int, ...], edges: Iterable[Sequence[int]], limits: Limits
) -> nx.Graph:
    """Validate an edge list; return it as an undirected graph over nodes ``0..n-1``."""
    import networkx as nx  # imported when a NoC is built
    if dims:
        raise ConfigError(
            f"noc.dims: an edges topology takes no dims (noc.edges gives its shape), "
            f"got {list(dims)}"
        )
    pairs: list[tuple[int, int]] = []
    first: dict[tuple[int, int], int] = {}
    for i, edge in enumerate(edges):
        where = f"noc.edges[{i}]"
        if len(edge) != 2:
            raise ConfigError(f"{where}: a link is a pair of node ids, got {list(edge)}")
        u, v = edge
        if min(u, v) < 0:
            raise ConfigError(f"{where}: node ids must be >= 0, got {list(edge)}")
        if u == v:
            raise ConfigError(f"{where}: self loop on node {u}")
        pair = (min(u, v), max(u, v))
        if pair in first:
            raise ConfigError(
                f"{where}: duplicate of noc.edges[{first[pair]}] (link {pair[0]}-{pair[1]})"
            )
        first[pair] = i
        pairs.append(pair)
    if not pairs:
        raise ConfigError("noc.edges: an edges topology needs at least one link, got none")
    nodes = 1 + max(v for _, v in pairs)
    if nodes > MAX_NODES:
        raise ConfigError(f"noc.edges: at most {MAX_NODES} routers, got node id {nodes - 1}")
    limits.check("routers", nodes, f"noc.edges: an edge list over nodes 0..{nodes - 1}")
    used = {u for pair in pairs for u in pair}
    unused = [i for i in range(nodes) if i not in used]
    if unused:
        raise ConfigError(
            f"noc.edges: {_listed(unused, 'in no link')} "
            f"(ids must number the nodes 0..{nodes - 1})"
        )
    graph = nx.Graph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from(pairs)
    reached = nx.node_connected_component(graph, 0)
    if len(reached) < nodes:
        apart = [i for i in range(nodes) if i not in reached]
        raise ConfigError(f"noc.edges: {_listed(apart, 'not connected to node 0')}")
    return graph


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


def _cube_coords(sizes: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Coordinates of a mesh, torus or ring; the first dimension varies fastest."""
    coords = []
    for node in range(math.prod(sizes)):
        coord = []
        for size in sizes:
            node, position = divmod(node, size)
            coord.append(position)
        coords.append(tuple(coord))
    return tuple(coords)


def _cube_pairs(sizes: tuple[int, ...], wrap: bool) -> set[tuple[int, int]]:
    """Undirected links ``(u, v)``, ``u < v``, of a mesh (``wrap`` False) or torus/ring."""
    pairs = set()
    stride = 1
    nodes = math.prod(sizes)
    for size in sizes:
        for node in range(nodes):
            position = (node // stride) % size
            if position + 1 < size:
                pairs.add((node, node + stride))
            elif wrap and size > 2:  # size 2: the wrap link is the direct one; size 1: none
                pairs.add((node - position * stride, node))
        stride *= size
    return pairs


def _cube_bisection(sizes: tuple[int, ...], wrap: bool) -> int:
    """Directed links crossing the bisection of a mesh, torus or ring (rule: :class:`Topology`).

    A straight cut across a dimension of size ``k`` crosses ``2 x (N / k) x c`` directed links,
    ``c`` being the bidirectional links each line of that dimension contributes: 1 in a mesh or
    for ``k`` = 2, 2 in a ring or torus (the middle and the wrap-around).
    """
    nodes = math.prod(sizes)
    return min(
        2 * (nodes // size) * (2 if wrap and size > 2 else 1) for size in sizes if size >= 2
    )


def _cube_diameter(sizes: tuple[int, ...], wrap: bool) -> int:
    return sum(size // 2 if wrap else size - 1 for size in sizes)


def _tree(arity: int, depth: int) -> tuple[tuple[tuple[int, int], ...], list[tuple[int, int]]]:
    """Coordinates ``(level, index)`` and parent-child links of a complete tree."""
    coords: list[tuple[int, int]] = []
    width = 1
    for level in range(depth + 1):
        coords.extend((level, index) for index in range(width))
        width *= arity
    pairs = [((child - 1) // arity, child) for child in range(1, len(coords))]
    return tuple(coords), pairs


def _assemble(
    kind: str,
    dims: tuple[int, ...],
    coords: tuple[tuple[int, ...], ...],
    pairs: Iterable[tuple[int, int]],
    bisection: int | None,
    diameter: int,
) -> Topology:
    import networkx as nx  # imported when a NoC is built
    links = tuple(sorted({(u, v) for a, b in pairs for u, v in ((a, b), (b, a))}))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(coords)))
    graph.add_edges_from((u, v, {"link": i}) for i, (u, v) in enumerate(links))
    return Topology(
        kind=kind,
        dims=dims,
        nodes=len(coords),
        graph=nx.freeze(graph),
        coords=coords,
        links=links,
        link_index=MappingProxyType({link: i for i, link in enumerate(links)}),
        bisection_links=bisection,
        diameter=diameter,
    )


class HopCounts:
    """Links on the route between routers, for any pairs, computed when asked.

    Routing is minimal (:mod:`.routing`), so a route's links are the shortest-path distance,
    found without a table: closed forms on meshes, tori and rings (per dimension the distance,
    the shorter way round where links wrap, summed over dimensions) and on trees (up from both
    routers to their lowest common ancestor, whose level follows from the breadth-first
    numbering); breadth-first search on edge lists, from the distinct sources asked about
    only, a batch of sources at a time. Time and memory follow the pairs asked about, not
    ``nodes x nodes``; only :meth:`table` builds a dense table.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        #: edge lists: the links as a sparse matrix, built on first use
        self._adjacency: csr_array | None = None

    @property
    def nodes(self) -> int:
        """Routers in the NoC, numbered ``0..nodes-1``."""
        return self.topology.nodes

    def between(self, src: npt.ArrayLike, dst: npt.ArrayLike) -> np.ndarray:
        """Links from each ``src`` router to the ``dst`` router beside it (arrays broadcast
        against each other); int64, of the broadcast shape.

        Raises:
            ValueError: a router id is not in ``0..nodes-1``.
        """
        src, dst = np.broadcast_arrays(
            np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        )
        shape = src.shape
        src, dst = src.reshape(-1), dst.reshape(-1)
        for name, ids in (("src", src), ("dst", dst)):
            if ids.size and (ids.min() < 0 or ids.max() >= self.nodes):
                raise ValueError(f"{name}: router ids must be in 0..{self.nodes - 1}")
        kind = self.topology.kind
        if kind in ("mesh", "torus", "ring"):
            hops = self._cube(src, dst)
        elif kind == "tree":
            hops = self._tree(src, dst)
        else:
            hops = self._searched(src, dst)
        return hops.reshape(shape)

    def table(self, routers: int) -> np.ndarray:
        """Links between each pair of routers ``0..routers-1`` (int64, ``routers x
        routers``), filled a block of rows at a time. The caller checks the table's size
        against its budget (``Limits.hop_table_bytes``: 8 bytes per pair)."""
        table = np.empty((routers, routers), dtype=np.int64)
        columns = np.arange(routers, dtype=np.int64)
        rows = max(1, _TABLE_BLOCK // max(1, routers))
        for first in range(0, routers, rows):
            block = np.arange(first, min(routers, first + rows), dtype=np.int64)
            table[first:first + block.size] = self.between(block[:, None], columns[None, :])
        return table

    def _cube(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Meshes, tori and rings: per dimension ``|a - b|`` (the shorter way round where
        links wrap), summed; node ``n`` has coordinate ``(n // stride) % size``."""
        wrap = self.topology.kind != "mesh"
        hops = np.zeros(src.size, dtype=np.int64)
        stride = 1
        for size in self.topology.dims:
            delta = np.abs((src // stride) % size - (dst // stride) % size)
            hops += np.minimum(delta, size - delta) if wrap else delta
            stride *= size
        return hops

    def _tree(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Complete trees numbered breadth first: level ``l`` holds nodes ``first[l] ..
        first[l + 1] - 1``, and the ancestor ``k`` levels up of the node at index ``i`` in its
        level is at index ``i // arity^k``. Lift the deeper node to the other's level, then
        both a level at a time until they meet; every lift is one link."""
        arity, depth = self.topology.dims
        first = np.cumsum([0] + [arity**level for level in range(depth + 1)])
        levels = [np.searchsorted(first, ids, side="right") - 1 for ids in (src, dst)]
        index = [ids - first[level] for ids, level in zip((src, dst), levels)]
        common = np.minimum(*levels)
        hops = levels[0] - common + levels[1] - common
        a, b = (i // np.power(arity, level - common) for i, level in zip(index, levels))
        for _ in range(depth):
            apart = a != b
            if not apart.any():
                break
            hops += 2 * apart
            a, b = np.where(apart, a // arity, a), np.where(apart, b // arity, b)
        return hops.astype(np.int64)

    def _searched(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Edge lists: breadth-first search from each distinct source (a batch of sources at a
        time, so that memory stays at ``_TABLE_BLOCK`` distances)."""
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import shortest_path

        nodes = self.nodes
        if self._adjacency is None:
            links = np.asarray(self.topology.links, dtype=np.int64).reshape(-1, 2)
            self._adjacency = csr_array(
                (np.ones(len(links)), (links[:, 0], links[:, 1])), shape=(nodes, nodes)
            )
        sources, which = np.unique(src, return_inverse=True)
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(sources.size + 1))
        hops = np.empty(src.size, dtype=np.int64)
        batch = max(1, _TABLE_BLOCK // nodes)
        for start in range(0, sources.size, batch):
            stop = min(sources.size, start + batch)
            lengths = shortest_path(
                self._adjacency, directed=True, unweighted=True, indices=sources[start:stop]
            )
            pairs = order[bounds[start]:bounds[stop]]
            hops[pairs] = lengths[which[pairs] - start, dst[pairs]]
        return hops


#: Distances a dense table or a batch of breadth-first searches holds at once while being
#: built (32 MiB of int64).
_TABLE_BLOCK = 1 << 22


def hop_matrix(topology: Topology, routers: int) -> np.ndarray:
    """Links between each pair of routers ``0..routers-1`` (int64, ``routers x routers``):
    :meth:`HopCounts.table`. The caller checks the table's size against its budget (8 bytes
    per pair)."""
    return HopCounts(topology).table(routers)


def space_filling_order(topology: Topology) -> np.ndarray | None:
    """The routers in an order along which consecutive routers are near each other, so that
    tiles placed along it in order keep neighbouring tiles close (int64, a permutation of
    ``0..nodes-1``); None for an edge list, which has no such order here.

    * mesh and torus: the Hilbert curve (Hilbert 1891) of the smallest power-of-two square
      that covers the ``X x Y`` grid, keeping the routers inside it in the curve's order: any
      run of the curve covers a compact block, and consecutive routers are one link apart
      except where the curve leaves the grid and comes back;
    * ring: the ring order;
    * tree: depth-first preorder, children in id order (each subtree is one run).
    """
    kind = topology.kind
    if kind in ("mesh", "torus"):
        width, height = topology.dims
        x, y = _hilbert_cells(max(width, height))
        inside = (x < width) & (y < height)
        return (x[inside] + width * y[inside]).astype(np.int64)
    if kind == "ring":
        return np.arange(topology.nodes, dtype=np.int64)
    if kind == "tree":
        arity = topology.dims[0]
        order, stack = [], [0]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(
                child for child in range(arity * node + arity, arity * node, -1)
                if child < topology.nodes
            )
        return np.asarray(order, dtype=np.int64)
    return None


def _hilbert_cells(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The cells ``(x, y)`` of the ``n x n`` square, ``n`` the smallest power of two not below
    ``side``, in the order of the Hilbert curve through it (from ``(0, 0)`` to ``(n - 1, 0)``).

    Position ``d`` along the curve is read two bits at a time from the least significant
    pair: at each scale ``s = 1, 2, 4, ...`` the pair picks one of the four quadrants of a
    ``2s``-square (lower left, upper left, upper right, lower right), and the cell found so
    far within the ``s``-square is first turned to match that quadrant's orientation (the
    lower left one transposed, the lower right one transposed across the other diagonal).
    Vectorised over all cells."""
    n = 1
    while n < side:
        n *= 2
    d = np.arange(n * n, dtype=np.int64)
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    s = 1
    t = d.copy()
    while s < n:
        rx = (t >> 1) & 1
        ry = (t ^ rx) & 1
        # Turn the s-square's cell for this quadrant: when ry == 0, transpose, and mirror too
        # when rx == 1.
        turn = ry == 0
        mirror = turn & (rx == 1)
        x = np.where(mirror, s - 1 - x, x)
        y = np.where(mirror, s - 1 - y, y)
        x, y = np.where(turn, y, x), np.where(turn, x, y)
        x = x + s * rx
        y = y + s * ry
        t >>= 2
        s *= 2
    return x, y