"""The input adapter: every accepted kind of graph gives the same matrices."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from wiring.analysis import graph_info, laplacian
from wiring.analysis._graphs import as_graph
from wiring.graph import NeuralGraph


def _directed_example() -> np.ndarray:
    a = np.zeros((4, 4))
    a[0, 1] = 2.0
    a[1, 0] = -3.0  # both directions: the undirected view keeps max(|2|, |-3|) = 3
    a[1, 2] = 0.5
    a[2, 3] = -1.0
    a[3, 3] = 7.0  # self-loop: ignored by the undirected view
    return a


def test_undirected_view_is_elementwise_max_of_abs() -> None:
    w = as_graph(_directed_example()).sym(weighted=True).toarray()
    expected = np.array(
        [[0, 3, 0, 0], [3, 0, 0.5, 0], [0, 0.5, 0, 1], [0, 0, 1, 0]], dtype=np.float64
    )
    np.testing.assert_array_equal(w, expected)
    unweighted = as_graph(_directed_example()).sym(weighted=False).toarray()
    np.testing.assert_array_equal(unweighted, (expected > 0).astype(float))


def test_all_input_kinds_agree() -> None:
    a = _directed_example()
    np.fill_diagonal(a, 0.0)
    src, dst = np.nonzero(a)
    ng = NeuralGraph(src, dst, a[src, dst], num_nodes=4)
    dg = nx.DiGraph()
    dg.add_nodes_from(range(4))
    dg.add_weighted_edges_from((int(u), int(v), a[u, v]) for u, v in zip(src, dst, strict=True))
    expected = laplacian(a).toarray()
    for g in (sp.csr_array(a), sp.coo_matrix(a), ng, dg, a.tolist()):
        np.testing.assert_allclose(laplacian(g).toarray(), expected)


def test_networkx_nodes_in_sorted_order_and_default_weight() -> None:
    g = nx.Graph()
    g.add_edge("c", "a")  # no weight attribute: 1
    g.add_edge("a", "b", weight=4.0)
    lap = laplacian(g).toarray()  # order a, b, c
    np.testing.assert_array_equal(lap, [[5, -4, -1], [-4, 4, 0], [-1, 0, 1]])


def test_neural_graph_keeps_real_zero_weight_edges_and_drops_unreal_ones() -> None:
    ng = NeuralGraph([0, 1, 0], [1, 2, 2], [0.0, 1.0, 5.0], num_nodes=3, real=[True, True, False])
    g = as_graph(ng)
    assert g.adjacency.nnz == 2  # the weight-0 real edge is an edge, the unreal one is not
    np.testing.assert_array_equal(g.degrees(), [1, 2, 1])
    assert graph_info(ng)["num_edges"] == 2


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (np.zeros((2, 3)), ValueError, "square"),
        (np.zeros(3), ValueError, "2-D"),
        (np.array([["a"]]), TypeError, "numeric"),
        (np.array([[0, np.nan], [0, 0]]), ValueError, "finite"),
        (np.zeros((0, 0)), ValueError, "at least one node"),
        ("graph.npz", TypeError, "NeuralGraph.load"),
        (42, TypeError, "expected a NeuralGraph"),
    ],
)
def test_bad_inputs_name_the_argument(bad: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        laplacian(bad)
    assert "graph" in str(info.value)
