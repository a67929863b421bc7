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
#: byte slots per edge of each of the triangle count's two edge filters (an open wedge passes
#: both with probability about (1 - e^{-1/8})^2 = 1.4%)
_FILTER_SLOTS_PER_EDGE = 8
#: out-degree up to which a node's wedges are checked through the padded table (else listed)
_LIGHT_WIDTH = 48
#: uint64 words of one BFS bit array (n nodes x words): sources per batch = 64 * words (<= 4096)
_BFS_BITSET_WORDS = 2**23
#: wedges of heavy nodes listed per batch (bounds the memory: about 60 bytes per wedge)
_WEDGE_BATCH = 2_000_000


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
    deg = g.degrees()
    if deg.size and deg.max() < 2**16:  # whole numbers below 2**16: numpy's O(n) radix sort
        x = np.sort(deg.astype(np.uint16), kind="stable").astype(np.float64)
    else:
        x = np.sort(deg)
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


def _in_rows(indptr: np.ndarray, indices: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Whether ``w[i]`` is among the (sorted) columns of row ``v[i]`` of a CSR matrix, shape (q,).

    A binary search per query, all queries at once: about log2(max row length) vectorised steps.
    """
    lo = indptr[v].astype(np.int64)
    hi = indptr[v + 1].astype(np.int64)
    found = np.zeros(v.size, dtype=bool)
    todo = np.flatnonzero(lo < hi)
    while todo.size:
        mid = (lo[todo] + hi[todo]) // 2
        col = indices[mid]
        target = w[todo]
        found[todo[col == target]] = True
        right = col < target
        lo[todo[right]] = mid[right] + 1
        left = col > target
        hi[todo[left]] = mid[left]
        todo = todo[(col != target) & (lo[todo] < hi[todo])]
    return found


def _triangles(g: GraphData) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-node triangle counts and degrees of the simple undirected view, shapes (n,), (n,).

    Degree-ordered wedge checking (the "forward" algorithm; Schank & Wagner 2005, Latapy 2008),
    vectorised. Every edge is oriented from its endpoint of lower (degree, index) rank to the
    other, so that each node keeps at most :math:`\sqrt{2m}` out-neighbours; every triangle is then
    exactly one wedge ``v <- u -> w`` (two out-neighbours of its lowest-ranked node ``u``) whose
    closing edge ``v - w`` exists. Wedges are tested against two filters of the edge set (byte
    arrays with :data:`_FILTER_SLOTS_PER_EDGE` slots per edge, slot ``f(v) XOR f(w)`` for a random
    code ``f`` per node, symmetric in v and w), and the few that pass both (about 1.4% of open
    wedges) exactly, by a binary search in row v of the sorted CSR.
    Nodes with at most :data:`_LIGHT_WIDTH` out-neighbours (nearly all) are processed as a padded
    column-major table, one contiguous slice per pair of positions (i, j); the others by explicit
    wedge lists. Work O(Σ_u d⁺(u)²), memory O(m) plus one batch of wedges.
    """
    key = "triangles"
    if key in g._cache:
        return g._cache[key]
    s = _simple_undirected(g)
    n = s.shape[0]
    deg = np.diff(s.indptr).astype(np.int64)
    tri = np.zeros(n, dtype=np.int64)
    if s.nnz == 0:
        g._cache[key] = (tri, deg)
        return tri, deg
    idx_t = np.int32 if n < 2**31 else np.int64
    indices = s.indices.astype(idx_t, copy=False)
    row = np.repeat(np.arange(n, dtype=idx_t), deg)
    # orientation u -> v when rank(u) < rank(v), rank = position in (degree, index) order
    rank = np.empty(n, dtype=idx_t)
    rank[np.argsort(deg, kind="stable")] = np.arange(n, dtype=idx_t)
    keep = rank[row] < rank[indices]
    src, out_nb = row[keep], indices[keep]  # oriented edges, grouped by source (CSR order)
    del row, keep, rank
    out_deg = np.bincount(src, minlength=n)
    # two filters of the edge set, slot f(u) XOR f(v) for two random node codes f (symmetric in
    # u, v): an open wedge passes both with probability about (1/8)^2
    bits = max(6, int(np.ceil(np.log2(src.size * _FILTER_SLOTS_PER_EDGE))))
    rng = np.random.default_rng(0x5EED)
    codes = [rng.integers(0, 1 << bits, size=n, dtype=np.int64) for _ in range(2)]
    filters = []
    for f in codes:
        marks = np.zeros(1 << bits, dtype=bool)
        marks[f[src] ^ f[out_nb]] = True
        filters.append(marks)
    del src

    passed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # wedges v <- u -> w, few

    start = np.zeros(n, dtype=np.int64)
    np.cumsum(out_deg[:-1], out=start[1:])
    by_deg = np.argsort(-out_deg, kind="stable")  # nodes by out-degree, largest first
    heavy = int(np.count_nonzero(out_deg > _LIGHT_WIDTH))
    # light nodes: column i of the padded table holds the i-th out-neighbour of every light node
    # that has one; those nodes are a prefix of the light part of by_deg
    light = by_deg[heavy:]
    width = int(out_deg[light[0]]) if light.size else 0
    count = np.searchsorted(-out_deg[light], -np.arange(width), side="left")  # rows with > i
    cols = [out_nb[start[light[: count[i]]] + i] for i in range(width)]
    h1 = [codes[0][c] for c in cols]
    h2 = [codes[1][c] for c in cols]
    for j in range(1, width):
        k = int(count[j])
        for i in range(j):
            hit = np.flatnonzero(filters[0][h1[i][:k] ^ h1[j]])
            hit = hit[filters[1][h2[i][hit] ^ h2[j][hit]]]
            if hit.size:
                passed.append((light[hit], cols[i][hit], cols[j][hit]))
    # heavy nodes: explicit wedge lists, in batches of about _WEDGE_BATCH wedges
    lo = 0
    while lo < heavy:
        d = out_deg[by_deg[lo:heavy]]
        cum = np.cumsum(d * (d - 1) // 2)
        hi = lo + max(1, int(np.searchsorted(cum, _WEDGE_BATCH, side="right")))
        nodes = by_deg[lo:hi]
        d = out_deg[nodes]
        # entry p (position i of its node's list) pairs with the later entries p + 1 .. end
        total = int(d.sum())
        node_of = np.repeat(nodes, d)
        pos_in = np.arange(total) - np.repeat(np.cumsum(d) - d, d)
        entry = start[node_of] + pos_in
        later = np.repeat(d, d) - 1 - pos_in
        a = np.repeat(entry, later)
        b = a + 1 + (np.arange(a.size) - np.repeat(np.cumsum(later) - later, later))
        u = np.repeat(node_of, later)
        v, w = out_nb[a], out_nb[b]
        hit = filters[0][codes[0][v] ^ codes[0][w]]
        u, v, w = u[hit], v[hit], w[hit]
        hit = filters[1][codes[1][v] ^ codes[1][w]]
        passed.append((u[hit], v[hit], w[hit]))
        lo = hi
    if passed:  # the exact check of the wedges that passed both filters
        u, v, w = (np.concatenate(x) for x in zip(*passed, strict=True))
        hit = _in_rows(s.indptr, indices, v, w)
        for x in (u[hit], v[hit], w[hit]):
            np.add.at(tri, x, 1)
    g._cache[key] = (tri, deg)
    return tri, deg


def clustering(graph: GraphLike) -> float:
    r"""Global clustering coefficient (transitivity) of the unweighted undirected view.

    .. math::

        C = \frac{3 \times \#\text{triangles}}{\#\text{connected triples}}
          = \frac{\sum_i T_i}{\sum_i d_i (d_i - 1) / 2}

    with :math:`T_i` the triangles through node ``i`` and :math:`d_i` its degree (0 when there is no
    connected triple). Triangles are counted once each, as the wedges ``v <- u -> w`` of a
    degree-ordered orientation whose closing edge exists (Schank & Wagner 2005), vectorised with a
    Bloom filter of the edge set; work O(Σ_u d⁺(u)²), memory O(edges).

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


def _popcount(x: np.ndarray) -> int:
    """Number of set bits in a uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return int(np.bitwise_count(x).sum(dtype=np.int64))
    return int(np.unpackbits(x.view(np.uint8)).sum(dtype=np.int64))  # pragma: no cover


def _gather_rows(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in ``indices`` of the entries of ``rows`` of a CSR matrix, row after row."""
    lens = indptr[rows + 1] - indptr[rows]
    total = int(lens.sum())
    return np.repeat(indptr[rows] - np.cumsum(lens) + lens, lens) + np.arange(total)


def _or_segments(vals: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Bitwise OR of consecutive segments of ``vals`` (lengths ``lens``, all > 0), shape (S,)."""
    if lens.size == 0:
        return vals[:0]
    return np.bitwise_or.reduceat(vals, np.cumsum(lens) - lens)


def _bfs_batch(
    out_csr: sp.csr_array, in_csr: sp.csr_array, sources: np.ndarray
) -> tuple[float, int]:
    """Breadth-first search from many sources at once; (sum of distances, reachable pairs).

    Bit-parallel: each node holds one bit per source, in ``words = ceil(B / 64)`` uint64 arrays of
    shape (n,), and a BFS level ORs the frontier bits across the edges for all sources at once.
    Direction-optimising (Beamer, Asanović & Patterson 2012): while the frontier's edges are few,
    they are pushed top-down along ``out_csr`` (edge ``u -> v`` in row ``u``); once they are many,
    every node not yet reached from all sources pulls its in-neighbours' bits (``in_csr``, row
    ``v``). Distances from a source to itself are not counted.
    """
    n, b = out_csr.shape[0], sources.size
    words = (b + 63) // 64
    which = np.arange(b) // 64
    bit = np.uint64(1) << (np.arange(b) % 64).astype(np.uint64)
    frontier = np.zeros((words, n), dtype=np.uint64)
    np.bitwise_or.at(frontier, (which, sources), bit)
    full = np.zeros(words, dtype=np.uint64)
    np.bitwise_or.at(full, which, bit)
    visited = frontier.copy()
    active = np.unique(sources)  # nodes whose frontier is not empty
    out_deg = np.diff(out_csr.indptr)
    in_deg = np.diff(in_csr.indptr)
    total, pairs, level = 0, 0, 0
    while active.size:
        level += 1
        open_mask = visited[0] != full[0]
        for k in range(1, words):
            open_mask |= visited[k] != full[k]
        open_rows = np.flatnonzero(open_mask & (in_deg > 0))
        if int(out_deg[active].sum()) * 8 < int(in_deg[open_rows].sum()):
            # top-down: OR each frontier node's bits into its out-neighbours
            pos = _gather_rows(out_csr.indptr, active)
            if pos.size == 0:  # the frontier has no out-edges: nothing new
                break
            order = np.argsort(out_csr.indices[pos], kind="stable")
            targets = out_csr.indices[pos][order]
            sender = np.repeat(active, out_deg[active])[order]
            starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
            rows = targets[starts]
            lens = np.diff(np.r_[starts, targets.size])
        else:
            # bottom-up: every node not yet reached from all sources ORs its in-neighbours' bits
            rows = open_rows
            if rows.size == n:
                sender = in_csr.indices
            else:
                sender = in_csr.indices[_gather_rows(in_csr.indptr, rows)]
            lens = in_deg[rows]
        new = np.empty((words, rows.size), dtype=np.uint64)
        for k in range(words):
            new[k] = _or_segments(frontier[k].take(sender), lens) & ~visited[k].take(rows)
        count = _popcount(new)
        if count == 0:
            break
        keep = np.any(new != 0, axis=0)
        frontier[:, active] = 0
        active = rows[keep]
        new = new[:, keep]
        frontier[:, active] = new
        visited[:, active] |= new
        total += level * count
        pairs += count
    return float(total), pairs


def _average_path(
    g: GraphData, samples: int | None, directed: bool, seed: int, progress: bool
) -> tuple[float, int]:
    sources = _path_sources(g, samples, seed)
    n = g.num_nodes
    if directed:
        a = g.adjacency.tocoo()
        keep = a.row != a.col
        ones = np.ones(int(keep.sum()), dtype=np.int8)
        out_csr = sp.csr_array((ones, (a.row[keep], a.col[keep])), shape=a.shape)
        in_csr = sp.csr_array((ones, (a.col[keep], a.row[keep])), shape=a.shape)
    else:
        out_csr = in_csr = _simple_undirected(g)
    # sources per batch: the (words, n) uint64 bit arrays (about 4 alive) stay near 256 MB
    chunk = 64 * max(1, min(64, _BFS_BITSET_WORDS // max(n, 1)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sources), desc="shortest paths (BFS)", unit="source", leave=False)
    total, pairs = 0.0, 0
    for st in range(0, len(sources), chunk):
        idx = sources[st : st + chunk]
        t, p = _bfs_batch(out_csr, in_csr, idx)
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
