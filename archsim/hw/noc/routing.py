"""Deterministic, minimal routing on a NoC topology (stage: hw).

:class:`Routing` gives every (source, destination) pair one fixed route, chosen by a rule that
depends only on the topology:

* ``mesh``: dimension order (XY): all x steps first, then all y steps.
* ``torus``: dimension order, x then y; in each dimension the shorter way around, ``+`` (the
  direction of growing coordinate) when both ways are equally long.
* ``ring``: the shorter way around, ``+`` on a tie.
* ``tree`` and ``edges``: the path in the breadth-first tree rooted at the *destination*, built
  by :func:`networkx.bfs_predecessors` with neighbours visited in ascending id order: each
  router's next hop towards a destination is the neighbour that first reached it in that
  search. These are shortest paths, and they are what per-router routing tables would give.

All routes are minimal (as many links as a shortest path) and destination-consistent: the part of
a route after any router is that router's own route to the same destination.

Routes are computed on first use and cached per pair, so after the first call :meth:`Routing.route`
and :meth:`Routing.links` cost one dictionary lookup.
"""

from __future__ import annotations

import operator
from types import MappingProxyType
from typing import Callable, Mapping

from archsim.hw.noc.topology import Topology

__all__ = ["Routing"]


class _Table(dict[tuple[int, int], tuple[int, ...]]):
    """A dict keyed ``(src, dst)`` that fills a missing entry by calling ``compute``.

    A hit is a plain dict lookup; ``__missing__`` only runs on the first use of a pair.
    """

    __slots__ = ("_compute",)

    def __init__(self, compute: Callable[[int, int], tuple[int, ...]]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: tuple[int, int]) -> tuple[int, ...]:
        value = self._compute(*key)
        self[key] = value
        return value


class Routing:
    """The deterministic route of every pair of routers of ``topology`` (rule: module docstring).

    Node ids and link ids are those of :class:`~archsim.hw.noc.topology.Topology`. A route's
    hop count is the number of links on it; a packet from a router to itself has none.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._routes = _Table(self._compute_route)
        self._links = _Table(self._compute_links)
        #: next hop towards a destination, by destination (tree and edges topologies)
        self._next: dict[int, dict[int, int]] = {}
        kind = topology.kind
        if kind in ("mesh", "torus", "ring"):
            self._sizes = topology.dims
            self._wrap = kind != "mesh"
            self._step = self._cube_route
        else:
            self._step = self._table_route

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """The routers visited from ``src`` to ``dst``, both included (``(src,)`` if equal)."""
        return self._routes[src, dst]

    def links(self, src: int, dst: int) -> tuple[int, ...]:
        """The ids of the links taken from ``src`` to ``dst``, in order (empty if equal)."""
        return self._links[src, dst]

    def hops(self, src: int, dst: int) -> int:
        """The number of links from ``src`` to ``dst``."""
        return len(self._links[src, dst])

    def next_hops(self, dst: int) -> Mapping[int, int]:
        """Every other router's next hop towards ``dst``, by router (read-only).

        The same rule as :meth:`route` (``route(u, dst)[1] == next_hops(dst)[u]``); on trees
        and edge lists it is the breadth-first table, computed once per destination.
        """
        dst = self._node("dst", dst)
        if self.topology.kind not in ("mesh", "torus", "ring"):
            return MappingProxyType(self._table(dst))
        return MappingProxyType({
            node: self._cube_route(node, dst)[1]
            for node in range(self.topology.nodes) if node != dst
        })

    # ----------------------------------------------------------------------------------------

    def _node(self, name: str, node: int) -> int:
        """``node`` as a plain int, or ValueError naming ``name`` if it is no router id."""
        nodes = self.topology.nodes
        try:
            node = operator.index(node)
        except TypeError:
            raise ValueError(f"{name}: a router id must be an integer, got {node!r}") from None
        if not 0 <= node < nodes:
            raise ValueError(f"{name}: a router id must be in 0..{nodes - 1}, got {node}")
        return node

    def _compute_route(self, src: int, dst: int) -> tuple[int, ...]:
        return tuple(self._step(self._node("src", src), self._node("dst", dst)))

    def _compute_links(self, src: int, dst: int) -> tuple[int, ...]:
        path = self._routes[src, dst]
        index = self.topology.link_index
        return tuple(index[hop] for hop in zip(path, path[1:]))

    def _cube_route(self, src: int, dst: int) -> list[int]:
        """Dimension-order route on a mesh, torus or ring (first dimension first)."""
        path = [src]
        node, stride = src, 1
        for size in self._sizes:
            here = (src // stride) % size
            there = (dst // stride) % size
            if self._wrap:
                forward = (there - here) % size
                step, count = (1, forward) if forward <= size - forward else (-1, size - forward)
            else:
                step, count = (1, there - here) if there >= here else (-1, here - there)
            for _ in range(count):
                after = (here + step) % size
                node += (after - here) * stride
                here = after
                path.append(node)
            stride *= size
        return path

    def _table(self, dst: int) -> dict[int, int]:
        """The next-hop table of ``dst``'s breadth-first tree (cached)."""
        import networkx as nx  # imported when a NoC is built
        towards = self._next.get(dst)
        if towards is None:
            # In the breadth-first tree from dst (the graph has both directions of every link),
            # a node's predecessor is its neighbour one hop closer to dst.
            towards = dict(
                nx.bfs_predecessors(self.topology.graph, dst, sort_neighbors=sorted)
            )
            self._next[dst] = towards
        return towards

    def _table_route(self, src: int, dst: int) -> list[int]:
        """Follow the next-hop table of ``dst``'s breadth-first tree from ``src``."""
        towards = self._table(dst)
        path = [src]
        node = src
        while node != dst:
            node = towards[node]
            path.append(node)
        return path
