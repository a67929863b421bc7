"""Spectral measures of a wiring: Laplacian, heat kernel and signatures, scree, algebraic connectivity.

All spectral measures use the undirected view of the graph, ``W = max(|A|, |A^T|)`` elementwise over
real edges (``weighted=False``: 1 per edge), without self-loops, and its Laplacian ``L = D - W``
(Subramaniam & Sharma, *N2NSkip*, eq. 3). Node order is the graph's node order (``0..n-1``; sorted
nodes for networkx graphs).

Each measure has an exact dense path (an eigendecomposition, for small graphs) and a sparse path
(``expm_multiply``, a sparse eigensolver, stochastic Lanczos quadrature) for large ones; ``method=
"auto"`` picks by size and ``"dense"``/``"sparse"`` force one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._graphs import GraphData, GraphLike, as_graph

__all__ = [
    "algebraic_connectivity",
    "heat_kernel",
    "heat_signature",
    "laplacian",
    "saturation_time",
    "scree",
    "signature_distance",
]

Method = Literal["auto", "dense", "sparse"]

#: ``method="auto"`` uses the dense path up to this many nodes (per measure).
DENSE_MAX_NODES = {"heat_signature": 1000, "scree": 2000, "algebraic_connectivity": 1000}
#: ``heat_kernel`` refuses graphs above this size: the (n, n) float64 result alone would not fit.
HEAT_KERNEL_MAX_NODES = 20_000


# ---- argument checking ------------------------------------------------------------------------


def _check_method(method: str, n: int, measure: str) -> str:
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method: expected 'auto', 'dense' or 'sparse', found {method!r}")
    if method == "auto":
        return "dense" if n <= DENSE_MAX_NODES[measure] else "sparse"
    return method


def _check_times(t: object, name: str = "t") -> tuple[np.ndarray, bool]:
    """Return the times as a 1-D float array and whether ``t`` was a scalar."""
    try:
        arr = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: expected a number or a 1-D array of numbers, found {t!r}"
        ) from None
    if arr.ndim > 1:
        raise ValueError(f"{name}: expected a scalar or a 1-D array, found shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one time, found an empty array")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: expected finite times >= 0, found {arr.tolist()}")
    return np.atleast_1d(arr), arr.ndim == 0


def _check_fraction(fraction: object) -> tuple[np.ndarray, bool]:
    try:
        arr = np.asarray(fraction, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"fraction: expected a number in [0, 1], found {fraction!r}") from None
    if arr.ndim > 1:
        raise ValueError(f"fraction: expected a scalar or a 1-D array, found shape {arr.shape}")
    if arr.size == 0 or not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"fraction: expected numbers in [0, 1], found {arr.tolist()}")
    return np.atleast_1d(arr), arr.ndim == 0


def _num_eigs(fraction: np.ndarray, n: int) -> np.ndarray:
    """K = round(fraction * (n - 1)), the number of nontrivial eigenvalues in the numerator."""
    # np.rint rounds half to even; floor(x + 0.5) is the schoolbook rounding the issue means.
    return np.floor(fraction * (n - 1) + 0.5).astype(np.int64)


def _source_vector(g: GraphData, sources: object, name: str = "sources") -> np.ndarray:
    """The 0/1 heat source vector ``a``, shape (n,)."""
    n = g.num_nodes
    if sources is None:
        if g.inputs is None:
            raise ValueError(
                f"{name}: this graph (a matrix or networkx graph) has no input nodes; "
                "pass sources=<node indices> to say where the heat starts"
            )
        if g.inputs.size == 0:
            raise ValueError(
                f"{name}: the graph has no input nodes; pass sources=<node indices> "
                "to say where the heat starts"
            )
        idx = g.inputs
    else:
        arr = np.asarray(sources)
        if arr.dtype == np.bool_:
            if arr.shape != (n,):
                raise ValueError(
                    f"{name}: a boolean mask must have shape ({n},), found {arr.shape}"
                )
            idx = np.flatnonzero(arr)
        else:
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(
                    f"{name}: expected a 1-D array of node indices (integers) or a boolean mask, "
                    f"found dtype {arr.dtype} and shape {arr.shape}"
                )
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(
                    f"{name}: node indices must lie in [0, {n - 1}], "
                    f"found {int(arr.min())}..{int(arr.max())}"
                )
            idx = arr
        if idx.size == 0:
            raise ValueError(f"{name}: expected at least one source node, found none")
    a = np.zeros(n)
    a[idx] = 1.0
    return a


# ---- Laplacian --------------------------------------------------------------------------------


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


def _laplacian(g: GraphData, *, normalized: bool, weighted: bool) -> sp.csr_array:
    key = f"laplacian-{normalized}-{weighted}"
    if key in g._cache:
        return g._cache[key]
    w = g.sym(weighted)
    d = np.asarray(w.sum(axis=1)).ravel()
    if normalized:
        with np.errstate(divide="ignore"):
            dis = np.where(d > 0, 1.0 / np.sqrt(d), 0.0)
        dm = sp.diags_array(dis)
        lap = sp.diags_array((d > 0).astype(np.float64)) - dm @ w @ dm
    else:
        lap = sp.diags_array(d) - w
    lap = sp.csr_array(lap)
    lap.sort_indices()
    g._cache[key] = lap
    return lap


def _eigh(g: GraphData, weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Dense eigendecomposition of L: eigenvalues ascending, shape (n,); eigenvectors (n, n)."""
    key = f"eigh-{weighted}"
    if key not in g._cache:
        lam, u = sla.eigh(_laplacian(g, normalized=False, weighted=weighted).toarray())
        lam = np.maximum(lam, 0.0)  # L is positive semidefinite; clip rounding below 0
        g._cache[key] = (lam, u)
    return g._cache[key]


def _eigvalsh(g: GraphData, weighted: bool) -> np.ndarray:
    key = f"eigh-{weighted}"
    if key in g._cache:
        return g._cache[key][0]
    vkey = f"eigvalsh-{weighted}"
    if vkey not in g._cache:
        lam = sla.eigvalsh(_laplacian(g, normalized=False, weighted=weighted).toarray())
        g._cache[vkey] = np.maximum(lam, 0.0)
    return g._cache[vkey]


def _check_dense_size(n: int, what: str) -> None:
    if n > HEAT_KERNEL_MAX_NODES:
        raise ValueError(
            f"graph: {what} builds a dense (n, n) matrix; n = {n} is above the limit of "
            f"{HEAT_KERNEL_MAX_NODES} nodes ({8 * n * n / 2**30:.1f} GiB). "
            "Use heat_signature (sparse, expm_multiply) instead"
        )


# ---- heat kernel and signatures -----------------------------------------------------------------


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
    _check_dense_size(g.num_nodes, "heat_kernel")
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
        ``"dense"``: eigendecomposition ``U e^{-Λt} U^T a`` (exact, O(n^3)); ``"sparse"``:
        ``scipy.sparse.linalg.expm_multiply`` stepping through the sorted times (no
        eigendecomposition; O(edges * t * ||L||)). ``"auto"``: dense up to 1,000 nodes.

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
        _check_dense_size(g.num_nodes, "the dense heat_signature path")
        lam, u = _eigh(g, weighted)
        s = u @ (np.exp(-np.outer(lam, times)) * (u.T @ a)[:, None])
    else:
        s = _expm_multiply_times(_laplacian(g, normalized=False, weighted=weighted), a, times)
    return s[:, 0] if scalar else s


def _expm_multiply_times(lap: sp.csr_array, a: np.ndarray, times: np.ndarray) -> np.ndarray:
    """e^{-t L} a for each t, stepping from one sorted time to the next; shape (n, T)."""
    order = np.argsort(times, kind="stable")
    out = np.empty((a.size, times.size))
    x, prev = a.copy(), 0.0
    neg = -lap
    trace = float(neg.diagonal().sum())
    norm1 = 2.0 * float(lap.diagonal().max(initial=0.0))  # ||L||_1 <= 2 max degree
    for i in order:
        dt = float(times[i]) - prev
        if dt * norm1 < 1e-8:
            # e^{-dt L} x = x - dt L x + O((dt ||L||)^2): exact to rounding here. expm_multiply
            # itself divides by zero for subnormal dt.
            if dt > 0:
                x = x - dt * (lap @ x)
        else:
            x = spla.expm_multiply(neg * dt, x, traceA=trace * dt)
        prev = float(times[i])
        out[:, i] = x
    return out


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


# ---- spectra: exact and estimated ---------------------------------------------------------------


@dataclass(frozen=True)
class _Spectrum:
    """What the scree sums need from the spectrum of L.

    ``zeros``: the number of zero eigenvalues (connected components ``c``). ``exact``: known
    positive eigenvalues, ascending (all of them on the dense path). On the sparse path the rest of
    the spectrum (``n - c - len(exact)`` eigenvalues) is a stochastic-Lanczos-quadrature measure:
    per probe ``p`` the nodes ``nodes[p]`` and weights ``weights[p]`` (each probe's weights sum to the
    number of remaining eigenvalues, ``rest``).
    """

    n: int
    zeros: int
    exact: np.ndarray
    nodes: np.ndarray | None = None  # (P, m)
    weights: np.ndarray | None = None  # (P, m)

    @property
    def rest(self) -> int:
        return self.n - self.zeros - self.exact.size

    def smallest_positive(self) -> float:
        cands = [self.exact[0]] if self.exact.size else []
        if self.nodes is not None and self.rest > 0:
            cands.append(float(self.nodes[self.weights > 0].min()))
        return float(min(cands)) if cands else 0.0

    def alpha(self, k: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """α(K, t) for each K (shape (F,)) and t (shape (T,)); and its error bound, shape (F, T)."""
        # Shift every exponent by s = the smallest eigenvalue in the sums, so that the largest term
        # is e^0 = 1 and large t does not underflow to 0/0. The shift cancels in the ratio.
        s = 0.0 if self.zeros > 1 else self.smallest_positive()
        extra = self.zeros - 1  # zero eigenvalues beyond λ1: each contributes e^{-t*0} = 1
        lam = self.exact
        e_exact = np.exp(-np.outer(t, lam - s))  # (T, q)
        c_exact = np.concatenate([np.zeros((t.size, 1)), np.cumsum(e_exact, axis=1)], axis=1)
        z = np.exp(t * s) if extra > 0 else np.zeros_like(t)  # e^{-t(0 - s)}; s = 0 when extra > 0
        alpha = np.empty((k.size, t.size))
        err = np.zeros((k.size, t.size))
        if self.nodes is None or self.rest == 0:
            den = extra * z + c_exact[:, -1]
            for i, kk in enumerate(k):
                nz = min(int(kk), extra)
                num = nz * z + c_exact[:, min(int(kk) - nz, lam.size)]
                alpha[i] = _ratio(num, den)
            return alpha, err

        nodes, weights = self.nodes, self.weights
        probes = nodes.shape[0]
        e_rest = np.exp(-(nodes[None, :, :] - s) * t[:, None, None])  # (T, P, m)
        per_probe_den = np.sum(weights[None] * e_rest, axis=2)  # (T, P)
        den_known = extra * z + c_exact[:, -1]  # (T,)
        den_p = den_known[:, None] + per_probe_den  # (T, P): each probe's estimate
        den = den_p.mean(axis=1)
        # merged measure over all probes, sorted by node, for the partial sums
        flat_nodes = nodes.ravel()
        order = np.argsort(flat_nodes, kind="stable")
        sorted_nodes = flat_nodes[order]
        sorted_w = weights.ravel()[order] / probes
        cum_w = np.cumsum(sorted_w)
        for i, kk in enumerate(k):
            kk = int(kk)
            nz = min(kk, extra)
            nq = min(kk - nz, lam.size)
            kr = kk - nz - nq  # eigenvalues wanted from the estimated part of the spectrum
            num_known = nz * z + c_exact[:, nq]
            if kr <= 0:
                num_p = np.broadcast_to(num_known[:, None], den_p.shape)
                bound = np.zeros(t.size)
            else:
                # threshold λ*: the merged quadrature measure holds kr eigenvalues below it
                j = int(np.searchsorted(cum_w, kr, side="left"))
                j = min(j, sorted_nodes.size - 1)
                lam_star = sorted_nodes[j]
                below = np.concatenate([[0.0], cum_w])[j]
                frac = (kr - below) / sorted_w[j] if sorted_w[j] > 0 else 0.0
                frac = float(np.clip(frac, 0.0, 1.0))
                # per probe: full weight of nodes < λ*, a fraction `frac` of nodes at λ*
                w_cut = np.where(nodes < lam_star, weights, 0.0) + frac * np.where(
                    nodes == lam_star, weights, 0.0
                )
                num_p = num_known[:, None] + np.sum(w_cut[None] * e_rest, axis=2)
                # Gauss quadrature (Chebyshev-Markov-Stieltjes): the true per-probe distribution
                # function at λ* is within one quadrature weight of the quadrature's, and the
                # eigenvalues it misplaces lie between the neighbouring nodes. Bound per probe:
                # (weight of the probe's node straddling λ*) * e^{-t (previous node - s)}.
                bound = np.zeros(t.size)
                for p in range(probes):
                    idx = int(np.searchsorted(nodes[p], lam_star, side="left"))
                    idx = min(idx, nodes.shape[1] - 1)
                    prev_node = nodes[p, idx - 1] if idx > 0 else nodes[p, 0]
                    bound += weights[p, idx] * np.exp(-t * (prev_node - s))
                bound /= probes
            num = num_p.mean(axis=1)
            alpha[i] = _ratio(num, den)
            # stochastic part: standard error of the ratio of means (delta method) across probes
            resid = num_p - alpha[i][:, None] * den_p
            se = np.sqrt(np.var(resid, axis=1, ddof=1) / probes) / np.maximum(den, 1e-300)
            err[i] = 4.0 * se + bound / np.maximum(den, 1e-300)
        return np.clip(alpha, 0.0, 1.0), err


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return np.clip(r, 0.0, 1.0)


def _dense_spectrum(g: GraphData, weighted: bool) -> _Spectrum:
    lam = _eigvalsh(g, weighted)
    c, _ = g.components(weighted)
    # The c smallest eigenvalues are the zeros (one per component); rounding makes them ~1e-15.
    return _Spectrum(n=g.num_nodes, zeros=c, exact=np.sort(lam)[c:])


def _project_out_null_space(g: GraphData, weighted: bool, x: np.ndarray) -> np.ndarray:
    """x minus its projection on the null space of L (constant per component), shape (n, p).

    The null space is spanned by the component indicator vectors; projecting them out is
    subtracting each component's mean, done with bincount (no dense (n, c) basis: a graph with
    many isolated nodes has many components).
    """
    c, labels = g.components(weighted)
    sizes = np.bincount(labels, minlength=c).astype(np.float64)
    means = np.stack(
        [np.bincount(labels, weights=x[:, j], minlength=c) / sizes for j in range(x.shape[1])],
        axis=1,
    )
    return x - means[labels]


def _deflated_operator(g: GraphData, weighted: bool) -> tuple[spla.LinearOperator, float]:
    """L + β P0 with P0 the projector onto the null space of L: its smallest eigenvalues are the
    positive eigenvalues of L (the zero ones move to β, an upper bound of λ_max). Shape (n, n)."""
    lap = _laplacian(g, normalized=False, weighted=weighted)
    c, labels = g.components(weighted)
    sizes = np.bincount(labels, minlength=c).astype(np.float64)
    beta = 2.0 * float(lap.diagonal().max()) + 1.0  # Gershgorin: λ_max <= 2 max degree

    def matvec(x: np.ndarray) -> np.ndarray:
        x2 = x.reshape(g.num_nodes, -1)
        means = np.stack(
            [
                np.bincount(labels, weights=x2[:, j], minlength=c) / sizes
                for j in range(x2.shape[1])
            ],
            axis=1,
        )
        y = lap @ x2 + beta * means[labels]
        return y.reshape(x.shape)

    op = spla.LinearOperator(
        (g.num_nodes, g.num_nodes), matvec=matvec, matmat=matvec, dtype=np.float64
    )
    return op, beta


def _smallest_positive_eigs(
    g: GraphData, weighted: bool, k: int, *, tol: float = 1e-10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest positive eigenvalues of L (ascending) and eigenvectors, shapes (k,), (n, k)."""
    n = g.num_nodes
    c, _ = g.components(weighted)
    k = min(k, n - c)
    if k <= 0:
        return np.zeros(0), np.zeros((n, 0))
    if n - c <= k + 1 or n < 3:
        lam, u = _eigh(g, weighted)
        return lam[c : c + k], u[:, c : c + k]
    op, _ = _deflated_operator(g, weighted)
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n)
    ncv = min(n - 1, max(2 * k + 1, 20 + k))
    try:
        lam, u = spla.eigsh(op, k=k, which="SA", tol=tol, v0=v0, ncv=ncv, maxiter=n * 10)
    except spla.ArpackNoConvergence as exc:  # keep what converged
        lam, u = exc.eigenvalues, exc.eigenvectors
    order = np.argsort(lam)
    return np.maximum(lam[order], 0.0), u[:, order]


def _slq(
    op: spla.LinearOperator,
    n: int,
    project: Callable[[np.ndarray], np.ndarray],
    *,
    probes: int,
    steps: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Lanczos quadrature of L restricted to the range of the projector ``project``.

    Returns nodes and weights, shape (probes, steps): for each Rademacher probe z (projected onto
    the complement of the deflated eigenvectors, z' = project(z)),
    ``Σ_j weights[p, j] f(nodes[p, j]) ≈ z'^T f(L) z'``.
    Lanczos runs on all probes at once (one sparse mat-mat product per step) with local
    re-orthogonalization only; Gauss quadrature stays accurate without full re-orthogonalization
    (Knizhnerman 1996; Chen, Trogdon & Ubaru 2021).
    """
    rng = np.random.default_rng(seed)
    z = rng.choice(np.array([-1.0, 1.0]), size=(n, probes))
    z = project(z)
    norms2 = np.sum(z * z, axis=0)
    v = z / np.sqrt(norms2)
    v_prev = np.zeros_like(v)
    alphas = np.zeros((steps, probes))
    betas = np.zeros((steps, probes))
    active = np.ones(probes, dtype=bool)
    length = np.full(probes, steps)
    beta_prev = np.zeros(probes)
    for j in range(steps):
        w = op.matmat(v)
        a = np.sum(v * w, axis=0)
        w -= a * v + beta_prev * v_prev
        w -= v * np.sum(v * w, axis=0)  # local re-orthogonalization against the current vector
        b = np.linalg.norm(w, axis=0)
        alphas[j] = np.where(active, a, 0.0)
        scale = np.maximum(np.abs(a), 1.0)
        broke = active & (b <= 1e-10 * scale)
        length[broke] = j + 1
        active &= ~broke
        betas[j] = np.where(active, b, 0.0)
        if not active.any():
            break
        v_prev, v = v, np.where(active, w / np.where(b > 0, b, 1.0), 0.0)
        beta_prev = betas[j]
    nodes = np.zeros((probes, steps))
    weights = np.zeros((probes, steps))
    for p in range(probes):
        m = int(length[p])
        theta, y = sla.eigh_tridiagonal(alphas[:m, p], betas[: m - 1, p])
        nodes[p, :m] = theta
        weights[p, :m] = norms2[p] * y[0] ** 2
        if m < steps:  # pad with zero-weight copies of the largest node (sorted order kept)
            nodes[p, m:] = theta[-1]
    return np.maximum(nodes, 0.0), weights


def _sparse_spectrum(
    g: GraphData,
    weighted: bool,
    *,
    exact_eigenvalues: int,
    probes: int,
    lanczos_steps: int,
    seed: int,
) -> _Spectrum:
    key = f"sparse-spectrum-{weighted}-{exact_eigenvalues}-{probes}-{lanczos_steps}-{seed}"
    if key in g._cache:
        return g._cache[key]
    n = g.num_nodes
    c, _ = g.components(weighted)
    lam, vecs = _smallest_positive_eigs(g, weighted, exact_eigenvalues, seed=seed)
    rest = n - c - lam.size
    if rest <= 0:
        spec = _Spectrum(n=n, zeros=c, exact=lam)
    else:
        lap = _laplacian(g, normalized=False, weighted=weighted)
        op = spla.aslinearoperator(lap)

        def project(z: np.ndarray) -> np.ndarray:
            # the eigenvectors are orthogonal to the null space: the two projections commute
            z = _project_out_null_space(g, weighted, z)
            return z - vecs @ (vecs.T @ z) if vecs.size else z

        nodes, weights = _slq(op, n, project, probes=probes, steps=lanczos_steps, seed=seed)
        # each probe's weights sum to ||z'||^2, whose mean is `rest`; rescale per probe to `rest`
        # so that every probe's measure counts exactly the remaining eigenvalues (ratio estimator).
        # The remaining eigenvalues are >= the largest deflated one. Rounding (and the eigensolver's
        # tolerance) lets tiny components along the deflated eigenvectors back in; their nodes,
        # with weights ~1e-20, would dominate e^{-t λ} at large t. Clamp them onto the interval.
        if lam.size:
            nodes = np.maximum(nodes, lam[-1])
        sums = weights.sum(axis=1, keepdims=True)
        weights = weights * (rest / np.where(sums > 0, sums, 1.0))
        spec = _Spectrum(n=n, zeros=c, exact=lam, nodes=nodes, weights=weights)
    g._cache[key] = spec
    return spec


def _spectrum(
    g: GraphData,
    weighted: bool,
    method: str,
    *,
    exact_eigenvalues: int,
    probes: int,
    lanczos_steps: int,
    seed: int,
) -> _Spectrum:
    method = _check_method(method, g.num_nodes, "scree")
    if method == "dense":
        _check_dense_size(g.num_nodes, "the dense scree path")
        return _dense_spectrum(g, weighted)
    for name, val, lo in (
        ("exact_eigenvalues", exact_eigenvalues, 0),
        ("probes", probes, 2),
        ("lanczos_steps", lanczos_steps, 2),
    ):
        if not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"{name}: expected an integer >= {lo}, found {val!r}")
    return _sparse_spectrum(
        g,
        weighted,
        exact_eigenvalues=int(exact_eigenvalues),
        probes=int(probes),
        lanczos_steps=int(lanczos_steps),
        seed=seed,
    )


def scree(
    graph: GraphLike,
    t: float | np.ndarray,
    fraction: float | np.ndarray,
    *,
    weighted: bool = True,
    method: Method = "auto",
    exact_eigenvalues: int = 16,
    probes: int = 16,
    lanczos_steps: int = 80,
    seed: int = 0,
    return_error: bool = False,
) -> float | np.ndarray | tuple[float | np.ndarray, float | np.ndarray]:
    r"""Scree value α(K, t): the share of the heat-kernel trace held by the K smallest eigenvalues.

    With the eigenvalues of ``L`` ascending, :math:`0 = \lambda_1 \le \lambda_2 \le \dots \le
    \lambda_n`, and :math:`K = \operatorname{round}(\text{fraction} \cdot (n - 1))`:

    .. math::

        \alpha(K, t) = \frac{\sum_{k=2}^{K+1} e^{-t\lambda_k}}{\sum_{k=2}^{n} e^{-t\lambda_k}}

    Only :math:`\lambda_1` is left out; on a graph with ``c`` components the other ``c - 1`` zero
    eigenvalues each contribute :math:`e^{0} = 1` to both sums. α is non-decreasing in ``K`` and in
    ``t``, equals ``K / (n - 1)`` at ``t = 0`` and tends to 1 as ``t`` grows when the smallest
    nontrivial eigenvalue is among the ``K`` counted (not shared with eigenvalues left out).

    Source: Subramaniam & Sharma, *N2NSkip*, eq. 7 and fig. 4.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    t : float or array_like, shape (T,)
        Diffusion time(s), ``>= 0``.
    fraction : float or array_like, shape (F,)
        Fraction of the ``n - 1`` nontrivial eigenvalues counted in the numerator, in [0, 1].
    weighted : bool
        Use ``|weights|`` (True) or 1 per edge (False).
    method : {"auto", "dense", "sparse"}
        ``"dense"``: all eigenvalues (``scipy.linalg.eigvalsh``; exact). ``"sparse"``: the zero
        eigenvalues from the connected components (exact), the ``exact_eigenvalues`` smallest
        positive ones from ``scipy.sparse.linalg.eigsh`` (exact), and the rest of the spectrum from
        stochastic Lanczos quadrature with ``probes`` Rademacher probes deflated against those
        eigenvectors and ``lanczos_steps`` Lanczos steps; see ``docs/analysis.md`` for the error.
        ``"auto"``: dense up to 2,000 nodes.
    exact_eigenvalues, probes, lanczos_steps, seed : int
        Settings of the sparse path.
    return_error : bool
        Also return an error bound of the same shape: 0 on the dense path; on the sparse path
        4 standard errors over the probes plus the Gauss-quadrature bound at the cut (see
        ``docs/analysis.md``).

    Returns
    -------
    float or numpy.ndarray
        A float for scalar ``t`` and ``fraction``; shape (T,) for an array ``t``, (F,) for an array
        ``fraction``, (F, T) for both. With ``return_error``, a pair ``(alpha, error)``.

    Examples
    --------
    >>> import numpy as np
    >>> path = np.diag(np.ones(3), 1)  # P_4: eigenvalues 0, 2 - √2, 2, 2 + √2
    >>> round(scree(path, 0.0, 1 / 3), 6)  # K = 1 of 3
    0.333333
    >>> lam = np.array([2 - np.sqrt(2), 2, 2 + np.sqrt(2)])
    >>> bool(np.isclose(scree(path, 1.0, 1 / 3), np.exp(-lam[0]) / np.exp(-lam).sum()))
    True
    >>> np.round(scree(path, [0.0, 1.0, 50.0], 1 / 3), 4)
    array([0.3333, 0.7679, 1.    ])
    """
    g = as_graph(graph)
    times, t_scalar = _check_times(t)
    fracs, f_scalar = _check_fraction(fraction)
    spec = _spectrum(
        g,
        weighted,
        method,
        exact_eigenvalues=exact_eigenvalues,
        probes=probes,
        lanczos_steps=lanczos_steps,
        seed=seed,
    )
    k = _num_eigs(fracs, g.num_nodes)
    alpha, err = spec.alpha(k, times)

    def shape(x: np.ndarray) -> float | np.ndarray:
        if t_scalar and f_scalar:
            return float(x[0, 0])
        if t_scalar:
            return x[:, 0]
        if f_scalar:
            return x[0]
        return x

    if return_error:
        return shape(alpha), shape(err)
    return shape(alpha)


def saturation_time(
    graph: GraphLike,
    fraction: float,
    *,
    tol: float = 1e-3,
    weighted: bool = True,
    method: Method = "auto",
    exact_eigenvalues: int = 16,
    probes: int = 16,
    lanczos_steps: int = 80,
    seed: int = 0,
) -> float:
    r"""The time heat diffusion takes to saturate: the smallest ``t`` with α(K, t) ≥ 1 − tol.

    .. math::

        t_\text{sat} = \min\{\, t \ge 0 : \alpha(K, t) \ge 1 - \text{tol} \,\}

    α is non-decreasing in ``t``, so this is found by doubling then bisection (relative precision
    1e-6). When α never reaches ``1 - tol`` (the smallest nontrivial eigenvalue is shared by more
    eigenvalues than ``K`` counts, e.g. the complete graph) the result is ``inf``.

    Source: Subramaniam & Sharma, *N2NSkip*, fig. 4 (time to reach α(K, t) = 1).

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    fraction : float
        Fraction of the nontrivial eigenvalues, as in :func:`scree`.
    tol : float
        Saturation threshold, in (0, 1).
    weighted, method, exact_eigenvalues, probes, lanczos_steps, seed
        As in :func:`scree`.

    Returns
    -------
    float
        ``t_sat`` (``0.0`` if already saturated at ``t = 0``; ``inf`` if never).

    Examples
    --------
    >>> import numpy as np
    >>> path = np.diag(np.ones(3), 1)
    >>> t = saturation_time(path, 1 / 3)
    >>> round(t, 3), round(scree(path, t, 1 / 3), 6)
    (4.885, 0.999)
    """
    if not isinstance(tol, (int, float, np.floating)) or not 0 < tol < 1:
        raise ValueError(f"tol: expected a number in (0, 1), found {tol!r}")
    fracs, f_scalar = _check_fraction(fraction)
    if not f_scalar:
        raise TypeError(f"fraction: saturation_time takes one fraction, found shape {fracs.shape}")
    g = as_graph(graph)
    spec = _spectrum(
        g,
        weighted,
        method,
        exact_eigenvalues=exact_eigenvalues,
        probes=probes,
        lanczos_steps=lanczos_steps,
        seed=seed,
    )
    k = _num_eigs(fracs, g.num_nodes)
    target = 1.0 - float(tol)

    def alpha(tt: float) -> float:
        return float(spec.alpha(k, np.array([tt]))[0][0, 0])

    if alpha(0.0) >= target:
        return 0.0
    # time scale: 1 / (smallest nontrivial eigenvalue), or 1 when it is 0 (disconnected)
    lam_min = spec.smallest_positive()
    hi = 1.0 / lam_min if lam_min > 0 else 1.0
    lo = 0.0
    for _ in range(200):
        if alpha(hi) >= target:
            break
        lo, hi = hi, hi * 2.0
        if lam_min > 0 and hi * lam_min > 1e6:  # e^{-t λ} has long stopped changing the ratio
            return math.inf
    else:
        return math.inf
    while hi - lo > 1e-6 * hi:
        mid = 0.5 * (lo + hi)
        if alpha(mid) >= target:
            hi = mid
        else:
            lo = mid
    return float(hi)


# ---- algebraic connectivity ----------------------------------------------------------------------


def algebraic_connectivity(
    graph: GraphLike,
    *,
    weighted: bool = True,
    method: Method = "auto",
    tol: float = 1e-10,
) -> float:
    r"""Algebraic connectivity: the second-smallest eigenvalue λ₂ of the Laplacian.

    .. math::

        \lambda_2(L) = \min_{x \perp \mathbf 1,\, x \ne 0} \frac{x^\top L x}{x^\top x}

    It is 0 exactly when the graph is disconnected (returned as ``0.0`` without an eigensolver).

    Source: M. Fiedler, *Algebraic connectivity of graphs* (1973); the adaptive-sparsity paper,
    sec. 5.2; networkx's ``algebraic_connectivity`` computes the same number.

    Parameters
    ----------
    graph : NeuralGraph, scipy sparse matrix, numpy.ndarray or networkx graph
    weighted : bool
        Use ``|weights|`` (True) or 1 per edge (False).
    method : {"auto", "dense", "sparse"}
        ``"dense"``: ``scipy.linalg.eigvalsh``. ``"sparse"``: ``scipy.sparse.linalg.eigsh``
        (Lanczos) on ``L + β 11^T/n``, which moves the zero eigenvalue above the spectrum so that
        λ₂ becomes the smallest. ``"auto"``: dense up to 1,000 nodes.
    tol : float
        Relative tolerance of the sparse eigensolver.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> n = 5
    >>> path = np.diag(np.ones(n - 1), 1)
    >>> bool(np.isclose(algebraic_connectivity(path), 2 - 2 * np.cos(np.pi / n)))
    True
    >>> algebraic_connectivity(np.zeros((3, 3)))  # disconnected
    0.0
    """
    g = as_graph(graph)
    n = g.num_nodes
    if n < 2:
        return 0.0
    c, _ = g.components(weighted)
    if c > 1:
        return 0.0
    method = _check_method(method, n, "algebraic_connectivity")
    if method == "dense" or n < 4:
        lam = sla.eigvalsh(
            _laplacian(g, normalized=False, weighted=weighted).toarray(), subset_by_index=[0, 1]
        )
        return float(max(lam[1], 0.0))
    lam, _ = _smallest_positive_eigs(g, weighted, 1, tol=tol)
    return float(lam[0])
