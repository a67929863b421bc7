"""Numerical back end of the spectral measures: input checks, the Laplacian, eigensolvers, the
action of the heat kernel, and stochastic Lanczos quadrature.

Private to ``wiring.analysis``: the public measures live in :mod:`.heat` (Laplacian, heat kernel,
heat signatures and their distance) and :mod:`.spectra` (scree, saturation time, algebraic
connectivity). Every function here takes a :class:`~._graphs.GraphData` and caches what it computes
in ``GraphData._cache``, so that measures of one graph share their work.
"""

from __future__ import annotations

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


# ---- sparse eigensolvers and stochastic Lanczos quadrature ----------------------------------------


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
