"""Heat diffusion on a wiring: the Laplacian, the heat kernel, heat signatures and their distance.

All of them use the undirected view of the graph, ``W = max(|A|, |A^T|)`` elementwise over real
edges (``weighted=False``: 1 per edge), without self-loops, and its Laplacian ``L = D - W``
(Subramaniam & Sharma, *N2NSkip*, eqs. 3-6). Node order is the graph's node order (``0..n-1``;
sorted nodes for networkx graphs). Each measure with two paths has an exact dense one (an
eigendecomposition, small graphs) and a sparse one (the action of ``exp(-tL)`` on a vector, no
eigendecomposition); ``method="auto"`` picks by size.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._graphs import GraphLike, as_graph
from ._numerics import (
    Method,
    _check_dense_size,
    _check_method,
    _check_times,
    _eigh,
    _heat_action,
    _laplacian,
    _source_vector,
)

__all__ = ["heat_kernel", "heat_signature", "laplacian", "signature_distance"]


def laplacian(graph: GraphLike, *, normalized: bool = False, weighted: bool = True) -> sp.csr_array:
    r"""Graph Laplacian of the undirected view.

    .. math::

        L = D - W, \qquad D = \operatorname{diag}(W \mathbf 1), \qquad
        W = \max(|A|, |A^\top|) \ \text{(elementwise, self-loops removed)}

    and, with ``normalized=True``, :math:`\mathcal L = D^{-1/2} L D^{-1/2}` with the convention of
    Chung (1997) that rows and columns of isolated nodes are 0 (networkx puts 1 on their diagonal).

    Source: Subramaniam & Sharma, *N2NSkip*, eq. 3; F. Chung, *Spectral Graph Theory* (1997), ch. 1.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
        ``A[u, v]`` = weight of ``u -> v``.
    normalized : bool
        Return the symmetric normalized Laplacian.
    weighted : bool
        Use ``|weights|`` (True) or 1 per edge (False).

    Returns
    -------
    scipy.sparse.csr_array, shape (n, n)
        Rows and columns in node order.

    Examples
    --------
    >>> import numpy as np
    >>> laplacian(np.array([[0, 1, 0], [0, 0, 2], [0, 0, 0]])).toarray()
    array([[ 1., -1.,  0.],
           [-1.,  3., -2.],
           [ 0., -2.,  2.]])
    """
    g = as_graph(graph)
    return _laplacian(g, normalized=normalized, weighted=weighted)


def heat_kernel(graph: GraphLike, t: float, *, weighted: bool = True) -> np.ndarray:
    r"""Heat kernel of the undirected view, dense; for small graphs.

    .. math::

        H(t) = U e^{-\Lambda t} U^\top = \exp(-tL), \qquad L = U \Lambda U^\top

    :math:`H_{ij}(t)` is the heat at node ``j`` at time ``t`` from a unit of heat put at node ``i``.

    Source: Subramaniam & Sharma, *N2NSkip*, eq. 4; Kondor & Lafferty, *Diffusion kernels on graphs
    and other discrete structures* (ICML 2002).

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    t : float
        Diffusion time, ``t >= 0``.
    weighted : bool
        Use ``|weights|`` (True) or 1 per edge (False).

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Symmetric; rows and columns in node order; every row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> h = heat_kernel(np.array([[0, 1], [0, 0]]), 1.0)  # L = [[1, -1], [-1, 1]]
    >>> np.round(h, 6)                                    # (1 +- e^{-2}) / 2
    array([[0.567668, 0.432332],
           [0.432332, 0.567668]])
    """
    times, scalar = _check_times(t)
    if not scalar:
        raise TypeError(f"t: heat_kernel takes one time (a number), found shape {times.shape}")
    g = as_graph(graph)
    _check_dense_size(
        g.num_nodes,
        "heat_kernel",
        "For the heat from given nodes use heat_signature(graph, t, sources=...), whose sparse "
        "path never forms the kernel",
    )
    lam, u = _eigh(g, weighted)
    return (u * np.exp(-lam * times[0])) @ u.T


def heat_signature(
    graph: GraphLike,
    t: float | np.ndarray,
    *,
    sources: np.ndarray | None = None,
    weighted: bool = True,
    method: Method = "auto",
) -> np.ndarray:
    r"""Heat diffusion signature: where heat put on the source nodes is at time ``t``.

    .. math::

        S(t) = H(t)\, a = e^{-tL} a, \qquad a_i = 1 \text{ if } i \text{ is a source, else } 0

    Heat is conserved: :math:`\sum_i S_i(t) = \sum_i a_i` for every ``t``.

    Source: Subramaniam & Sharma, *N2NSkip*, eq. 5 (there ``A`` is the source vector).

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    t : float or array_like, shape (T,)
        Diffusion time(s), ``>= 0``.
    sources : array_like of int, shape (s,), or bool mask, shape (n,), optional
        Source node indices. Default: the graph's input nodes (``NeuralGraph.inputs``); matrices and
        networkx graphs have none, so they need ``sources``.
    weighted : bool
        Use ``|weights|`` (True) or 1 per edge (False).
    method : {"auto", "dense", "sparse"}
        ``"dense"``: eigendecomposition ``U e^{-Λt} U^T a`` (exact, O(n^3)); ``"sparse"``: one
        Chebyshev expansion of ``e^{-tL}`` shared by all times (no eigendecomposition; about
        ``sqrt(t ρ log(1/tol))`` sparse products, ρ the largest weighted degree; 2-norm error at
        most ``1e-12 * ||a||``). ``"auto"``: dense up to 1,000 nodes.

    Returns
    -------
    numpy.ndarray
        Shape (n,) for a scalar ``t``, (n, T) for an array; rows in node order.

    Examples
    --------
    >>> import numpy as np
    >>> path = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    >>> s = heat_signature(path, [0.0, 1.0, 100.0], sources=[0])
    >>> s.shape
    (3, 3)
    >>> np.round(s[:, -1], 6)  # saturated: the heat is spread evenly
    array([0.333333, 0.333333, 0.333333])
    >>> float(np.round(s[:, 1].sum(), 12))  # heat is conserved
    1.0
    """
    g = as_graph(graph)
    times, scalar = _check_times(t)
    a = _source_vector(g, sources)
    method = _check_method(method, g.num_nodes, "heat_signature")
    if method == "dense":
        _check_dense_size(
            g.num_nodes,
            "the dense heat_signature path",
            "Use method='sparse' (or 'auto'), the action of exp(-tL) on the source vector",
        )
        lam, u = _eigh(g, weighted)
        s = u @ (np.exp(-np.outer(lam, times)) * (u.T @ a)[:, None])
    else:
        s = _heat_action(_laplacian(g, normalized=False, weighted=weighted), a, times)
    return s[:, 0] if scalar else s


def signature_distance(
    reference: GraphLike,
    graph: GraphLike,
    t: float | np.ndarray,
    *,
    sources: np.ndarray | None = None,
    weighted: bool = True,
    method: Method = "auto",
) -> float | np.ndarray:
    r"""Distance between the heat signatures of two graphs on the same nodes.

    .. math::

        F(t) = \lVert S_\text{ref}(t) - S(t) \rVert_2

    Source: Subramaniam & Sharma, *N2NSkip*, eq. 6 (they use large ``t``: saturated heat).

    Parameters
    ----------
    reference, graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
        Two graphs on the same nodes (same count; same labels for networkx graphs).
    t : float or array_like, shape (T,)
    sources : array_like of int, optional
        Source nodes for both. Default: the input nodes, which must then be the same in both graphs.
    weighted, method
        As in :func:`heat_signature`.

    Returns
    -------
    float or numpy.ndarray, shape (T,)

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.roll(np.eye(4), 1, axis=1)  # 0->1->2->3->0
    >>> float(signature_distance(ring, ring, 1.0, sources=[0]))
    0.0
    >>> path = np.diag(np.ones(3), 1)            # 0->1->2->3
    >>> bool(signature_distance(ring, path, 1.0, sources=[0]) > 0)
    True
    """
    ref = as_graph(reference, "reference")
    g = as_graph(graph)
    if ref.num_nodes != g.num_nodes:
        raise ValueError(
            f"graph: expected the same nodes as reference ({ref.num_nodes} nodes), "
            f"found {g.num_nodes} nodes"
        )
    if (ref.nodes is not None or g.nodes is not None) and ref.node_labels != g.node_labels:
        raise ValueError("graph: expected the same node labels as reference, found different ones")
    if sources is None:
        a_ref = _source_vector(ref, None, "sources (reference's inputs)")
        a_g = _source_vector(g, None, "sources (graph's inputs)")
        if not np.array_equal(a_ref, a_g):
            raise ValueError(
                "sources: reference and graph have different input nodes; pass sources= to "
                "compare them from the same initial heat"
            )
        sources = np.flatnonzero(a_ref)
    s_ref = heat_signature(ref, t, sources=sources, weighted=weighted, method=method)
    s = heat_signature(g, t, sources=sources, weighted=weighted, method=method)
    f = np.linalg.norm(s_ref - s, axis=0)
    return float(f) if np.ndim(f) == 0 else f
