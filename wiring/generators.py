"""Graph generators.

Every generator returns a :class:`~wiring.graph.NeuralGraph` whose candidates are all real, with
weights drawn uniformly from (-1, 1) using ``seed``; choose ``k`` real edges afterwards with
:meth:`NeuralGraph.with_top_k` or with ``compile(..., k=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wiring.graph import NeuralGraph

__all__ = [
    "barabasi_albert",
    "complete_dag",
    "complete_digraph",
    "erdos_renyi",
    "layered",
    "random_k",
    "watts_strogatz",
]


def _uniform(m: int, seed: Any) -> np.ndarray:
    """``m`` weights uniform in the open interval (-1, 1)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.0, 1.0, size=m)
    # uniform() samples [-1, 1); nudge the (measure-zero) endpoint into the open interval.
    w[w == -1.0] = np.nextafter(-1.0, 0.0)
    return w


def _block_sizes(block_sizes: Sequence[int], name: str = "block_sizes") -> np.ndarray:
    try:
        sizes = np.asarray(list(block_sizes))
    except TypeError as exc:
        raise ValueError(
            f"{name}: expected a sequence of positive ints, found {block_sizes!r}"
        ) from exc
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or (sizes <= 0).any():
        raise ValueError(
            f"{name}: expected a non-empty sequence of positive ints, found {block_sizes!r}"
        )
    return sizes.astype(np.int64)


def complete_dag(block_sizes: Sequence[int], *, seed: Any = None) -> NeuralGraph:
    """Every edge ``u -> v`` with ``block(u) < block(v)``, and only those.

    Nodes are numbered block by block. The candidates are exactly the edges the static executor can
    use, so no edge budget is spent on edges that never carry signal. ``inputs`` = block 0,
    ``outputs`` = the last block. Candidates are ordered by destination node, then source node.

    Parameters
    ----------
    block_sizes : sequence of int
        Number of nodes in each block, e.g. ``[32, 192, 192, 192, 192]`` (the DNW tiny classifier).
    seed : int or numpy Generator, optional
        Seed for the uniform(-1, 1) weights.

    Examples
    --------
    >>> g = complete_dag([2, 3, 1])
    >>> g.num_candidates == 2 * 3 + 2 * 1 + 3 * 1
    True
    """
    return _blockwise(_block_sizes(block_sizes), seed, adjacent_only=False)


def _blockwise(sizes: np.ndarray, seed: Any, *, adjacent_only: bool) -> NeuralGraph:
    """Complete bipartite wiring into every block ``b >= 1`` from all earlier blocks, or only from
    block ``b - 1``; nodes numbered block by block, candidates ordered by destination then source."""
    n = int(sizes.sum())
    starts = np.concatenate([[0], np.cumsum(sizes)])
    src_parts, dst_parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for b in range(1, sizes.size):
        prev = np.arange(starts[b - 1] if adjacent_only else 0, starts[b])
        here = np.arange(starts[b], starts[b + 1])
        dst_parts.append(np.repeat(here, prev.size))
        src_parts.append(np.tile(prev, here.size))
    src, dst = np.concatenate(src_parts), np.concatenate(dst_parts)
    return NeuralGraph(
        src,
        dst,
        _uniform(src.size, seed),
        num_nodes=n,
        blocks=np.repeat(np.arange(sizes.size), sizes),
        inputs=np.arange(starts[1]),
        outputs=np.arange(starts[-2], n),
    )


def complete_digraph(num_nodes: int, *, inputs: Any, outputs: Any, seed: Any = None) -> NeuralGraph:
    """Every edge ``u -> v`` with ``u != v``: the candidate set of a dynamic (recurrent) graph.

    Parameters
    ----------
    num_nodes : int
        Number of nodes ``n``; there are ``n (n - 1)`` candidates, ordered by destination, then
        source.
    inputs, outputs : array_like of int
        Input and output node indices.
    seed : int or numpy Generator, optional
        Seed for the uniform(-1, 1) weights.

    Examples
    --------
    >>> complete_digraph(4, inputs=[0], outputs=[3])
    NeuralGraph(nodes=4, candidates=12, edges=12, blocks=1)
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int | np.integer) or num_nodes < 1:
        raise ValueError(f"num_nodes: expected a positive int, found {num_nodes!r}")
    n = int(num_nodes)
    dst = np.repeat(np.arange(n), n)
    src = np.tile(np.arange(n), n)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    return NeuralGraph(
        src, dst, _uniform(src.size, seed), num_nodes=n, inputs=inputs, outputs=outputs
    )


def layered(sizes: Sequence[int], *, seed: Any = None) -> NeuralGraph:
    """Complete bipartite wiring between adjacent blocks only: an MLP / MobileNet-like graph.

    Examples
    --------
    >>> layered([3, 4, 2]).num_candidates
    20
    """
    return _blockwise(_block_sizes(sizes, "sizes"), seed, adjacent_only=True)


def random_k(graph: NeuralGraph, k: Any, *, seed: Any) -> NeuralGraph:
    """The random-graph baseline of DNW (sec. 3): fresh uniform weights, then the top ``k``.

    "To construct a randomly wired graph with k-edges we assign a uniform random weight to each edge
    then pick the k edges with the largest magnitude weights." ``k`` may be an int or a block
    mapping, as for :meth:`NeuralGraph.with_top_k`.
    """
    if not isinstance(graph, NeuralGraph):
        raise ValueError(f"graph: expected a NeuralGraph, found {type(graph).__name__}")
    return graph.with_weights(_uniform(graph.num_candidates, seed)).with_top_k(k)


def _dag_from_undirected(edges: np.ndarray, num_nodes: int, seed: Any) -> NeuralGraph:
    """Orient an undirected graph from lower to higher node index (Xie et al. 2019, sec. 3.2).

    Blocks are topological levels (longest path from a source), so ``block(u) < block(v)`` on
    every edge and the graph compiles statically; inputs are the nodes without predecessors
    (exactly block 0) and outputs the nodes without successors.
    """
    if edges.size == 0:
        src = dst = np.zeros(0, np.int64)
    else:
        lo, hi = edges.min(axis=1), edges.max(axis=1)
        keep = lo != hi
        src, dst = lo[keep].astype(np.int64), hi[keep].astype(np.int64)
    level = np.zeros(num_nodes, dtype=np.int64)
    # Edges go up in index, so visiting them by source index finalises level[u] before u is used.
    by_src = np.argsort(src, kind="stable")
    for u, v in zip(src[by_src].tolist(), dst[by_src].tolist(), strict=True):
        if level[v] < level[u] + 1:
            level[v] = level[u] + 1
    has_pred = np.zeros(num_nodes, bool)
    has_pred[dst] = True
    has_succ = np.zeros(num_nodes, bool)
    has_succ[src] = True
    return NeuralGraph(
        src,
        dst,
        _uniform(src.size, seed),
        num_nodes=num_nodes,
        blocks=level,
        inputs=np.flatnonzero(~has_pred),
        outputs=np.flatnonzero(~has_succ & has_pred),
    )


def _nx_edges(graph: Any) -> np.ndarray:
    e = np.asarray(list(graph.edges()), dtype=np.int64)
    return e.reshape(-1, 2)


def _check_n(num_nodes: Any) -> int:
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int | np.integer) or num_nodes < 2:
        raise ValueError(f"num_nodes: expected an int >= 2, found {num_nodes!r}")
    return int(num_nodes)


def _seed_int(seed: Any) -> int | None:
    if seed is None:
        return None
    return int(np.random.default_rng(seed).integers(2**31 - 1))


def erdos_renyi(num_nodes: int, p: float, *, seed: Any = None) -> NeuralGraph:
    """Random DAG wiring from an Erdős–Rényi graph G(n, p), oriented low → high index.

    As in randomly wired networks (Xie et al., *Exploring Randomly Wired Neural Networks for Image
    Recognition*, ICCV 2019), who use p = 0.2.
    """
    import networkx as nx

    n = _check_n(num_nodes)
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], found {p!r}")
    s = _seed_int(seed)
    return _dag_from_undirected(_nx_edges(nx.gnp_random_graph(n, float(p), seed=s)), n, s)


def watts_strogatz(num_nodes: int, k: int, p: float, *, seed: Any = None) -> NeuralGraph:
    """Random DAG wiring from a Watts–Strogatz small-world graph WS(n, k, p) (Xie et al.: k=4, p=0.75)."""
    import networkx as nx

    n = _check_n(num_nodes)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k < n:
        raise ValueError(f"k: expected an int in [1, {n}), found {k!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], found {p!r}")
    s = _seed_int(seed)
    return _dag_from_undirected(
        _nx_edges(nx.connected_watts_strogatz_graph(n, int(k), float(p), seed=s)), n, s
    )


def barabasi_albert(num_nodes: int, m: int, *, seed: Any = None) -> NeuralGraph:
    """Random DAG wiring from a Barabási–Albert preferential-attachment graph BA(n, m) (Xie et al.: m=5)."""
    import networkx as nx

    n = _check_n(num_nodes)
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or not 1 <= m < n:
        raise ValueError(f"m: expected an int in [1, {n}), found {m!r}")
    s = _seed_int(seed)
    return _dag_from_undirected(_nx_edges(nx.barabasi_albert_graph(n, int(m), seed=s)), n, s)
