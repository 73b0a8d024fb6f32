"""Deterministic routing: valid, minimal, dimension-ordered, destination-consistent, cached."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_strategies import connected_edge_lists

from archsim.config.loader import build
from archsim.config.schema import NocConfig
from archsim.hw.noc.routing import Routing
from archsim.hw.noc.topology import Topology, build_topology

BASE = build(NocConfig, {
    "topology": "mesh", "dims": [2, 2], "router_cycles": 2, "buffer_flits": 16,
    "link_width_bits": 32, "link_cycles": 1, "link_length_m": "1mm",
    "flow_control": "virtual_cut_through", "energy": {"router": "1pJ", "link_bit_mm": "40fJ"},
})


def config(kind: str, dims=(), edges=()) -> NocConfig:
    return replace(BASE, topology=kind, dims=tuple(dims), edges=tuple(edges))


def routing(kind: str, dims=(), edges=()) -> Routing:
    return Routing(build_topology(config(kind, dims, edges)))


def check_all_pairs(r: Routing) -> None:
    """Every route is a path of the graph, as short as a shortest path, with matching link
    ids, and every suffix of it is the route from its first router (destination-consistent)."""
    t: Topology = r.topology
    distance = dict(nx.all_pairs_shortest_path_length(t.graph))
    for src in range(t.nodes):
        for dst in range(t.nodes):
            path = r.route(src, dst)
            assert path[0] == src and path[-1] == dst
            assert len(path) - 1 == distance[src][dst] == r.hops(src, dst)
            assert all(t.graph.has_edge(u, v) for u, v in zip(path, path[1:]))
            assert r.links(src, dst) == tuple(t.link_index[hop] for hop in zip(path, path[1:]))
            if len(path) > 1:
                assert r.route(path[1], dst) == path[1:]


def grids(largest: int) -> list[tuple[int, int]]:
    return [(x, y) for x in range(1, largest + 1) for y in range(1, largest + 1) if x * y > 1]


# --------------------------------------------------------------------------------------------
# Minimal, valid routes on every topology
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", grids(8))
def test_mesh_routes_are_minimal_paths(dims):
    check_all_pairs(routing("mesh", dims))


@pytest.mark.parametrize("dims", grids(6))
def test_torus_routes_are_minimal_paths(dims):
    check_all_pairs(routing("torus", dims))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9])
def test_ring_routes_are_minimal_paths(n):
    check_all_pairs(routing("ring", (n,)))


@pytest.mark.parametrize("dims", [(2, 1), (2, 3), (3, 2), (4, 2)])
def test_tree_routes_are_the_unique_tree_paths(dims):
    r = routing("tree", dims)
    check_all_pairs(r)
    for src in range(r.topology.nodes):
        for dst in range(r.topology.nodes):
            assert r.route(src, dst) == tuple(nx.shortest_path(r.topology.graph, src, dst))


@settings(max_examples=100, deadline=None)
@given(edges=connected_edge_lists())
def test_edge_list_routes_are_minimal_paths(edges):
    check_all_pairs(routing("edges", edges=edges))


@settings(max_examples=50, deadline=None)
@given(edges=connected_edge_lists(), data=st.data())
def test_edge_list_routes_ignore_listed_order_and_orientation(edges, data):
    shuffled = data.draw(st.permutations(edges))
    flipped = [(v, u) for u, v in shuffled]
    a, b = routing("edges", edges=edges), routing("edges", edges=flipped)
    nodes = a.topology.nodes
    assert all(a.route(s, d) == b.route(s, d) for s in range(nodes) for d in range(nodes))


def test_edge_list_ties_go_to_the_lowest_next_hop():
    """A square 0-1-3-2-0: both ways from 0 to 3 are two hops; 0's next hop towards 3 is the
    neighbour that 3's breadth-first search reaches first, scanning 3's neighbours 1 then 2."""
    r = routing("edges", edges=((0, 1), (1, 3), (3, 2), (2, 0)))
    assert r.route(0, 3) == (0, 1, 3)
    assert r.route(3, 0) == (3, 1, 0)
    assert r.route(1, 2) == (1, 0, 2)


# --------------------------------------------------------------------------------------------
# Dimension order and tie-breaking
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mesh", "torus"])
@pytest.mark.parametrize("dims", [(8, 8), (5, 3), (4, 6)])
def test_dimension_order_moves_in_x_first(kind, dims):
    """The dimension each hop moves in never decreases along a route: all x hops, then y."""
    r = routing(kind, dims)
    coords = r.topology.coords
    for src in range(r.topology.nodes):
        for dst in range(r.topology.nodes):
            path = r.route(src, dst)
            moved = [
                [i for i, (a, b) in enumerate(zip(coords[u], coords[v])) if a != b]
                for u, v in zip(path, path[1:])
            ]
            assert all(len(m) == 1 for m in moved)
            assert [m[0] for m in moved] == sorted(m[0] for m in moved)


def test_mesh_xy_route_example():
    r = routing("mesh", (4, 4))
    assert r.route(0, 15) == (0, 1, 2, 3, 7, 11, 15)
    assert r.route(15, 0) == (15, 14, 13, 12, 8, 4, 0)
    assert r.route(13, 6) == (13, 14, 10, 6)


def test_torus_takes_the_shorter_way_and_breaks_ties_upwards():
    r = routing("torus", (4, 5))
    assert r.route(0, 3) == (0, 3)            # x: -1 (1 hop) beats +3
    assert r.route(0, 2) == (0, 1, 2)         # x: a tie (2 either way) goes +
    assert r.route(2, 0) == (2, 3, 0)         # ... also from the other side
    assert r.route(0, 16) == (0, 16)          # y: -1 with wrap (0 -> row 4)
    assert r.route(0, 18) == (0, 1, 2, 18)    # x tie +, then y -1


def test_ring_takes_the_shorter_way_and_breaks_ties_upwards():
    r = routing("ring", (6,))
    assert r.route(1, 5) == (1, 0, 5)
    assert r.route(1, 4) == (1, 2, 3, 4)
    assert r.route(4, 1) == (4, 5, 0, 1)
    assert routing("ring", (2,)).route(1, 0) == (1, 0)


# --------------------------------------------------------------------------------------------
# Determinism, caching, bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, dims, edges", [
    ("mesh", (5, 4), ()), ("torus", (4, 4), ()), ("ring", (7,), ()), ("tree", (3, 2), ()),
    ("edges", (), ((0, 1), (1, 2), (2, 3), (3, 0), (1, 4), (4, 5), (5, 2), (0, 6))),
])
def test_equal_configs_give_identical_routes(kind, dims, edges):
    a, b = routing(kind, dims, edges), routing(kind, dims, edges)
    nodes = a.topology.nodes
    pairs = [(s, d) for s in range(nodes) for d in range(nodes)]
    # ask the second in a different order: routes must not depend on the order of queries
    assert [a.route(s, d) for s, d in pairs] == [b.route(s, d) for s, d in reversed(pairs)][::-1]
    assert [a.links(s, d) for s, d in pairs] == [b.links(s, d) for s, d in pairs]


@pytest.mark.parametrize("kind, dims", [("mesh", (3, 3)), ("tree", (2, 2))])
def test_route_to_self_is_the_router_alone(kind, dims):
    r = routing(kind, dims)
    for node in range(r.topology.nodes):
        assert r.route(node, node) == (node,)
        assert r.links(node, node) == ()
        assert r.hops(node, node) == 0


@pytest.mark.parametrize("kind, dims, edges", [
    ("mesh", (4, 3), ()), ("torus", (5, 4), ()), ("ring", (7,), ()), ("tree", (3, 2), ()),
    ("edges", (), ((0, 1), (1, 2), (2, 3), (3, 0), (2, 4))),
])
def test_next_hops_follow_the_routes(kind, dims, edges):
    r = routing(kind, dims, edges)
    for dst in range(r.topology.nodes):
        towards = r.next_hops(dst)
        assert set(towards) == set(range(r.topology.nodes)) - {dst}
        assert all(towards[src] == r.route(src, dst)[1] for src in towards)
    with pytest.raises(ValueError, match="dst"):
        r.next_hops(r.topology.nodes)


def test_routes_are_cached():
    r = routing("mesh", (4, 4))
    assert r.route(0, 15) is r.route(0, 15)
    assert r.links(0, 15) is r.links(0, 15)


def test_numpy_router_ids_give_plain_int_routes():
    r = routing("torus", (4, 4))
    path = r.route(np.int64(0), np.int64(10))
    assert path == r.route(0, 10)
    assert all(type(node) is int for node in path)


@pytest.mark.parametrize("src, dst, message", [
    (0, 16, "dst: a router id must be in 0..15, got 16"),
    (-1, 3, "src: a router id must be in 0..15, got -1"),
    (1.0, 3, "src: a router id must be an integer, got 1.0"),
])
def test_bad_router_ids(src, dst, message):
    r = routing("mesh", (4, 4))
    with pytest.raises(ValueError) as error:
        r.route(src, dst)
    assert str(error.value) == message
