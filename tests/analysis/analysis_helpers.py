"""Small graph builders shared by the analysis tests (independent of the code under test)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np


def weighted_graph(n: int, p: float, seed: int, *, connected: bool = True) -> nx.Graph:
    """A G(n, p) graph with uniform(0.1, 2) weights; made connected by a random spanning path."""
    rng = np.random.default_rng(seed)
    g = nx.gnp_random_graph(n, p, seed=seed)
    if connected:
        perm = rng.permutation(n)
        g.add_edges_from(itertools.pairwise(perm.tolist()))
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.1, 2.0))
    return g


def random_dag(n: int, m: int, seed: int) -> np.ndarray:
    """Dense adjacency of a random DAG (u < v) with about m edges and N(0, 1) weights."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n, n))
    u = rng.integers(0, n, size=3 * m)
    v = rng.integers(0, n, size=3 * m)
    keep = u < v
    u, v = u[keep][:m], v[keep][:m]
    a[u, v] = rng.standard_normal(u.size)
    return a


def dense_laplacian(w: np.ndarray) -> np.ndarray:
    """L = D - W of a symmetric weight matrix (diagonal ignored)."""
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    return np.diag(w.sum(axis=1)) - w
