"""Input adapter: every analysis function accepts the same kinds of graph.

A graph may be a :class:`wiring.graph.NeuralGraph`, a scipy sparse matrix/array or a dense 2-D
numpy array (``A[u, v]`` is the weight of the edge ``u -> v``), or a networkx ``Graph``/``DiGraph``.
A networkx graph goes through :meth:`NeuralGraph.from_networkx`, which alone defines how one is read
(node order, the ``weight`` default, multigraphs, roles); a ``NeuralGraph`` gives its adjacency
through :meth:`NeuralGraph.adjacency`. All of them are turned once into a :class:`GraphData`: a CSR
adjacency plus the metadata the measures need (input nodes, blocks, whether the graph is
undirected).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from wiring.graph import NeuralGraph, networkx_node_order

__all__ = ["GraphData", "GraphLike", "as_graph"]

GraphLike = Any  # NeuralGraph | scipy.sparse matrix/array | np.ndarray | nx.Graph | GraphData


@dataclass(frozen=True, eq=False)
class GraphData:
    """A graph reduced to what the measures need.

    Attributes
    ----------
    adjacency : scipy.sparse.csr_array, shape (n, n)
        ``A[u, v]`` = weight of the edge ``u -> v`` (real edges only). Stored entries are the edges,
        so an edge of weight 0 is still an edge for the unweighted views.
    inputs : numpy.ndarray or None, shape (num_inputs,)
        Input node indices (``None`` for matrices and networkx graphs, which have no inputs).
    blocks : numpy.ndarray or None, shape (n,)
        Block id per node, if known.
    undirected : bool
        True for undirected inputs (networkx ``Graph``): ``adjacency`` is then symmetric.
    nodes : tuple or None
        Node labels in index order for networkx inputs, ``None`` meaning ``0..n-1``.
    graph : NeuralGraph or None
        The graph itself when the input was (or was converted to) a ``NeuralGraph``; see
        :meth:`neural_graph`.
    """

    adjacency: sp.csr_array
    inputs: np.ndarray | None = None
    blocks: np.ndarray | None = None
    undirected: bool = False
    nodes: tuple[Hashable, ...] | None = None
    graph: NeuralGraph | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def node_labels(self) -> tuple[Hashable, ...]:
        return self.nodes if self.nodes is not None else tuple(range(self.num_nodes))

    def neural_graph(self) -> NeuralGraph:
        """This graph as a :class:`NeuralGraph` (built once from the adjacency for matrices).

        Structure that only the graph defines (candidates, effective edges, acyclicity, longest
        path) is read from it, so that each has one definition.
        """
        if self.graph is not None:
            return self.graph
        if "neural-graph" not in self._cache:
            a = self.adjacency.tocoo()
            self._cache["neural-graph"] = NeuralGraph(
                a.row, a.col, a.data, num_nodes=self.num_nodes
            )
        return self._cache["neural-graph"]

    # ---- derived views, computed once per GraphData -------------------------------------------

    def sym(self, weighted: bool = True) -> sp.csr_array:
        """The undirected view ``W = max(|A|, |A^T|)`` without self-loops, shape (n, n).

        With ``weighted=False`` every edge counts 1. Explicit zero weights stay stored (they are
        edges). Both views share one sparsity structure (int32 indices below 2**31 nodes), sorted.
        """
        key = f"sym-{weighted}"
        if key not in self._cache:
            w = self._undirected_structure()
            if not weighted:
                w = sp.csr_array((np.ones(w.nnz), w.indices, w.indptr), shape=w.shape)
            self._cache[key] = w
        return self._cache[key]

    def _undirected_structure(self) -> sp.csr_array:
        """``max(|A|, |A^T|)`` off the diagonal, canonical CSR, in O(nnz) passes (scipy)."""
        key = "sym-True"
        if key in self._cache:
            return self._cache[key]
        a = self.adjacency
        n = self.num_nodes
        idx_t = np.int32 if n < 2**31 else np.int64
        row = np.repeat(np.arange(n, dtype=idx_t), np.diff(a.indptr))
        col = a.indices.astype(idx_t, copy=False)
        keep = row != col  # self-loops cancel in L = D - W; drop them everywhere
        # |w| + 1 > 0 keeps explicit zero weights through scipy's elementwise maximum (which
        # drops zero results); the 1 comes off afterwards. No duplicates: A has none.
        b = sp.csr_array((np.abs(a.data[keep]) + 1.0, (row[keep], col[keep])), shape=(n, n))
        both = b.maximum(b.T.tocsr()).tocsr()
        both.data -= 1.0
        both.indices = both.indices.astype(idx_t, copy=False)
        both.sort_indices()
        self._cache[key] = both
        return both

    def components(self, weighted: bool = False) -> tuple[int, np.ndarray]:
        """Connected components of the undirected view: their number and each node's label.

        With ``weighted=True`` an edge of weight 0 does not connect (it is absent from the weighted
        Laplacian); with ``weighted=False`` every edge connects.
        """
        key = f"components-{weighted}"
        if key not in self._cache:
            w = self._undirected_structure()
            if weighted and np.any(w.data == 0):
                w = sp.csr_array((w.data > 0, w.indices, w.indptr), shape=w.shape)
                w.eliminate_zeros()
            elif weighted:  # no zero weights: the same components as the unweighted view
                self._cache[key] = self.components(weighted=False)
                return self._cache[key]
            # W is symmetric, so its strongly connected components are its connected components;
            # scipy's strong-component search (Pearce) needs no transposed copy, unlike its
            # undirected one, and is about twice as fast.
            ncomp, labels = connected_components(w, directed=True, connection="strong")
            self._cache[key] = (int(ncomp), labels.astype(np.int64))
        return self._cache[key]

    def degrees(self) -> np.ndarray:
        """Node degrees over real edges, shape (n,): in + out degree (the degree if undirected)."""
        a = self.adjacency
        out_deg = np.diff(a.indptr).astype(np.float64)
        if self.undirected:
            # like networkx: a self-loop adds 2 to the degree of its node.
            loops = np.zeros(self.num_nodes)
            coo = a.tocoo()
            np.add.at(loops, coo.row[coo.row == coo.col], 1.0)
            return out_deg + loops
        in_deg = np.bincount(a.indices, minlength=self.num_nodes).astype(np.float64)
        return out_deg + in_deg


def _from_matrix(m: Any, name: str) -> sp.csr_array:
    if sp.issparse(m):
        a = sp.csr_array(m, dtype=np.float64)
    else:
        arr = np.asarray(m)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
        ):
            raise TypeError(f"{name}: expected a numeric adjacency matrix, found dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(
                f"{name}: expected a square 2-D adjacency matrix, found shape {arr.shape}"
            )
        a = sp.csr_array(arr.astype(np.float64))
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name}: expected a square adjacency matrix, found shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name}: expected a graph with at least one node, found 0 nodes")
    a.sum_duplicates()
    if not np.all(np.isfinite(a.data)):
        raise ValueError(f"{name}: adjacency weights must be finite, found NaN or inf")
    return a


def _from_networkx(g: Any, name: str) -> GraphData:
    # One conversion: NeuralGraph.from_networkx (node order, weight default, multigraphs, the
    # `real` edge attribute and roles are defined there); the labels come in that same order.
    if g.number_of_nodes() == 0:
        raise ValueError(f"{name}: expected a graph with at least one node, found 0 nodes")
    try:
        ng = NeuralGraph.from_networkx(g)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    data = _from_neural_graph(ng, name)
    return GraphData(
        data.adjacency,
        inputs=data.inputs,
        blocks=data.blocks,
        undirected=not g.is_directed(),
        nodes=tuple(networkx_node_order(g)),
        graph=ng,
    )


def _from_neural_graph(g: NeuralGraph, name: str) -> GraphData:
    if g.num_nodes == 0:
        raise ValueError(f"{name}: expected a graph with at least one node, found 0 nodes")
    # NeuralGraph.adjacency() keeps a real edge of weight 0 as a stored entry (an edge).
    return GraphData(g.adjacency(real_only=True), inputs=g.inputs, blocks=g.blocks, graph=g)


def _is_networkx(graph: Any) -> bool:
    nx = sys.modules.get("networkx")  # a networkx graph exists only if networkx was imported
    return nx is not None and isinstance(graph, nx.Graph)


def as_graph(graph: GraphLike, name: str = "graph") -> GraphData:
    """Turn any accepted graph into a :class:`GraphData` (returned unchanged if it already is one).

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix/array, numpy.ndarray, networkx.Graph or GraphData
        The graph. Matrices: ``A[u, v]`` = weight of ``u -> v``, shape (n, n).
    name : str
        Argument name used in error messages.

    Returns
    -------
    GraphData

    Examples
    --------
    >>> import numpy as np
    >>> g = as_graph(np.array([[0, 2.0], [0, 0]]))
    >>> g.num_nodes, g.adjacency.nnz, g.sym().toarray().tolist()
    (2, 1, [[0.0, 2.0], [2.0, 0.0]])
    """
    if isinstance(graph, GraphData):
        return graph
    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        raise TypeError(
            f"{name}: expected a graph object, found a path {graph!r}; "
            "load it first with NeuralGraph.load(path)"
        )
    if isinstance(graph, NeuralGraph):
        return _from_neural_graph(graph, name)
    if _is_networkx(graph):
        return _from_networkx(graph, name)
    if sp.issparse(graph) or isinstance(graph, (np.ndarray, Sequence)):
        return GraphData(_from_matrix(graph, name))
    raise TypeError(
        f"{name}: expected a NeuralGraph, a scipy sparse matrix, a 2-D numpy array or a networkx "
        f"graph, found {type(graph).__name__}"
    )
