"""NoC topologies: shapes, numbering, derived numbers and every config error."""

from __future__ import annotations

import itertools
from dataclasses import replace

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noc_strategies import connected_edge_lists

from archsim.config.loader import build
from archsim.config.schema import NocConfig
from archsim.errors import ConfigError
from archsim.hw.noc.topology import MAX_NODES, Topology, build_topology

BASE = build(NocConfig, {
    "topology": "mesh", "dims": [2, 2], "router_cycles": 2, "buffer_flits": 16,
    "link_width_bits": 32, "link_cycles": 1, "link_length_m": "1mm",
    "flow_control": "virtual_cut_through", "energy": {"router": "1pJ", "link_bit_mm": "40fJ"},
})


def topo(kind: str, dims=(), edges=()) -> Topology:
    return build_topology(replace(BASE, topology=kind, dims=tuple(dims), edges=tuple(edges)))


def check_invariants(t: Topology) -> None:
    """What every topology promises: numbering, symmetric links, ids, frozen graph, diameter."""
    assert list(t.graph.nodes) == list(range(t.nodes))
    assert len(t.coords) == t.nodes
    assert list(t.links) == sorted(t.links)
    assert list(t.graph.edges) == list(t.links)
    assert all(t.graph.edges[link]["link"] == i for i, link in enumerate(t.links))
    assert dict(t.link_index) == {link: i for i, link in enumerate(t.links)}
    assert all((v, u) in t.link_index and u != v for u, v in t.links)
    assert t.diameter == nx.diameter(t.graph)
    assert nx.is_frozen(t.graph)


def min_bisection(t: Topology) -> int:
    """Directed links across the best balanced split, by brute force (small graphs only)."""
    nodes = range(1, t.nodes)
    best = None
    for rest in itertools.combinations(nodes, t.nodes // 2 - 1):
        half = {0, *rest}
        crossing = sum((u in half) != (v in half) for u, v in t.links)
        best = crossing if best is None else min(best, crossing)
    return best


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


def shapes(largest: int) -> list[tuple[int, int]]:
    """Every [x, y] with sizes 1..largest, except the single router [1, 1]."""
    return [(x, y) for x in range(1, largest + 1) for y in range(1, largest + 1) if x * y > 1]


@pytest.mark.parametrize("x, y", shapes(8))
def test_mesh_shape(x, y):
    t = topo("mesh", (x, y))
    check_invariants(t)
    assert t.nodes == x * y
    assert all(node == cx + x * cy for node, (cx, cy) in enumerate(t.coords))
    assert len(t.links) == 2 * ((x - 1) * y + x * (y - 1))
    assert t.diameter == x - 1 + y - 1


@pytest.mark.parametrize("x, y", shapes(6))
def test_torus_shape_has_no_self_or_duplicate_links(x, y):
    t = topo("torus", (x, y))
    check_invariants(t)
    ring_degree = {1: 0, 2: 1}
    degree = ring_degree.get(x, 2) + ring_degree.get(y, 2)
    assert all(t.graph.out_degree(n) == degree for n in range(t.nodes))
    assert len(t.links) == t.nodes * degree
    assert t.diameter == x // 2 + y // 2


@pytest.mark.parametrize("n", [2, 3, 4, 7, 16])
def test_ring_shape(n):
    t = topo("ring", (n,))
    check_invariants(t)
    assert t.coords == tuple((i,) for i in range(n))
    assert set(t.links) == {(i, (i + d) % n) for i in range(n) for d in (1, -1)}
    assert t.diameter == n // 2


@pytest.mark.parametrize("arity, depth", [(2, 1), (2, 3), (3, 2), (4, 3)])
def test_tree_is_complete_and_numbered_breadth_first(arity, depth):
    t = topo("tree", (arity, depth))
    check_invariants(t)
    assert t.nodes == sum(arity**level for level in range(depth + 1))
    for node in range(1, t.nodes):
        parent = (node - 1) // arity
        assert (parent, node) in t.link_index and (node, parent) in t.link_index
    assert len(t.links) == 2 * (t.nodes - 1)
    levels = [level for level, _ in t.coords]
    assert levels == sorted(levels) and levels[-1] == depth
    assert t.coords[:arity + 1] == ((0, 0), *((1, i) for i in range(arity)))
    assert nx.is_tree(t.graph.to_undirected(as_view=True))
    assert t.bisection_links is None


def test_edge_list_numbering_ignores_listed_order_and_orientation():
    a = topo("edges", edges=((0, 1), (1, 2), (2, 3), (1, 4)))
    b = topo("edges", edges=((4, 1), (3, 2), (1, 0), (2, 1)))
    check_invariants(a)
    assert a == b and a.links == b.links
    assert a.nodes == 5 and a.diameter == 3 and a.bisection_links is None
    assert a.coords == tuple((i,) for i in range(5))


def test_equal_configs_give_equal_hashable_topologies():
    a, b = topo("torus", (4, 3)), topo("torus", (4, 3))
    assert a == b and hash(a) == hash(b)
    assert a != topo("mesh", (4, 3))


def test_graph_is_frozen():
    t = topo("mesh", (2, 2))
    with pytest.raises(nx.NetworkXError):
        t.graph.add_edge(0, 3)


# --------------------------------------------------------------------------------------------
# Bisection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, dims, expected", [
    ("mesh", (8, 8), 16),     # 8 links cut, both directions
    ("torus", (8, 8), 32),    # 8 rows, each crossed twice (middle and wrap-around)
    ("ring", (3,), 4),
    ("ring", (8,), 4),
    ("ring", (9,), 4),
    ("ring", (2,), 2),        # one physical link
    ("mesh", (8, 4), 8),      # cut the longer dimension: 4 rows
    ("mesh", (1, 8), 2),
    ("torus", (8, 2), 8),     # cutting y (size 2, one link per column) crosses 8 > 2 x 2 rows
    ("torus", (3, 2), 6),     # cutting x crosses 2 rows x 2 = 4 links; y: 3 columns x 1 = 3
])
def test_bisection_links(kind, dims, expected):
    assert topo(kind, dims).bisection_links == expected


@pytest.mark.parametrize("kind, dims", [
    ("mesh", (2, 2)), ("mesh", (4, 2)), ("mesh", (4, 3)), ("mesh", (3, 4)), ("mesh", (6, 2)),
    ("mesh", (1, 6)), ("torus", (4, 2)), ("torus", (4, 3)), ("torus", (3, 4)),
    ("torus", (3, 2)), ("torus", (6, 2)), ("torus", (2, 2)), ("ring", (6,)), ("ring", (7,)),
    ("ring", (10,)),
])
def test_bisection_is_the_minimum_balanced_cut_when_the_cut_dimension_is_even(kind, dims):
    t = topo(kind, dims)
    assert t.bisection_links == min_bisection(t)


# --------------------------------------------------------------------------------------------
# Random edge lists
# --------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(edges=connected_edge_lists())
def test_random_edge_lists(edges):
    t = topo("edges", edges=edges)
    check_invariants(t)
    assert t.nodes == 1 + max(max(e) for e in edges)
    assert len(t.links) == 2 * len(edges)


# --------------------------------------------------------------------------------------------
# Config errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, dims, edges, message", [
    ("mesh", (8,), (), "noc.dims: a mesh takes [x, y], got [8]"),
    ("mesh", (), (), "noc.dims: a mesh takes [x, y], got []"),
    ("mesh", (2, 2, 2), (), "noc.dims: a mesh takes [x, y], got [2, 2, 2]"),
    ("mesh", (0, 4), (), "noc.dims: a mesh's sizes must be >= 1, got [0, 4]"),
    ("mesh", (1, 1), (), "noc.dims: a mesh needs at least 2 routers, got [1, 1]"),
    ("mesh", (512, 512), (), f"noc.dims: at most {MAX_NODES} routers, got [512, 512] (262144)"),
    ("torus", (4,), (), "noc.dims: a torus takes [x, y], got [4]"),
    ("torus", (1, 1), (), "noc.dims: a torus needs at least 2 routers, got [1, 1]"),
    ("torus", (4, -1), (), "noc.dims: a torus's sizes must be >= 1, got [4, -1]"),
    ("ring", (4, 4), (), "noc.dims: a ring takes [n], got [4, 4]"),
    ("ring", (1,), (), "noc.dims: a ring needs n >= 2, got [1]"),
    ("ring", (70000,), (), f"noc.dims: at most {MAX_NODES} routers, got [70000] (70000)"),
    ("tree", (2,), (), "noc.dims: a tree takes [arity, depth], got [2]"),
    ("tree", (1, 3), (), "noc.dims: a tree needs arity >= 2, got [1, 3]"),
    ("tree", (2, 0), (), "noc.dims: a tree needs depth >= 1, got [2, 0]"),
    ("tree", (2, 16), (), f"noc.dims: at most {MAX_NODES} routers, got [2, 16] (131071)"),
    ("mesh", (2, 2), ((0, 1),), "noc.edges: only an edges topology takes edges, got 1 for a mesh"),
    ("edges", (4,), ((0, 1),), "noc.dims: an edges topology takes no dims (noc.edges gives its "
                               "shape), got [4]"),
    ("edges", (), (), "noc.edges: an edges topology needs at least one link, got none"),
    ("edges", (), ((0, 1), (1, 2), (2, 3), (2, 2)), "noc.edges[3]: self loop on node 2"),
    ("edges", (), ((0, 1), (1, 2), (2, 1)),
     "noc.edges[2]: duplicate of noc.edges[1] (link 1-2)"),
    ("edges", (), ((0, 1), (1, -2)), "noc.edges[1]: node ids must be >= 0, got [1, -2]"),
    ("edges", (), ((0, 1, 2),), "noc.edges[0]: a link is a pair of node ids, got [0, 1, 2]"),
    ("edges", (), ((0, 1), (1, 3)),
     "noc.edges: node 2 is in no link (ids must number the nodes 0..3)"),
    ("edges", (), ((0, 3), (3, 5)),
     "noc.edges: nodes 1, 2, 4 are in no link (ids must number the nodes 0..5)"),
    ("edges", (), ((0, 1), (2, 3), (1, 3), (4, 5)),
     "noc.edges: nodes 4, 5 are not connected to node 0"),
    ("edges", (), ((0, 1), (2, 3), (1, 5), (4, 7), (6, 7)),
     "noc.edges: nodes 2, 3, 4, 6, 7 are not connected to node 0"),
    ("edges", (), ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13)),
     "noc.edges: nodes 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (12 in all) are not connected to "
     "node 0"),
    ("edges", (), ((0, MAX_NODES),),
     f"noc.edges: at most {MAX_NODES} routers, got node id {MAX_NODES}"),
    ("hypercube", (4,), (), "noc.topology: expected one of mesh, torus, ring, tree, edges, "
                            "got 'hypercube'"),
])
def test_config_errors(kind, dims, edges, message):
    with pytest.raises(ConfigError) as error:
        topo(kind, dims, edges)
    assert str(error.value) == message

