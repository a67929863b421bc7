"""Degree Gini, clustering, shortest paths and summary against closed forms and networkx."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
from analysis_helpers import random_dag, weighted_graph

import wiring.analysis.structure as structure
from wiring.analysis import (
    average_clustering,
    average_shortest_path_length,
    clustering,
    degree_gini,
    graph_info,
    summary,
)
from wiring.graph import NeuralGraph

# ---- Gini ---------------------------------------------------------------------------------------------


def _gini_double_sum(x: np.ndarray) -> float:
    n = x.size
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean()))


@pytest.mark.parametrize("graph", [nx.cycle_graph(7), nx.complete_graph(5), nx.hypercube_graph(3)])
def test_gini_zero_on_regular_graphs(graph: nx.Graph) -> None:
    assert degree_gini(graph) == 0.0


@pytest.mark.parametrize("n", [3, 5, 10])
def test_gini_star_hand_computed(n: int) -> None:
    # centre degree n-1, n-1 leaves of degree 1: Σ|x_i - x_j| = 2 (n-1)(n-2), x̄ = 2(n-1)/n
    expected = 2 * (n - 1) * (n - 2) / (2 * n**2 * (2 * (n - 1) / n))
    assert expected == pytest.approx((n - 2) / (2 * n))
    assert degree_gini(nx.star_graph(n - 1)) == pytest.approx(expected)
    directed = np.zeros((n, n))
    directed[0, 1:] = 1.0  # centre -> leaves: in + out degrees are the same
    assert degree_gini(directed) == pytest.approx(expected)


def test_gini_uses_in_plus_out_degree() -> None:
    a = random_dag(40, 200, 1)
    deg = (a != 0).sum(axis=0) + (a != 0).sum(axis=1)
    assert degree_gini(a) == pytest.approx(_gini_double_sum(deg.astype(float)))
    assert degree_gini(np.zeros((3, 3))) == 0.0


# ---- clustering ------------------------------------------------------------------------------------------


def test_clustering_closed_forms() -> None:
    assert clustering(nx.complete_graph(6)) == 1.0
    assert average_clustering(nx.complete_graph(6)) == 1.0
    tree = nx.random_labeled_tree(50, seed=1)
    assert clustering(tree) == 0.0
    assert average_clustering(tree) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clustering_matches_networkx(seed: int) -> None:
    g = nx.powerlaw_cluster_graph(300, 4, 0.4, seed=seed)
    assert clustering(g) == pytest.approx(nx.transitivity(g), rel=1e-12)
    assert average_clustering(g) == pytest.approx(nx.average_clustering(g), rel=1e-12)


def test_clustering_of_directed_input_uses_the_undirected_view() -> None:
    a = random_dag(80, 600, 3)
    und = nx.from_numpy_array((a != 0) | (a.T != 0))
    assert clustering(a) == pytest.approx(nx.transitivity(und), rel=1e-12)
    assert average_clustering(a) == pytest.approx(nx.average_clustering(und), rel=1e-12)


@pytest.mark.parametrize(
    ("light_width", "batch"), [(48, 2_000_000), (0, 2_000_000), (3, 7), (0, 1)]
)
def test_triangle_count_through_both_paths_and_small_batches(
    monkeypatch: pytest.MonkeyPatch, light_width: int, batch: int
) -> None:
    # light (padded table) and heavy (listed wedges) nodes, batches down to one node at a time
    g = nx.powerlaw_cluster_graph(200, 5, 0.5, seed=4)
    g.add_edges_from((0, v) for v in range(100, 200))  # a hub
    monkeypatch.setattr(structure, "_LIGHT_WIDTH", light_width)
    monkeypatch.setattr(structure, "_WEDGE_BATCH", batch)
    assert clustering(g) == pytest.approx(nx.transitivity(g), rel=1e-12)
    assert average_clustering(g) == pytest.approx(nx.average_clustering(g), rel=1e-12)
    tri, _ = structure._triangles(structure.as_graph(g))
    assert tri.tolist() == [nx.triangles(g)[v] for v in sorted(g)]


def test_triangle_count_with_few_filter_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    # a tiny Bloom filter passes nearly every wedge: the exact check alone must decide
    monkeypatch.setattr(structure, "_FILTER_SLOTS_PER_EDGE", 1 / 64)
    g = nx.gnp_random_graph(120, 0.15, seed=2)
    assert average_clustering(g) == pytest.approx(nx.average_clustering(g), rel=1e-12)


# ---- shortest paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_average_shortest_path_length_matches_networkx(seed: int) -> None:
    g = weighted_graph(150, 0.03, seed)  # connected; weights are ignored (unweighted)
    assert average_shortest_path_length(g) == pytest.approx(
        nx.average_shortest_path_length(g), rel=1e-12
    )


def test_average_shortest_path_length_directed() -> None:
    g = nx.gnp_random_graph(60, 0.1, seed=5, directed=True)
    assert nx.is_strongly_connected(g)
    assert average_shortest_path_length(g, directed=True) == pytest.approx(
        nx.average_shortest_path_length(g), rel=1e-12
    )


def test_average_shortest_path_length_disconnected() -> None:
    g = nx.disjoint_union(nx.path_graph(4), nx.complete_graph(3))
    lengths = [
        d for u, dist in nx.all_pairs_shortest_path_length(g) for v, d in dist.items() if u != v
    ]
    assert average_shortest_path_length(g) == pytest.approx(np.mean(lengths))
    assert average_shortest_path_length(nx.empty_graph(3)) == 0.0


def test_average_shortest_path_length_sampled() -> None:
    g = nx.connected_watts_strogatz_graph(5200, 6, 0.1, seed=2)
    exact = average_shortest_path_length(g, samples=5200)  # all sources: exact (checked above)
    ecc_mean = np.mean(
        [
            np.mean(list(nx.single_source_shortest_path_length(g, u).values()))
            for u in range(0, 5200, 400)
        ]
    )
    assert exact == pytest.approx(ecc_mean * 5200 / 5199, rel=0.05)  # sanity: same scale
    est = average_shortest_path_length(g)  # above 5,000 nodes: 256 sampled sources
    assert est != exact
    assert est == pytest.approx(exact, rel=0.03)
    with pytest.raises(ValueError, match="samples"):
        average_shortest_path_length(g, samples=0)


# ---- summary ----------------------------------------------------------------------------------------------


def test_summary_keys_values_and_json() -> None:
    g = nx.powerlaw_cluster_graph(100, 3, 0.3, seed=1)
    s = summary(g)
    assert set(s) == {
        "algebraic_connectivity",
        "degree_gini",
        "clustering",
        "average_clustering",
        "average_shortest_path_length",
        "average_shortest_path_length_samples",
    }
    assert s["algebraic_connectivity"] == pytest.approx(
        nx.algebraic_connectivity(g, method="lanczos", tol=1e-12), rel=1e-7
    )
    assert s["clustering"] == pytest.approx(nx.transitivity(g))
    assert s["average_clustering"] == pytest.approx(nx.average_clustering(g))
    assert s["average_shortest_path_length"] == pytest.approx(nx.average_shortest_path_length(g))
    assert s["average_shortest_path_length_samples"] == 100
    info = graph_info(g)
    assert info["nodes"] == 100
    assert info["edges"] == info["candidates"] == g.number_of_edges()
    assert info["components"] == nx.number_connected_components(g)
    assert info["directed"] is False
    json.dumps(s, allow_nan=False)


def test_summary_of_neural_graph() -> None:
    ng = NeuralGraph(
        [0, 0, 1, 2], [1, 2, 3, 3], [0.5, -1.0, 2.0, 1.0], num_nodes=4, inputs=[0], outputs=[3]
    )
    s = summary(ng)
    cycle = nx.cycle_graph([0, 1, 3, 2])  # undirected view: the 4-cycle 0-1-3-2-0
    assert s["clustering"] == 0.0
    assert s["degree_gini"] == 0.0
    assert s["average_shortest_path_length"] == pytest.approx(
        nx.average_shortest_path_length(cycle)
    )
    assert graph_info(ng)["edges"] == 4


def test_wiring_info_and_the_report_share_one_graph_info() -> None:
    import wiring.analysis.report as report
    import wiring.cli as cli

    assert cli.graph_info is graph_info
    assert report.graph_info is graph_info


@pytest.mark.parametrize("directed", [False, True])
def test_bit_parallel_bfs_in_several_batches_matches_networkx(
    monkeypatch: pytest.MonkeyPatch, directed: bool
) -> None:
    # 150 + 40 nodes, two components plus isolated nodes; batches of 64 sources (3 batches, the
    # last one partial), so both BFS directions (top-down, bottom-up) and word edges are used
    g = nx.gnp_random_graph(150, 0.03, seed=11, directed=directed)
    g.add_edges_from(nx.path_graph(range(150, 185)).edges)
    g.add_nodes_from(range(185, 190))
    monkeypatch.setattr(structure, "_BFS_BITSET_WORDS", 1)
    dist = dict(nx.all_pairs_shortest_path_length(g))
    lengths = [d for u, row in dist.items() for v, d in row.items() if u != v]
    expected = sum(lengths) / len(lengths)
    assert average_shortest_path_length(g, directed=directed) == pytest.approx(expected, rel=1e-12)
