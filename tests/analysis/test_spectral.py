"""Spectral measures against closed forms, networkx and scipy.linalg.expm."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.linalg as sla
from analysis_helpers import dense_laplacian, random_dag, weighted_graph

from wiring.analysis import (
    algebraic_connectivity,
    heat_kernel,
    heat_signature,
    laplacian,
    saturation_time,
    scree,
    signature_distance,
)
from wiring.graph import NeuralGraph

# ---- Laplacian ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_laplacian_matches_networkx(seed: int) -> None:
    g = weighted_graph(60, 0.1, seed)
    ours = laplacian(g).toarray()
    theirs = nx.laplacian_matrix(g, nodelist=sorted(g), weight="weight").toarray()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    norm = laplacian(g, normalized=True).toarray()
    theirs_norm = nx.normalized_laplacian_matrix(g, nodelist=sorted(g), weight="weight").toarray()
    np.testing.assert_allclose(norm, theirs_norm, atol=1e-12)


def test_laplacian_unweighted_and_isolated_nodes() -> None:
    g = nx.Graph()
    g.add_nodes_from(range(4))
    g.add_edge(0, 1, weight=5.0)
    g.add_edge(1, 2, weight=0.5)
    np.testing.assert_array_equal(
        laplacian(g, weighted=False).toarray(),
        [[1, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 1, 0], [0, 0, 0, 0]],
    )
    # Chung's convention: the isolated node 3 has an all-zero row in the normalized Laplacian
    norm = laplacian(g, normalized=True).toarray()
    assert norm[3, 3] == 0.0
    assert norm[0, 0] == 1.0


# ---- heat kernel and signatures --------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "t"), [(0, 0.3), (1, 2.0), (2, 0.0)])
def test_heat_kernel_matches_expm(seed: int, t: float) -> None:
    a = random_dag(50, 150, seed)
    w = np.maximum(np.abs(a), np.abs(a.T))
    expected = sla.expm(-t * dense_laplacian(w))
    h = heat_kernel(a, t)
    np.testing.assert_allclose(h, expected, atol=1e-10)
    np.testing.assert_allclose(h.sum(axis=1), 1.0, atol=1e-10)


def test_heat_kernel_rejects_arrays_of_times() -> None:
    with pytest.raises(TypeError, match="t:"):
        heat_kernel(np.ones((3, 3)), [1.0, 2.0])


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_heat_signature_matches_expm(method: str) -> None:
    g = weighted_graph(80, 0.08, 3)
    w = nx.to_numpy_array(g, nodelist=sorted(g), weight="weight")
    lap = dense_laplacian(w)
    sources = np.array([0, 7, 30])
    a = np.zeros(80)
    a[sources] = 1.0
    times = np.array([2.0, 0.1, 0.5])  # unsorted on purpose
    s = heat_signature(g, times, sources=sources, method=method)
    assert s.shape == (80, 3)
    for i, t in enumerate(times):
        np.testing.assert_allclose(s[:, i], sla.expm(-t * lap) @ a, atol=1e-9)
    single = heat_signature(g, 0.5, sources=sources, method=method)
    assert single.shape == (80,)
    np.testing.assert_allclose(single, s[:, 2], atol=1e-9)


def test_heat_signature_dense_and_sparse_agree_on_2000_nodes() -> None:
    a = random_dag(2000, 12000, 5)
    times = np.array([0.05, 0.5, 3.0])
    sources = np.arange(0, 2000, 37)
    dense = heat_signature(a, times, sources=sources, method="dense")
    sparse = heat_signature(a, times, sources=sources, method="sparse")
    np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_heat_signature_sources_default_to_inputs() -> None:
    ng = NeuralGraph([0, 1, 1], [2, 2, 3], [1.0, 2.0, 1.0], num_nodes=4, inputs=[0, 1])
    np.testing.assert_allclose(
        heat_signature(ng, 0.7), heat_signature(ng, 0.7, sources=[0, 1]), atol=1e-14
    )
    mask = np.array([True, True, False, False])
    np.testing.assert_allclose(
        heat_signature(ng, 0.7, sources=mask), heat_signature(ng, 0.7), atol=1e-14
    )


def test_heat_signature_errors() -> None:
    a = np.diag(np.ones(3), 1)
    with pytest.raises(ValueError, match="sources"):
        heat_signature(a, 1.0)  # a matrix has no input nodes
    with pytest.raises(ValueError, match="sources"):
        heat_signature(nx.path_graph(4), 1.0)
    no_inputs = NeuralGraph([0], [1], [1.0], num_nodes=2)
    with pytest.raises(ValueError, match="no input nodes"):
        heat_signature(no_inputs, 1.0)
    with pytest.raises(ValueError, match=r"sources: node indices must lie in \[0, 3\]"):
        heat_signature(a, 1.0, sources=[4])
    with pytest.raises(TypeError, match="sources"):
        heat_signature(a, 1.0, sources=[0.5])
    with pytest.raises(ValueError, match="t: expected finite times >= 0"):
        heat_signature(a, -1.0, sources=[0])
    with pytest.raises(ValueError, match="method"):
        heat_signature(a, 1.0, sources=[0], method="fast")


def test_signature_distance() -> None:
    ref = weighted_graph(40, 0.2, 1)
    pruned = ref.copy()
    pruned.remove_edges_from(list(pruned.edges)[::2])
    times = np.array([0.1, 1.0])
    f = signature_distance(ref, pruned, times, sources=[0, 1, 2])
    s_ref = heat_signature(ref, times, sources=[0, 1, 2])
    s = heat_signature(pruned, times, sources=[0, 1, 2])
    # independent value: expm on each Laplacian
    for i, t in enumerate(times):
        a = np.zeros(40)
        a[[0, 1, 2]] = 1
        lr = dense_laplacian(nx.to_numpy_array(ref, nodelist=range(40)))
        lp = dense_laplacian(nx.to_numpy_array(pruned, nodelist=range(40)))
        expected = np.linalg.norm(sla.expm(-t * lr) @ a - sla.expm(-t * lp) @ a)
        assert f[i] == pytest.approx(expected, rel=1e-8)
    np.testing.assert_allclose(f, np.linalg.norm(s_ref - s, axis=0))
    assert signature_distance(ref, ref, 1.0, sources=[0]) == 0.0


def test_signature_distance_errors() -> None:
    with pytest.raises(ValueError, match="same nodes"):
        signature_distance(nx.path_graph(4), nx.path_graph(5), 1.0, sources=[0])
    a = NeuralGraph([0, 1], [1, 2], [1.0, 1.0], num_nodes=3, inputs=[0])
    b = NeuralGraph([0, 1], [1, 2], [1.0, 1.0], num_nodes=3, inputs=[1])
    with pytest.raises(ValueError, match="different input nodes"):
        signature_distance(a, b, 1.0)
    assert signature_distance(a, a, 1.0) == 0.0


# ---- algebraic connectivity -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("n", [5, 30, 200])
def test_algebraic_connectivity_closed_forms(n: int, method: str) -> None:
    path = nx.path_graph(n)
    assert algebraic_connectivity(path, method=method) == pytest.approx(
        2 - 2 * math.cos(math.pi / n), rel=1e-8
    )
    if n <= 30:
        assert algebraic_connectivity(nx.complete_graph(n), method=method) == pytest.approx(
            n, rel=1e-8
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_algebraic_connectivity_matches_networkx(seed: int) -> None:
    g = weighted_graph(150, 0.05, seed)
    expected = nx.algebraic_connectivity(g, weight="weight", method="lanczos", tol=1e-12)
    for method in ("dense", "sparse"):
        assert algebraic_connectivity(g, method=method) == pytest.approx(expected, rel=1e-7)


def test_algebraic_connectivity_disconnected_is_zero() -> None:
    g = nx.disjoint_union(nx.path_graph(5), nx.cycle_graph(4))
    assert algebraic_connectivity(g) == 0.0
    assert algebraic_connectivity(np.zeros((1, 1))) == 0.0


def test_algebraic_connectivity_dense_and_sparse_agree_on_2000_nodes() -> None:
    g = weighted_graph(2000, 0.004, 7)
    dense = algebraic_connectivity(g, method="dense")
    sparse = algebraic_connectivity(g, method="sparse")
    assert sparse == pytest.approx(dense, rel=1e-6)


# ---- scree and saturation ----------------------------------------------------------------------------


def _alpha_from_eigenvalues(lam: np.ndarray, k: int, t: float) -> float:
    """Eq. 7 written out from a full ascending spectrum (λ1 dropped)."""
    e = np.exp(-t * (lam[1:] - lam[1]))  # the same shift in numerator and denominator
    return float(e[:k].sum() / e.sum())


def test_scree_complete_graph_is_flat() -> None:
    # K_n: eigenvalues 0 and n (n - 1 times), so α(K, t) = K / (n - 1) at every t
    n = 11
    alpha = scree(nx.complete_graph(n), [0.0, 0.3, 10.0], 0.3)
    np.testing.assert_allclose(alpha, round(0.3 * (n - 1)) / (n - 1))


def test_scree_path_closed_form() -> None:
    n = 6
    lam = 2 - 2 * np.cos(np.pi * np.arange(n) / n)  # eigenvalues of P_n
    for frac in (0.2, 0.6, 1.0):
        k = math.floor(frac * (n - 1) + 0.5)
        for t in (0.0, 0.5, 3.0, 40.0):
            assert scree(nx.path_graph(n), t, frac) == pytest.approx(
                _alpha_from_eigenvalues(lam, k, t), rel=1e-10
            )


@pytest.mark.parametrize("seed", [0, 1])
def test_scree_matches_eigenvalues_of_random_graphs(seed: int) -> None:
    g = weighted_graph(120, 0.05, seed)
    lam = np.linalg.eigvalsh(nx.laplacian_matrix(g, nodelist=sorted(g)).toarray())
    times = np.array([0.01, 0.5, 5.0])
    fracs = np.array([0.05, 0.5])
    alpha = scree(g, times, fracs)
    assert alpha.shape == (2, 3)
    for i, fr in enumerate(fracs):
        k = math.floor(fr * 119 + 0.5)
        for j, t in enumerate(times):
            assert alpha[i, j] == pytest.approx(_alpha_from_eigenvalues(lam, k, t), rel=1e-9)


def test_scree_disconnected_counts_extra_zero_eigenvalues() -> None:
    # two triangles: eigenvalues 0, 0, 3, 3, 3, 3. K = 1 counts the second zero only.
    g = nx.disjoint_union(nx.complete_graph(3), nx.complete_graph(3))
    t = 0.4
    expected = 1.0 / (1.0 + 4 * math.exp(-3 * t))
    assert scree(g, t, 0.2) == pytest.approx(expected, rel=1e-10)
    assert scree(g, 50.0, 0.2) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "graph",
    [
        pytest.param(lambda: nx.connected_watts_strogatz_graph(1000, 6, 0.2, seed=1), id="ws"),
        pytest.param(lambda: nx.barabasi_albert_graph(1000, 3, seed=3), id="ba"),
        pytest.param(lambda: random_dag(1000, 6000, 4), id="dag-two-components-or-more"),
    ],
)
def test_scree_stochastic_estimate_within_documented_error(graph) -> None:
    g = graph()
    times = np.logspace(-2, 2, 9)
    fracs = np.array([0.01, 0.05, 0.1, 0.3, 0.7])
    exact = scree(g, times, fracs, method="dense")
    est, err = scree(g, times, fracs, method="sparse", return_error=True)
    assert est.shape == err.shape == (5, 9)
    assert np.all(np.abs(est - exact) <= err + 1e-9)
    assert np.abs(est - exact).max() < 0.03  # the documented typical accuracy with the defaults


def test_scree_errors() -> None:
    with pytest.raises(ValueError, match="fraction"):
        scree(nx.path_graph(4), 1.0, 1.5)
    with pytest.raises(ValueError, match="probes"):
        scree(nx.path_graph(4), 1.0, 0.5, method="sparse", probes=0)


def test_saturation_time_closed_form() -> None:
    # P_3: eigenvalues 0, 1, 3; K = 1: α = 1 / (1 + e^{-2t}) >= 1 - tol  <=>  t >= ln((1-tol)/tol)/2
    tol = 1e-3
    expected = math.log((1 - tol) / tol) / 2
    assert saturation_time(nx.path_graph(3), 0.5, tol=tol) == pytest.approx(expected, rel=1e-5)


def test_saturation_time_edge_cases() -> None:
    assert saturation_time(nx.path_graph(5), 1.0) == 0.0  # K = n - 1: α = 1 at t = 0
    assert saturation_time(nx.complete_graph(6), 0.2) == math.inf  # λ2 has multiplicity 5
    with pytest.raises(ValueError, match="tol"):
        saturation_time(nx.path_graph(3), 0.5, tol=0.0)


def test_dense_size_limit_points_to_what_works_for_large_graphs() -> None:
    import scipy.sparse as sp

    from wiring.analysis.spectral import HEAT_KERNEL_MAX_NODES

    n = HEAT_KERNEL_MAX_NODES + 1
    path = sp.diags_array(np.ones(n - 1), offsets=1, shape=(n, n), format="csr")
    with pytest.raises(ValueError, match="method='sparse'") as info:
        scree(path, 1.0, 0.1, method="dense")
    assert "heat_signature" not in str(info.value)  # it computes no scree
    with pytest.raises(ValueError, match="method='sparse'"):
        heat_signature(path, 1.0, sources=[0], method="dense")
    with pytest.raises(ValueError, match="heat_signature"):
        heat_kernel(path, 1.0)


def test_chebyshev_coefficients_sum_to_the_exponential_at_the_ends() -> None:
    from wiring.analysis._numerics import _chebyshev_heat_coefficients

    for z in (0.0, 0.3, 5.0, 400.0):
        c = _chebyshev_heat_coefficients(z, 1e-14)
        k = np.arange(c.size)
        # Σ c_k T_k(x) = e^{-z(1 + x)}; T_k(1) = 1, T_k(-1) = (-1)^k, T_k(0) = cos(k π / 2)
        assert c.sum() == pytest.approx(np.exp(-2 * z), abs=1e-13)
        assert (c * (-1.0) ** k).sum() == pytest.approx(1.0, abs=1e-13)
        assert (c * np.cos(k * np.pi / 2)).sum() == pytest.approx(np.exp(-z), abs=1e-13)


def test_sparse_heat_signature_at_large_times_matches_expm_multiply() -> None:
    import scipy.sparse.linalg as spla

    g = weighted_graph(300, 0.03, 7)
    sources = np.array([0, 5])
    a = np.zeros(300)
    a[sources] = 1.0
    lap = laplacian(g)
    times = np.array([0.0, 1e-9, 40.0, 400.0])
    s = heat_signature(g, times, sources=sources, method="sparse")
    for i, t in enumerate(times):
        np.testing.assert_allclose(s[:, i], spla.expm_multiply(-t * lap, a), atol=1e-10)
    np.testing.assert_allclose(s.sum(axis=0), 2.0, atol=1e-10)  # heat is conserved


def test_algebraic_connectivity_reuses_the_scree_eigensolve() -> None:
    a = random_dag(2500, 15000, 3)
    alone = algebraic_connectivity(a, method="sparse")
    from wiring.analysis._graphs import as_graph

    g = as_graph(a)
    scree(g, 1.0, 0.1, method="sparse")
    assert any(k.startswith("smallest-eigs") for k in g._cache)
    assert algebraic_connectivity(g, method="sparse") == pytest.approx(alone, rel=1e-9)
    lam = np.linalg.eigvalsh(dense_laplacian(np.maximum(np.abs(a), np.abs(a).T)))
    assert alone == pytest.approx(lam[1], rel=1e-8)
