"""Properties that hold on every graph (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wiring.analysis import degree_gini, heat_signature, scree


@st.composite
def graphs(draw: st.DrawFn, min_nodes: int = 2, max_nodes: int = 12) -> np.ndarray:
    """Dense weighted digraph adjacency: a random mask times weights in [-3, 3]."""
    n = draw(st.integers(min_nodes, max_nodes))
    mask = draw(arrays(np.bool_, (n, n)))
    w = draw(
        arrays(
            np.float64, (n, n), elements=st.floats(-3, 3, allow_nan=False, allow_subnormal=False)
        )
    )
    return np.where(mask, w, 0.0)


SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(graphs(), st.floats(0, 20), st.data())
def test_heat_is_conserved(a: np.ndarray, t: float, data: st.DataObject) -> None:
    n = a.shape[0]
    sources = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    for method in ("dense", "sparse"):
        s = heat_signature(a, t, sources=sources, method=method)
        assert abs(s.sum() - len(sources)) <= 1e-9 * len(sources)


@SETTINGS
@given(graphs(min_nodes=3), st.floats(0, 10))
def test_alpha_non_decreasing_in_k(a: np.ndarray, t: float) -> None:
    fracs = np.linspace(0, 1, 11)
    alpha = scree(a, t, fracs)
    assert np.all(np.diff(alpha) >= -1e-12)
    assert 0.0 <= alpha[0] and alpha[-1] == 1.0


@SETTINGS
@given(graphs(min_nodes=3), st.floats(0.05, 1))
def test_alpha_non_decreasing_in_t_and_tends_to_one(a: np.ndarray, frac: float) -> None:
    w = np.maximum(np.abs(a), np.abs(a.T))
    np.fill_diagonal(w, 0)
    lam = np.linalg.eigvalsh(np.diag(w.sum(1)) - w)
    n = a.shape[0]
    k = int(np.floor(frac * (n - 1) + 0.5))
    times = np.array([0.0, 0.1, 1.0, 10.0, 100.0])
    alpha = scree(a, times, frac)
    assert np.all(np.diff(alpha) >= -1e-12)
    # α -> 1 once the K smallest nontrivial eigenvalues are separated from the rest
    gap = lam[k + 1] - lam[k] if k + 1 < n else np.inf
    if k >= 1 and gap > 1e-3 * max(lam[-1], 1.0):
        t_big = 40.0 / gap
        assert scree(a, t_big, frac) >= 1 - 1e-12 - n * np.exp(-40.0)


@SETTINGS
@given(graphs(min_nodes=1, max_nodes=30))
def test_gini_in_unit_interval(a: np.ndarray) -> None:
    g = degree_gini(a)
    assert 0.0 <= g < 1.0
