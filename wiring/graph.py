"""The wiring graph: an immutable value on numpy.

A :class:`NeuralGraph` holds *candidate* edges ``u -> v`` with weights and a boolean mask of the
*real* ones (Wortsman et al., *Discovering Neural Wirings*, NeurIPS 2019, sec. 2.2: the real edge set
:math:`\\mathcal{E}` and the hallucinated set :math:`\\mathcal{E}_{hal}`).  Nodes carry a block id
(the static executor runs one block at a time) and input/output roles.  Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from wiring._io import _atomic_open
from wiring._topk import top_k_mask

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["HasGraph", "NeuralGraph", "networkx_node_order"]

FORMAT_NAME = "neural-wiring-graph"
FORMAT_VERSION = 1
_ARRAY_KEYS = ("src", "dst", "weight", "real", "blocks", "inputs", "outputs")


@runtime_checkable
class HasGraph(Protocol):
    """Anything that can report its current wiring: an object with a ``graph()`` method.

    A model compiled by :func:`wiring.compile`, a :class:`wiring.models.GraphClassifier` and any
    model of yours with ``graph() -> NeuralGraph`` qualify; :class:`wiring.train.Trainer` saves such a
    model's wiring as ``graph.npz`` and the analysis callbacks read it. ``isinstance(x, HasGraph)``
    checks that ``graph`` is there (not what it returns); nothing here imports torch.

    Examples
    --------
    >>> class Model:
    ...     def graph(self) -> NeuralGraph:
    ...         return NeuralGraph([0], [1], [1.0], num_nodes=2)
    >>> isinstance(Model(), HasGraph), isinstance(object(), HasGraph)
    (True, False)
    """

    def graph(self) -> NeuralGraph:
        """The current wiring."""
        ...


def _describe(x: Any) -> str:
    """Short description of a bad value for an error message."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__} {x!r}"[:200]


def _as_int_array(x: Any, name: str, *, length: int | None = None) -> np.ndarray:
    """Return ``x`` as a 1-D int64 array, or raise ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and other objects numpy cannot hold
        raise ValueError(f"{name}: expected a 1-D array of integers, found {_describe(x)}") from exc
    if arr.size == 0:
        arr = arr.reshape(-1).astype(np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integers, found {_describe(arr)}")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name}: expected integers, found dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected integers, found non-integral floats")
        if arr.size and np.abs(arr).max() >= 2.0**62:
            raise ValueError(f"{name}: values too large for node indices")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: values too large for node indices")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}: expected length {length}, found length {arr.shape[0]}")
    return arr.astype(np.int64)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _check_node_indices(arr: np.ndarray, name: str, num_nodes: int) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= num_nodes):
        bad = arr[(arr < 0) | (arr >= num_nodes)][0]
        raise ValueError(f"{name}: expected node indices in [0, {num_nodes}), found {int(bad)}")


def _topological_levels(num_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Longest-path depth of every node from the sources, or ``None`` if there is a cycle.

    Kahn's algorithm processed level by level with vectorised CSR gathers: O(n + m) work.
    """
    order = np.argsort(src, kind="stable")
    dst_sorted = dst[order]
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    indptr = np.cumsum(indptr)
    indeg = np.bincount(dst, minlength=num_nodes).astype(np.int64)
    level = np.zeros(num_nodes, dtype=np.int64)
    frontier = np.flatnonzero(indeg == 0)
    seen = frontier.size
    depth = 0
    while frontier.size:
        starts, ends = indptr[frontier], indptr[frontier + 1]
        lens = ends - starts
        total = int(lens.sum())
        if total == 0:
            break
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        succ = dst_sorted[offsets]
        np.subtract.at(indeg, succ, 1)
        depth += 1
        candidates = np.unique(succ)
        frontier = candidates[indeg[candidates] == 0]
        level[frontier] = depth
        seen += frontier.size
    if seen != num_nodes:
        return None
    return level


def _reachable(num_nodes: int, src: np.ndarray, dst: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Boolean mask of nodes reachable from ``start`` along ``src -> dst`` (multi-source BFS)."""
    from scipy.sparse.csgraph import breadth_first_order

    seen = np.zeros(num_nodes, dtype=bool)
    if start.size == 0:
        return seen
    # One extra super-source node wired to every start node: a single BFS covers all of them.
    s = np.concatenate([src, np.full(start.size, num_nodes)])
    d = np.concatenate([dst, start])
    adj = sp.csr_array(
        (np.ones(s.size, dtype=np.int8), (s, d)), shape=(num_nodes + 1, num_nodes + 1)
    )
    order = breadth_first_order(adj, num_nodes, directed=True, return_predecessors=False)
    seen[order[order < num_nodes]] = True
    return seen


def networkx_node_order(graph: nx.Graph) -> list[Any]:
    """The order in which :meth:`NeuralGraph.from_networkx` numbers the nodes of a networkx graph.

    Sorted labels when they can be compared with each other; otherwise (e.g. a mix of ``int`` and
    ``str``) the graph's own node order, which is networkx's insertion order and the order
    networkx itself uses in ``to_numpy_array``. One definition, shared by ``wiring.analysis``.

    Examples
    --------
    >>> import networkx as nx
    >>> networkx_node_order(nx.Graph([(3, 1), (2, 1)]))
    [1, 2, 3]
    >>> networkx_node_order(nx.Graph([("b", 1), (1, "a")]))  # int and str: insertion order
    ['b', 1, 'a']
    """
    nodes = list(graph.nodes)
    try:
        return sorted(nodes)
    except TypeError:
        return nodes


class NeuralGraph:
    """A wiring graph: candidate edges with weights, the real-edge mask, blocks and roles.

    Parameters
    ----------
    src, dst : array_like of int, shape (m,)
        Candidate edge ``i`` goes from node ``src[i]`` to node ``dst[i]``.
    weight : array_like of float, shape (m,)
        Edge weights :math:`w_{uv}`; finite, stored as float64.
    num_nodes : int
        Number of nodes ``n``; nodes are ``0 .. n-1``.
    blocks : array_like of int, shape (n,), optional
        Block id of every node (non-negative). ``None``: every node in block 0.
    inputs, outputs : array_like of int, optional
        Input and output node indices, without repeats. ``None``: none.
    real : array_like of bool, shape (m,), optional
        Which candidates are real edges. ``None``: every candidate is real.

    Raises
    ------
    ValueError
        For mismatched lengths, node indices out of range, NaN/inf weights, duplicate candidates,
        a ``real`` mask of the wrong length, or bad inputs/outputs; the message names the argument.

    Notes
    -----
    The object is immutable: every array is read-only, and ``with_weights``, ``with_real`` and
    ``with_top_k`` return new graphs.  :math:`A[u, v] = w_{uv}` is the adjacency convention used by
    :meth:`adjacency` and by the compiled modules (a node's input is
    :math:`I_v = \\sum_u w_{uv} Z_u`).

    Examples
    --------
    >>> g = NeuralGraph([0, 0, 1], [1, 2, 2], [0.5, -1.0, 2.0], num_nodes=3,
    ...                 inputs=[0], outputs=[2], real=[True, False, True])
    >>> g
    NeuralGraph(nodes=3, candidates=3, edges=2, blocks=1)
    >>> g.adjacency().toarray()
    array([[0. , 0.5, 0. ],
           [0. , 0. , 2. ],
           [0. , 0. , 0. ]])
    """

    __slots__ = (
        "_blocks",
        "_dst",
        "_inputs",
        "_num_nodes",
        "_outputs",
        "_real",
        "_src",
        "_weight",
    )

    def __init__(
        self,
        src: Any,
        dst: Any,
        weight: Any,
        *,
        num_nodes: int,
        blocks: Any = None,
        inputs: Any = None,
        outputs: Any = None,
        real: Any = None,
    ) -> None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int | np.integer):
            raise ValueError(
                f"num_nodes: expected a non-negative int, found {_describe(num_nodes)}"
            )
        num_nodes = int(num_nodes)
        if num_nodes < 0:
            raise ValueError(f"num_nodes: expected a non-negative int, found {num_nodes}")
        src_a = _as_int_array(src, "src")
        m = src_a.shape[0]
        dst_a = _as_int_array(dst, "dst", length=m)
        try:
            w = np.asarray(weight)
        except Exception as exc:
            raise ValueError(
                f"weight: expected a 1-D array of floats, found {_describe(weight)}"
            ) from exc
        if w.ndim != 1 or w.dtype.kind not in "iuf" or w.dtype.kind == "b":
            if not (w.size == 0 and w.ndim == 1):
                raise ValueError(f"weight: expected a 1-D array of floats, found {_describe(w)}")
        if w.shape[0] != m:
            raise ValueError(
                f"weight: expected length {m} (one per candidate), found length {w.shape[0]}"
            )
        w = w.astype(np.float64)
        if not np.all(np.isfinite(w)):
            bad = int(np.flatnonzero(~np.isfinite(w))[0])
            raise ValueError(f"weight: expected finite values, found {w[bad]} at candidate {bad}")
        _check_node_indices(src_a, "src", num_nodes)
        _check_node_indices(dst_a, "dst", num_nodes)
        if m:
            keys = src_a * num_nodes + dst_a
            uniq, counts = np.unique(keys, return_counts=True)
            if uniq.size != m:
                j = int(np.flatnonzero(counts > 1)[0])
                u, v = divmod(int(uniq[j]), num_nodes)
                raise ValueError(
                    f"src/dst: expected distinct candidate edges, found edge {u}->{v} "
                    f"{int(counts[j])} times"
                )
        if blocks is None:
            blocks_a = np.zeros(num_nodes, dtype=np.int64)
        else:
            blocks_a = _as_int_array(blocks, "blocks", length=num_nodes)
            if blocks_a.size and blocks_a.min() < 0:
                raise ValueError(f"blocks: expected non-negative block ids, found {blocks_a.min()}")
        roles = []
        for name, value in (("inputs", inputs), ("outputs", outputs)):
            arr = np.zeros(0, dtype=np.int64) if value is None else _as_int_array(value, name)
            _check_node_indices(arr, name, num_nodes)
            if np.unique(arr).size != arr.size:
                raise ValueError(f"{name}: expected distinct node indices, found repeats")
            roles.append(arr)
        if real is None:
            real_a = np.ones(m, dtype=bool)
        else:
            try:
                real_a = np.asarray(real)
            except Exception as exc:
                raise ValueError(f"real: expected a boolean mask, found {_describe(real)}") from exc
            if real_a.ndim != 1 or real_a.shape[0] != m:
                raise ValueError(
                    f"real: expected a boolean mask of length {m} (one per candidate), "
                    f"found {_describe(real_a)}"
                )
            if real_a.dtype.kind != "b":
                if real_a.dtype.kind not in "iu" or not np.isin(real_a, (0, 1)).all():
                    raise ValueError(f"real: expected booleans, found dtype {real_a.dtype}")
            real_a = real_a.astype(bool)
        self._num_nodes = num_nodes
        self._src = _readonly(src_a)
        self._dst = _readonly(dst_a)
        self._weight = _readonly(w)
        self._real = _readonly(real_a)
        self._blocks = _readonly(blocks_a)
        self._inputs = _readonly(roles[0])
        self._outputs = _readonly(roles[1])

    # ------------------------------------------------------------------ properties
    @property
    def num_nodes(self) -> int:
        """Number of nodes ``n``."""
        return self._num_nodes

    @property
    def num_candidates(self) -> int:
        """Number of candidate edges ``m`` (real and hallucinated)."""
        return int(self._src.shape[0])

    @property
    def num_edges(self) -> int:
        """Number of real edges."""
        return int(self._real.sum())

    @property
    def num_blocks(self) -> int:
        """Number of distinct block ids."""
        return int(np.unique(self._blocks).size)

    @property
    def src(self) -> np.ndarray:
        """Source node of every candidate, int64, shape (m,), read-only."""
        return self._src

    @property
    def dst(self) -> np.ndarray:
        """Destination node of every candidate, int64, shape (m,), read-only."""
        return self._dst

    @property
    def weight(self) -> np.ndarray:
        """Weight of every candidate, float64, shape (m,), read-only."""
        return self._weight

    @property
    def real(self) -> np.ndarray:
        """Real-edge mask, bool, shape (m,), read-only."""
        return self._real

    @property
    def blocks(self) -> np.ndarray:
        """Block id of every node, int64, shape (n,), read-only."""
        return self._blocks

    @property
    def inputs(self) -> np.ndarray:
        """Input node indices, int64, read-only."""
        return self._inputs

    @property
    def outputs(self) -> np.ndarray:
        """Output node indices, int64, read-only."""
        return self._outputs

    def __repr__(self) -> str:
        return (
            f"NeuralGraph(nodes={self.num_nodes}, candidates={self.num_candidates}, "
            f"edges={self.num_edges}, blocks={self.num_blocks})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NeuralGraph):
            return NotImplemented
        return self.num_nodes == other.num_nodes and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in _ARRAY_KEYS
        )

    __hash__ = None  # type: ignore[assignment]  # equal graphs need not hash alike cheaply

    # ------------------------------------------------------------------ new graphs
    def _replace(self, **changes: Any) -> NeuralGraph:
        fields = {k: getattr(self, k) for k in _ARRAY_KEYS}
        fields.update(changes)
        return NeuralGraph(
            fields["src"],
            fields["dst"],
            fields["weight"],
            num_nodes=self.num_nodes,
            blocks=fields["blocks"],
            inputs=fields["inputs"],
            outputs=fields["outputs"],
            real=fields["real"],
        )

    def with_weights(self, weight: Any) -> NeuralGraph:
        """A copy with new candidate weights (shape (m,)); the real mask is kept."""
        return self._replace(weight=weight)

    def with_real(self, mask: Any) -> NeuralGraph:
        """A copy with a new real-edge mask (bool, shape (m,))."""
        return self._replace(real=mask)

    def with_top_k(self, k: int | Mapping[int, int]) -> NeuralGraph:
        """A copy whose real edges are exactly the ``k`` candidates of largest :math:`|w|`.

        Parameters
        ----------
        k : int or mapping of block id to int
            The number of real edges. A mapping gives a budget per block: ``k[b]`` edges among the
            candidates into block ``b`` (``block(dst) == b``); it must name every block that has
            incoming candidates and only such blocks.

        Notes
        -----
        Ties in :math:`|w|` are broken by candidate index (the lower index wins), so exactly ``k``
        edges are real even when weights tie. This is the package's one top-k rule
        (:func:`wiring._topk.top_k_mask`), also used by the ``"dnw"`` selection of compiled modules.

        Examples
        --------
        >>> g = NeuralGraph([0, 0, 1], [1, 2, 2], [1.0, -1.0, 0.5], num_nodes=3)
        >>> g.with_top_k(1).real
        array([ True, False, False])
        """
        m = self.num_candidates
        if isinstance(k, Mapping):
            dst_block = self._blocks[self._dst]
            present = set(np.unique(dst_block).tolist())
            given = {}
            for b, kb in k.items():
                if isinstance(b, bool) or not isinstance(b, int | np.integer):
                    raise ValueError(f"k: expected block ids (int) as keys, found {_describe(b)}")
                given[int(b)] = kb
            missing = sorted(present - set(given))
            if missing:
                raise ValueError(
                    f"k: expected a budget for every block with incoming candidates "
                    f"{sorted(present)}, found no entry for block(s) {missing}"
                )
            mask = np.zeros(m, dtype=bool)
            for b, kb in given.items():
                idx = np.flatnonzero(dst_block == b)
                mask[idx] = self._top_k(np.abs(self._weight[idx]), kb, f"k[{b}]")
            return self.with_real(mask)
        return self.with_real(self._top_k(np.abs(self._weight), k, "k"))

    @staticmethod
    def _top_k(score: np.ndarray, k: Any, name: str) -> np.ndarray:
        m = score.shape[0]
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ValueError(f"{name}: expected an int in [0, {m}], found {_describe(k)}")
        if not 0 <= k <= m:
            raise ValueError(f"{name}: expected an int in [0, {m}] (the candidates), found {k}")
        # The package's one top-k rule (lower candidate index wins among ties), shared with the
        # torch selection rules.
        return top_k_mask(score, int(k))

    # ------------------------------------------------------------------ views
    def adjacency(self, real_only: bool = True) -> sp.csr_array:
        """Weighted adjacency :math:`A[u, v] = w_{uv}`, shape (n, n), float64, CSR.

        Parameters
        ----------
        real_only : bool
            Only real edges (default), or every candidate.
        """
        sel = self._real if real_only else slice(None)
        n = self.num_nodes
        return sp.csr_array((self._weight[sel], (self._src[sel], self._dst[sel])), shape=(n, n))

    def roles(self) -> np.ndarray:
        """Role of every node: ``"input"``, ``"output"``, ``"input+output"`` or ``"hidden"``."""
        roles = np.full(self.num_nodes, "hidden", dtype=object)
        is_in = np.zeros(self.num_nodes, bool)
        is_in[self._inputs] = True
        is_out = np.zeros(self.num_nodes, bool)
        is_out[self._outputs] = True
        roles[is_in] = "input"
        roles[is_out] = "output"
        roles[is_in & is_out] = "input+output"
        return roles

    def to_networkx(self) -> nx.DiGraph:
        """A ``networkx.DiGraph`` of every candidate.

        Nodes ``0 .. n-1`` carry ``block`` and ``role``; edges carry ``weight`` and ``real``; the
        graph attributes hold ``inputs`` and ``outputs`` (lists, in order).
        """
        import networkx as nx

        g = nx.DiGraph(inputs=self._inputs.tolist(), outputs=self._outputs.tolist())
        roles = self.roles()
        g.add_nodes_from(
            (i, {"block": int(b), "role": str(r)})
            for i, (b, r) in enumerate(zip(self._blocks, roles, strict=True))
        )
        g.add_edges_from(
            (int(u), int(v), {"weight": float(w), "real": bool(r)})
            for u, v, w, r in zip(self._src, self._dst, self._weight, self._real, strict=True)
        )
        return g

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> NeuralGraph:
        """Build a graph from networkx.

        Nodes are numbered ``0 .. n-1`` in :func:`networkx_node_order` (sorted labels; the graph's
        own order when the labels cannot be compared). Node attributes ``block`` (default 0) and
        ``role`` (``input``/``output``/``input+output``) are read; edge attributes ``weight``
        (default 1.0) and ``real`` (default True). The graph attributes ``inputs`` and
        ``outputs``, when present, give the role order (as written by :meth:`to_networkx`).
        An undirected graph gives both directions of every edge. Parallel edges of a multigraph
        become one candidate whose weight is their sum (as networkx's ``to_scipy_sparse_array``
        adds them) and which is real if any of them is.

        Examples
        --------
        >>> import networkx as nx
        >>> g = nx.MultiDiGraph([("b", "a"), ("b", "a"), ("a", "c")])
        >>> ng = NeuralGraph.from_networkx(g)  # nodes a, b, c -> 0, 1, 2
        >>> ng.adjacency().toarray()
        array([[0., 0., 1.],
               [2., 0., 0.],
               [0., 0., 0.]])
        """
        import networkx as nx

        if not isinstance(graph, nx.Graph):
            raise ValueError(
                f"graph: expected a networkx Graph or DiGraph, found {_describe(graph)}"
            )
        nodes = networkx_node_order(graph)
        index = {u: i for i, u in enumerate(nodes)}
        edges = list(graph.edges(data=True))
        if not graph.is_directed():
            edges = edges + [(v, u, d) for u, v, d in edges if u != v]
        src = np.asarray([index[u] for u, _, _ in edges], dtype=np.int64)
        dst = np.asarray([index[v] for _, v, _ in edges], dtype=np.int64)
        try:
            weight = np.asarray([d.get("weight", 1.0) for _, _, d in edges], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weight: expected numeric edge weights ({exc})") from None
        real = np.asarray([bool(d.get("real", True)) for _, _, d in edges], dtype=bool)
        if graph.is_multigraph() and src.size:
            keys, inverse = np.unique(src * len(nodes) + dst, return_inverse=True)
            weight = np.bincount(inverse, weights=weight, minlength=keys.size)
            real = np.bincount(inverse, weights=real, minlength=keys.size) > 0
            src, dst = np.divmod(keys, len(nodes))
        blocks = [graph.nodes[u].get("block", 0) for u in nodes]
        if "inputs" in graph.graph and "outputs" in graph.graph:
            inputs = [index[u] for u in graph.graph["inputs"]]
            outputs = [index[u] for u in graph.graph["outputs"]]
        else:
            role = [str(graph.nodes[u].get("role", "hidden")) for u in nodes]
            inputs = [i for i, r in enumerate(role) if r in ("input", "input+output")]
            outputs = [i for i, r in enumerate(role) if r in ("output", "input+output")]
        return cls(
            src,
            dst,
            weight,
            num_nodes=len(nodes),
            blocks=blocks,
            inputs=inputs,
            outputs=outputs,
            real=real,
        )

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph to one ``.npz`` file, atomically (temp file, fsync, rename).

        The file holds the arrays ``src``, ``dst``, ``weight``, ``real``, ``blocks``, ``inputs``,
        ``outputs`` and a JSON ``header`` (a unicode scalar) with the format name, version and
        ``num_nodes``; no object arrays, so it loads with ``allow_pickle=False``. The file is
        written exactly at ``path`` (no suffix is added).
        """
        path = Path(path)
        header = json.dumps(
            {"format": FORMAT_NAME, "version": FORMAT_VERSION, "num_nodes": self.num_nodes}
        )
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in _ARRAY_KEYS}
        with _atomic_open(path) as fh:
            np.savez(fh, header=np.array(header), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuralGraph:
        """Read a graph written by :meth:`save`; never unpickles (``allow_pickle=False``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no graph file at {path}")
        if not zipfile.is_zipfile(path):  # np.load would otherwise try to read it as a pickle
            raise ValueError(f"path: {path} is not a readable .npz graph file (not a zip archive)")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in ("header", *_ARRAY_KEYS) if k not in data.files]
                if missing:
                    raise ValueError(
                        f"path: {path} is not a neural-wiring graph file "
                        f"(expected arrays {['header', *_ARRAY_KEYS]}, missing {missing})"
                    )
                header = json.loads(str(data["header"][()]))
                arrays = {k: data[k] for k in _ARRAY_KEYS}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"path: {path} is not a readable .npz graph file ({exc})") from exc
        if header.get("format") != FORMAT_NAME:
            raise ValueError(
                f"path: expected format {FORMAT_NAME!r}, found {header.get('format')!r}"
            )
        if header.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"path: expected format version {FORMAT_VERSION}, found {header.get('version')!r}"
            )
        return cls(
            arrays["src"],
            arrays["dst"],
            arrays["weight"],
            num_nodes=int(header["num_nodes"]),
            blocks=arrays["blocks"],
            inputs=arrays["inputs"],
            outputs=arrays["outputs"],
            real=arrays["real"],
        )

    # ------------------------------------------------------------------ structure (real edges)
    def is_acyclic(self) -> bool:
        """Whether the real edges form a directed acyclic graph (self-loops count as cycles)."""
        r = self._real
        return _topological_levels(self.num_nodes, self._src[r], self._dst[r]) is not None

    def longest_path_length(self) -> int:
        """Number of edges on the longest directed path over real edges.

        Raises
        ------
        ValueError
            If the real edges contain a cycle (the longest path is then unbounded).
        """
        r = self._real
        level = _topological_levels(self.num_nodes, self._src[r], self._dst[r])
        if level is None:
            raise ValueError("graph: longest_path_length needs acyclic real edges, found a cycle")
        return int(level.max()) if level.size else 0

    def effective_edges(self) -> np.ndarray:
        """Mask of real edges that lie on some input -> output path, bool, shape (m,).

        An edge ``u -> v`` is effective when ``u`` is reachable from an input node and an output
        node is reachable from ``v`` (both over real edges). ``effective_edges().sum()`` is the
        effective edge count.

        Examples
        --------
        >>> g = NeuralGraph([0, 1, 0], [1, 2, 3], [1.0, 1.0, 1.0], num_nodes=4,
        ...                 inputs=[0], outputs=[2])
        >>> g.effective_edges()
        array([ True,  True, False])
        """
        r = self._real
        s, d = self._src[r], self._dst[r]
        forward = _reachable(self.num_nodes, s, d, self._inputs)
        backward = _reachable(self.num_nodes, d, s, self._outputs)
        return r & forward[self._src] & backward[self._dst]
