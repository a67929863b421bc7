"""Combinatorial measures of a wiring: degree Gini, clustering, shortest paths, and ``summary``.

Clustering and path lengths use the unweighted undirected view (an edge ``u - v`` wherever ``u -> v``
or ``v -> u`` is a real edge; self-loops ignored). Degrees for the Gini coefficient are in + out
degrees over real edges (the degree, for undirected networkx graphs). Per-node values are in node
order (``0..n-1``; sorted nodes for networkx graphs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ._graphs import GraphData, GraphLike, as_graph
from .spectra import algebraic_connectivity

__all__ = [
    "average_clustering",
    "average_shortest_path_length",
    "clustering",
    "degree_gini",
    "graph_info",
    "summary",
]

#: ``average_shortest_path_length(samples=None)`` is exact up to this many nodes ...
EXACT_PATH_MAX_NODES = 5000
#: ... and above it uses this many sampled source nodes.
DEFAULT_PATH_SAMPLES = 256
#: rows per chunk of the sparse triangle count (bounds the memory of (S @ S)[rows])
_TRIANGLE_CHUNK_ENTRIES = 4_000_000


def degree_gini(graph: GraphLike) -> float:
    r"""Gini coefficient of the node degrees (0: all equal; towards 1: a few hubs hold all edges).

    .. math::

        G = \frac{\sum_{i=1}^n \sum_{j=1}^n |x_i - x_j|}{2 n^2 \bar x}

    with :math:`x_i` the in + out degree of node ``i`` over real edges (the degree for undirected
    graphs). Computed in O(n log n) from the sorted degrees
    :math:`x_{(1)} \le \dots \le x_{(n)}` as
    :math:`\sum_i (2i - n - 1) x_{(i)} / (n^2 \bar x)`. A graph without edges gives 0.

    Source: C. Gini, *Measurement of inequality of incomes* (1921); the adaptive-sparsity paper,
    sec. 5.2.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph

    Returns
    -------
    float
        In ``[0, 1 - 1/n]``.

    Examples
    --------
    >>> import networkx as nx
    >>> degree_gini(nx.cycle_graph(6))        # regular: everyone equal
    0.0
    >>> degree_gini(nx.star_graph(4))         # n = 5 nodes: (n - 2) / (2n)
    0.3
    """
    g = as_graph(graph)
    x = np.sort(g.degrees())
    n = x.size
    total = x.sum()
    if total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    # Σ_i Σ_j |x_i - x_j| = 2 Σ_i (2i - n - 1) x_(i) for sorted x; n² x̄ = n Σ x.
    return float(max(np.sum((2 * i - n - 1) * x) / (n * total), 0.0))


def _simple_undirected(g: GraphData) -> sp.csr_array:
    """Unweighted undirected view without self-loops, int64 data, shape (n, n)."""
    key = "simple-undirected"
    if key not in g._cache:
        s = g.sym(weighted=False)
        s = sp.csr_array((np.ones(s.nnz, dtype=np.int64), s.indices, s.indptr), shape=s.shape)
        g._cache[key] = s
    return g._cache[key]


def _triangles(g: GraphData) -> tuple[np.ndarray, np.ndarray]:
    """Per-node triangle counts and degrees of the simple undirected view, shapes (n,), (n,).

    Triangles are counted as ``((S @ S) ∘ S) 1 / 2``, row chunk by row chunk, so that the memory
    of ``S @ S`` stays bounded (about ``_TRIANGLE_CHUNK_ENTRIES`` stored entries per chunk).
    """
    key = "triangles"
    if key in g._cache:
        return g._cache[key]
    s = _simple_undirected(g)
    n = s.shape[0]
    deg = np.diff(s.indptr).astype(np.int64)
    tri = np.zeros(n, dtype=np.int64)
    # entries of (S @ S)[rows] <= Σ_{u in rows} Σ_{v ~ u} deg(v); chunk on that bound
    work = np.zeros(n + 1, dtype=np.int64)
    work[1:] = np.cumsum(s @ deg)
    start = 0
    while start < n:
        stop = int(np.searchsorted(work, work[start] + _TRIANGLE_CHUNK_ENTRIES, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        rows = s[start:stop]
        paths2 = rows @ s  # (rows, n): number of 2-paths u - w - v
        closed = paths2.multiply(rows)  # keep only those with an edge u - v: triangles, twice
        tri[start:stop] = np.asarray(closed.sum(axis=1)).ravel() // 2
        start = stop
    g._cache[key] = (tri, deg)
    return tri, deg


def clustering(graph: GraphLike) -> float:
    r"""Global clustering coefficient (transitivity) of the unweighted undirected view.

    .. math::

        C = \frac{3 \times \#\text{triangles}}{\#\text{connected triples}}
          = \frac{\sum_i T_i}{\sum_i d_i (d_i - 1) / 2}

    with :math:`T_i` the triangles through node ``i`` and :math:`d_i` its degree (0 when there is no
    connected triple). Triangles come from sparse products, :math:`T = \tfrac12 ((S S) \circ S)
    \mathbf 1`, in row chunks so that memory stays bounded.

    Source: Wasserman & Faust, *Social Network Analysis* (1994); the adaptive-sparsity paper,
    sec. 5.2; networkx's ``transitivity`` computes the same number.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import networkx as nx
    >>> clustering(nx.complete_graph(5)), clustering(nx.balanced_tree(2, 3))
    (1.0, 0.0)
    """
    g = as_graph(graph)
    tri, deg = _triangles(g)
    triples = float(np.sum(deg * (deg - 1))) / 2.0
    return float(tri.sum() / triples) if triples > 0 else 0.0


def _local_clustering(g: GraphData) -> np.ndarray:
    tri, deg = _triangles(g)
    pairs = deg * (deg - 1) / 2.0
    return np.where(pairs > 0, tri / np.where(pairs > 0, pairs, 1.0), 0.0)


def average_clustering(graph: GraphLike) -> float:
    r"""Mean local clustering coefficient of the unweighted undirected view.

    .. math::

        \bar c = \frac1n \sum_{i=1}^n c_i, \qquad
        c_i = \frac{T_i}{d_i (d_i - 1) / 2} \quad (c_i = 0 \text{ if } d_i < 2)

    Nodes of degree < 2 count as 0, as in networkx's default (``count_zeros=True``).

    Source: Watts & Strogatz, *Collective dynamics of 'small-world' networks* (1998); networkx's
    ``average_clustering`` (unweighted) computes the same number.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.complete_graph(4)
    >>> g.add_edge(3, 4)                      # a pendant node: c = 3/6 at node 3, 0 at node 4
    >>> round(average_clustering(g), 6)       # (1 + 1 + 1 + 1/2 + 0) / 5
    0.7
    """
    return float(np.mean(_local_clustering(as_graph(graph))))


def _path_sources(g: GraphData, samples: int | None, seed: int) -> np.ndarray:
    n = g.num_nodes
    if samples is None:
        samples = n if n <= EXACT_PATH_MAX_NODES else DEFAULT_PATH_SAMPLES
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples: expected a positive integer or None, found {samples!r}")
    if samples >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(samples), replace=False))


def _bfs_batch(prop: sp.csr_array, sources: np.ndarray) -> tuple[float, int]:
    """Breadth-first search from several sources at once; (sum of distances, reachable pairs).

    ``prop`` propagates a frontier one step: ``reached = prop @ frontier`` with the frontier a dense
    (n, B) 0/1 matrix, one column per source. One sparse mat-mat product per BFS level (about 3x
    faster than one Dijkstra per source with scipy).
    """
    n, b = prop.shape[0], sources.size
    frontier = np.zeros((n, b), dtype=np.float32)
    frontier[sources, np.arange(b)] = 1.0
    visited = frontier > 0
    total, pairs, level = 0.0, 0, 0
    while True:
        level += 1
        new = (prop @ frontier) > 0
        new &= ~visited
        count = int(np.count_nonzero(new))
        if count == 0:
            return total, pairs
        visited |= new
        total += level * count
        pairs += count
        frontier = new.astype(np.float32)


def _average_path(
    g: GraphData, samples: int | None, directed: bool, seed: int, progress: bool
) -> tuple[float, int]:
    sources = _path_sources(g, samples, seed)
    if directed:
        a = g.adjacency.tocoo()
        keep = a.row != a.col
        # distances from u along u -> v: the frontier moves with A^T
        prop = sp.csr_array(
            (np.ones(int(keep.sum()), dtype=np.float32), (a.col[keep], a.row[keep])),
            shape=a.shape,
        )
    else:
        prop = _simple_undirected(g).astype(np.float32)
    n = g.num_nodes
    chunk = max(1, min(256, 25_000_000 // max(n, 1)))  # (n, chunk) float32 frontier <= 100 MB
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sources), desc="shortest paths (BFS)", unit="source", leave=False)
    total, pairs = 0.0, 0
    for st in range(0, len(sources), chunk):
        idx = sources[st : st + chunk]
        t, p = _bfs_batch(prop, idx)
        total += t
        pairs += p
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return (total / pairs if pairs else 0.0), len(sources)


def average_shortest_path_length(
    graph: GraphLike,
    *,
    samples: int | None = None,
    directed: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> float:
    r"""Mean unweighted shortest-path length over the ordered pairs of nodes joined by a path.

    .. math::

        \bar\ell = \frac{\sum_{(u, v) \in R} d(u, v)}{|R|}, \qquad
        R = \{(u, v) : u \ne v,\ v \text{ reachable from } u\}

    On a connected graph this is networkx's ``average_shortest_path_length``; a disconnected graph is
    allowed (pairs without a path are left out; 0 when there is no such pair). Exact (breadth-first
    search from every node) up to 5,000 nodes; above, estimated from ``samples`` source nodes drawn
    uniformly without replacement (default 256): the mean over the reachable pairs ``(u, v)`` with
    ``u`` a sampled source (a ratio estimator; its standard error shrinks as ``1/sqrt(samples)``).

    Source: Watts & Strogatz (1998); the adaptive-sparsity paper, sec. 5.2.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    samples : int, optional
        Number of sampled source nodes; ``None``: all nodes up to 5,000 nodes, else 256. A value
        ``>= n`` gives the exact mean.
    directed : bool
        Follow edge directions (``u -> v`` paths only) instead of the undirected view.
    seed : int
        Seed of the source sample.
    progress : bool
        Show a tqdm progress bar over the sources.

    Returns
    -------
    float

    Examples
    --------
    >>> import networkx as nx
    >>> average_shortest_path_length(nx.path_graph(4))   # (1+2+3+1+1+2) * 2 / 12
    1.6666666666666667
    >>> g = nx.Graph([(0, 1), (2, 3)])                   # two components: only joined pairs
    >>> average_shortest_path_length(g)
    1.0
    """
    g = as_graph(graph)
    value, _ = _average_path(g, samples, directed, seed, progress)
    return value


def summary(
    graph: GraphLike,
    *,
    samples: int | None = None,
    weighted: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    r"""All scalar measures of a graph in one dict (JSON-serialisable floats).

    Keys: ``algebraic_connectivity``, ``degree_gini``, ``clustering``, ``average_clustering``,
    ``average_shortest_path_length`` (the functions of the same names, default settings), plus
    ``average_shortest_path_length_samples`` (the number of BFS source nodes used; ``n`` when the
    mean is exact).

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    samples : int, optional
        Passed to :func:`average_shortest_path_length`.
    weighted : bool
        Passed to :func:`algebraic_connectivity`.
    progress : bool
        Show a progress bar over the measures.

    Returns
    -------
    dict

    Examples
    --------
    >>> import networkx as nx
    >>> s = summary(nx.complete_graph(4))
    >>> s["algebraic_connectivity"], s["clustering"], s["average_shortest_path_length"]
    (4.0, 1.0, 1.0)
    """
    g = as_graph(graph)
    steps = [
        "algebraic_connectivity",
        "degree_gini",
        "clustering",
        "average_clustering",
        "average_shortest_path_length",
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="summary", unit="measure", leave=False)
    out: dict[str, Any] = {}
    for name in steps:
        if bar is not None:
            bar.set_postfix_str(name)
        if name == "algebraic_connectivity":
            out[name] = float(algebraic_connectivity(g, weighted=weighted))
        elif name == "degree_gini":
            out[name] = degree_gini(g)
        elif name == "clustering":
            out[name] = clustering(g)
        elif name == "average_clustering":
            out[name] = average_clustering(g)
        else:
            value, used = _average_path(g, samples, False, 0, progress)
            out[name] = float(value)
            out["average_shortest_path_length_samples"] = used
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def graph_info(graph: GraphLike) -> dict[str, Any]:
    """Sizes and structure of a graph: the one definition behind ``wiring info`` and the report.

    Every key is present for every kind of input (a matrix or networkx graph is read as the
    :class:`~wiring.graph.NeuralGraph` it converts to: every stored entry a real candidate, one
    block, no input or output nodes). Structural keys come from the graph's own methods
    (``NeuralGraph.effective_edges``, ``is_acyclic``, ``longest_path_length``).

    Returns
    -------
    dict
        ``nodes``; ``candidates`` and ``edges`` (real edges); ``effective_edges`` (real edges on
        an input -> output path); ``components`` (connected components of the undirected view,
        isolated nodes included); ``blocks`` (count) and ``block_sizes`` (list, in increasing
        block id); ``inputs`` and ``outputs`` (counts); ``acyclic`` (the real edges, directed,
        form no cycle); ``longest_path`` (edges on the longest directed path over real edges;
        ``None`` when there is a cycle); ``directed`` (False for an undirected networkx graph,
        whose ``candidates``, ``edges`` and ``effective_edges`` count each undirected edge once;
        it counts as cyclic). Plain ints, bools, lists and ``None`` (JSON-ready).

    Examples
    --------
    >>> import networkx as nx
    >>> info = graph_info(nx.path_graph(3))
    >>> info["nodes"], info["edges"], info["components"], info["acyclic"]
    (3, 2, 1, False)
    >>> from wiring.graph import NeuralGraph
    >>> g = NeuralGraph([0, 1, 0], [1, 2, 3], [1.0, 1.0, 1.0], num_nodes=4,
    ...                 blocks=[0, 1, 2, 2], inputs=[0], outputs=[2])
    >>> info = graph_info(g)
    >>> info["effective_edges"], info["block_sizes"], info["longest_path"]
    (2, [1, 1, 2], 2)
    """
    g = as_graph(graph)
    ng = g.neural_graph()
    acyclic = bool(ng.is_acyclic())
    effective = ng.effective_edges()
    candidates, edges = ng.num_candidates, ng.num_edges
    eff = int(np.count_nonzero(effective))
    if g.undirected:
        # both directions of every edge u - v (u != v) are candidates: count each pair once
        pair = np.minimum(ng.src, ng.dst) * ng.num_nodes + np.maximum(ng.src, ng.dst)

        def once(mask: np.ndarray) -> int:
            return int(np.unique(pair[mask]).size)

        candidates = once(np.ones(ng.num_candidates, dtype=bool))
        edges = once(ng.real)
        eff = once(effective)
    sizes = np.unique(ng.blocks, return_counts=True)[1]  # in increasing block id
    return {
        "nodes": int(ng.num_nodes),
        "candidates": int(candidates),
        "edges": int(edges),
        "effective_edges": eff,
        "components": g.components(weighted=False)[0],
        "blocks": int(ng.num_blocks),
        "block_sizes": [int(x) for x in sizes],
        "inputs": len(ng.inputs),
        "outputs": len(ng.outputs),
        "acyclic": acyclic,
        "longest_path": int(ng.longest_path_length()) if acyclic else None,
        "directed": not g.undirected,
    }
