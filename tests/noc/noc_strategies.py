"""Hypothesis strategies shared by the NoC tests."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def connected_edge_lists(draw, max_nodes: int = 12) -> list[tuple[int, int]]:
    """A random connected graph as a shuffled, randomly oriented list of distinct pairs."""
    n = draw(st.integers(2, max_nodes))
    pairs = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}  # a spanning tree
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    pairs |= {(min(e), max(e)) for e in extra if e[0] != e[1]}
    label = draw(st.permutations(range(n)))
    flips = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    edges = [
        (label[v], label[u]) if flip else (label[u], label[v])
        for (u, v), flip in zip(sorted(pairs), flips)
    ]
    return draw(st.permutations(edges))
