"""Spectra of a wiring: scree values α(K, t), saturation time, algebraic connectivity.

Eigenvalues are those of the Laplacian ``L = D - W`` of the undirected view (see :mod:`.heat`).
Each measure has an exact dense path (all eigenvalues, small graphs) and a sparse one (a sparse
eigensolver for the smallest eigenvalues, stochastic Lanczos quadrature for the rest of the
spectrum); ``method="auto"`` picks by size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from ._graphs import GraphData, GraphLike, as_graph
from ._numerics import (
    Method,
    _check_dense_size,
    _check_fraction,
    _check_method,
    _check_times,
    _eigvalsh,
    _laplacian,
    _num_eigs,
    _project_out_null_space,
    _slq,
    _smallest_positive_eigs,
)

__all__ = ["algebraic_connectivity", "saturation_time", "scree"]


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
        _check_dense_size(
            g.num_nodes,
            "the dense scree path",
            "Use method='sparse' (or 'auto'): exact smallest eigenvalues plus stochastic "
            "Lanczos quadrature, with an error bound from return_error=True",
        )
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
