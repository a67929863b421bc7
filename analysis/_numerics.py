"""Numerical back end of the spectral measures: input checks, the Laplacian, eigensolvers, the
action of the heat kernel, and stochastic Lanczos quadrature.

Private to ``wiring.analysis``: the public measures live in :mod:`.heat` (Laplacian, heat kernel,
heat signatures and their distance) and :mod:`.spectra` (scree, saturation time, algebraic
connectivity). Every function here takes a :class:`~._graphs.GraphData` and caches what it computes
in ``GraphData._cache``, so that measures of one graph share their work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._graphs import GraphData

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


# ---- Laplacian and dense eigendecompositions ---------------------------------------------------


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


def _check_dense_size(n: int, what: str, instead: str) -> None:
    """Refuse a dense (n, n) computation above ``HEAT_KERNEL_MAX_NODES``; ``instead`` says what
    works for a graph that large."""
    if n > HEAT_KERNEL_MAX_NODES:
        raise ValueError(
            f"graph: {what} builds a dense (n, n) matrix; n = {n} is above the limit of "
            f"{HEAT_KERNEL_MAX_NODES} nodes ({8 * n * n / 2**30:.1f} GiB). {instead}"
        )


# ---- action of the heat kernel --------------------------------------------------------------------


#: relative accuracy of the sparse heat-kernel action: the Chebyshev series is cut where the sum of
#: the dropped coefficients is below this (times ||a||_2, it bounds the 2-norm error)
HEAT_TOL = 1e-12


def _chebyshev_heat_coefficients(z: float, tol: float) -> np.ndarray:
    r"""Coefficients c_k of e^{-z(1 + x)} = Σ_k c_k T_k(x) on [-1, 1], cut at the first K with
    Σ_{k > K} |c_k| <= tol; shape (K + 1,).

    From the generating function of the modified Bessel functions,
    :math:`e^{-z x} = I_0(z) + 2 \sum_{k \ge 1} (-1)^k I_k(z) T_k(x)`, so
    :math:`c_k = (2 - \delta_{k0}) (-1)^k e^{-z} I_k(z)` (``scipy.special.ive``). Since
    :math:`e^{-z} I_k(z) \approx e^{-k^2 / 2z} / \sqrt{2 \pi z}`, K grows like
    :math:`\sqrt{z \log(1 / \text{tol})}`.
    """
    from scipy.special import ive

    kmax = int(z + 12.0 * math.sqrt(z + 1.0) + 40.0)
    k = np.arange(kmax + 1)
    c = ive(k, z) * np.where(k == 0, 1.0, 2.0) * np.where(k % 2 == 0, 1.0, -1.0)
    tail = np.cumsum(np.abs(c)[::-1])[::-1]  # tail[k] = Σ_{j >= k} |c_j|
    cut = np.flatnonzero(tail <= tol)
    last = int(cut[0]) - 1 if cut.size else kmax
    return c[: max(last, 0) + 1]


def _heat_action(
    lap: sp.csr_array, a: np.ndarray, times: np.ndarray, *, tol: float = HEAT_TOL
) -> np.ndarray:
    r"""e^{-tL} a for every t, shape (n, T), by one Chebyshev expansion shared by all times.

    With :math:`\rho \ge \lambda_\max(L) / 2` (Gershgorin: ρ = the largest weighted degree) and
    :math:`\tilde L = L / \rho - I`, whose spectrum lies in [-1, 1],

    .. math::

        e^{-tL} a = e^{-t\rho (I + \tilde L)} a = \sum_{k \ge 0} c_k(t\rho)\, T_k(\tilde L)\, a,
        \qquad T_{k+1}(\tilde L) a = 2 \tilde L\, T_k(\tilde L) a - T_{k-1}(\tilde L) a

    with the coefficients of :func:`_chebyshev_heat_coefficients`. The vectors
    :math:`T_k(\tilde L) a` do not depend on t: one three-term recurrence (one sparse
    matrix-vector product per term) serves every time. The series is cut where the dropped
    coefficients sum to at most ``tol``; as :math:`|T_k| \le 1` on the spectrum, the 2-norm error
    is at most ``tol * ||a||_2``. K grows like :math:`\sqrt{t\rho}`, against about
    :math:`t\|L\|_1` products for a scaling-and-squaring Taylor method (``expm_multiply``).

    Source: Hammond, Vandergheynst & Gribonval, *Wavelets on graphs via spectral graph theory*
    (2011), sec. 6 (Chebyshev approximation of graph filters); Druskin & Knizhnerman (1989).
    """
    out = np.empty((a.size, times.size))
    rho = max(float(lap.diagonal().max(initial=0.0)), 0.0)
    if rho == 0.0:  # no edges: nothing moves
        out[:] = a[:, None]
        return out
    coefs = [_chebyshev_heat_coefficients(float(t) * rho, tol) for t in times]
    steps = max(c.size for c in coefs)
    inv = 1.0 / rho
    prev, cur = a, None
    for i, c in enumerate(coefs):
        out[:, i] = c[0] * a
    for k in range(1, steps):
        if k == 1:
            nxt = lap @ a * inv - a
        else:
            nxt = lap @ cur
            nxt *= 2.0 * inv
            nxt -= 2.0 * cur
            nxt -= prev
            prev = cur
        if k == 1:
            prev = a
        cur = nxt
        for i, c in enumerate(coefs):
            if k < c.size:
                out[:, i] += c[k] * cur
    return out


# ---- sparse eigensolvers and stochastic Lanczos quadrature ----------------------------------------


def _component_means(g: GraphData, weighted: bool, x: np.ndarray) -> np.ndarray:
    """Each component's mean of every column of x, spread back to the nodes, shape (n, p).

    This is the projection of x on the null space of L (spanned by the component indicators),
    as one sparse product with the (n, c) indicator matrix (no dense (n, c) basis: a graph with
    many isolated nodes has many components).
    """
    c, labels = g.components(weighted)
    if c == 1:
        return np.broadcast_to(x.mean(axis=0), x.shape)
    key = f"indicator-{weighted}"
    if key not in g._cache:
        n = g.num_nodes
        sizes = np.bincount(labels, minlength=c).astype(np.float64)
        ind = sp.csr_array((np.ones(n), (np.arange(n), labels)), shape=(n, c))
        g._cache[key] = (ind, sizes)
    ind, sizes = g._cache[key]
    means = (ind.T @ x) / sizes[:, None]
    return means[labels]


def _project_out_null_space(g: GraphData, weighted: bool, x: np.ndarray) -> np.ndarray:
    """x minus its projection on the null space of L (constant per component), shape (n, p)."""
    return x - _component_means(g, weighted, x)


def _deflated_operator(g: GraphData, weighted: bool) -> tuple[spla.LinearOperator, float]:
    """L + β P0 with P0 the projector onto the null space of L: its smallest eigenvalues are the
    positive eigenvalues of L (the zero ones move to β, an upper bound of λ_max). Shape (n, n)."""
    lap = _laplacian(g, normalized=False, weighted=weighted)
    beta = 2.0 * float(lap.diagonal().max()) + 1.0  # Gershgorin: λ_max <= 2 max degree

    def matvec(x: np.ndarray) -> np.ndarray:
        x2 = x.reshape(g.num_nodes, -1)
        y = lap @ x2 + beta * _component_means(g, weighted, x2)
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
    # one eigensolve per graph: a request for fewer eigenvalues (algebraic_connectivity after
    # scree) reuses the larger one, computed to at least the requested tolerance
    key = f"smallest-eigs-{weighted}-{seed}"
    cached = g._cache.get(key)
    if cached is not None and cached[0] >= k and cached[1] <= tol:
        return cached[2][:k], cached[3][:, :k]
    op, _ = _deflated_operator(g, weighted)
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n)
    ncv = min(n - 1, max(2 * k + 1, 20 + k))
    try:
        lam, u = spla.eigsh(op, k=k, which="SA", tol=tol, v0=v0, ncv=ncv, maxiter=n * 10)
    except spla.ArpackNoConvergence as exc:  # keep what converged
        lam, u = exc.eigenvalues, exc.eigenvectors
    order = np.argsort(lam)
    lam, u = np.maximum(lam[order], 0.0), u[:, order]
    if lam.size == k:
        g._cache[key] = (k, tol, lam, u)
    return lam, u


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
