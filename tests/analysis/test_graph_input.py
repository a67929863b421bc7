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
    assert graph_info(ng)["edges"] == 2


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


# ---- networkx inputs: one conversion, NeuralGraph.from_networkx ---------------------------------


def test_networkx_input_is_read_as_neural_graph_from_networkx_reads_it() -> None:
    # Everything the conversion decides (order, weight default, real flag, roles) must agree.
    g = nx.DiGraph(inputs=["a"], outputs=["c"])
    g.add_edge("b", "c", weight=-2.0)
    g.add_edge("a", "b")  # no weight: 1
    g.add_edge("a", "c", weight=5.0, real=False)  # a hallucinated candidate: not an edge
    data = as_graph(g)
    ng = NeuralGraph.from_networkx(g)
    assert data.node_labels == ("a", "b", "c")
    expected = np.array([[0, 1.0, 0], [0, 0, -2.0], [0, 0, 0]])
    np.testing.assert_array_equal(data.adjacency.toarray(), expected)
    np.testing.assert_array_equal(ng.adjacency().toarray(), expected)
    np.testing.assert_array_equal(data.inputs, [0])
    info = graph_info(g)
    assert (info["candidates"], info["edges"], info["effective_edges"]) == (3, 2, 2)


def test_networkx_multigraph_parallel_edges_are_summed_like_networkx() -> None:
    g = nx.MultiGraph()
    g.add_edge(0, 1, weight=2.0)
    g.add_edge(0, 1, weight=3.0)
    g.add_edge(1, 2)
    expected = nx.to_numpy_array(g, nodelist=[0, 1, 2])  # networkx sums parallel edges
    np.testing.assert_array_equal(as_graph(g).adjacency.toarray(), expected)
    np.testing.assert_array_equal(NeuralGraph.from_networkx(g).adjacency().toarray(), expected)
    assert graph_info(g)["edges"] == 2


def test_networkx_unsortable_labels_use_the_graph_order_in_both() -> None:
    g = nx.Graph()
    g.add_edge("x", 1, weight=2.0)
    g.add_edge(1, (0, 0), weight=3.0)
    order = list(g.nodes)  # ["x", 1, (0, 0)]: int, str and tuple cannot be sorted together
    data = as_graph(g)
    assert data.node_labels == tuple(order)
    expected = nx.to_numpy_array(g, nodelist=order)
    np.testing.assert_array_equal(data.adjacency.toarray(), expected)
    np.testing.assert_array_equal(NeuralGraph.from_networkx(g).adjacency().toarray(), expected)
    np.testing.assert_allclose(laplacian(g).toarray(), nx.laplacian_matrix(g, order).toarray())


def test_round_trip_through_networkx_gives_the_same_analysis() -> None:
    ng = NeuralGraph(
        [0, 0, 1, 2],
        [1, 2, 3, 3],
        [0.5, -1.0, 2.0, 1.0],
        num_nodes=4,
        inputs=[0],
        outputs=[3],
        real=[True, False, True, True],
    )
    a, b = as_graph(ng), as_graph(ng.to_networkx())
    np.testing.assert_array_equal(a.adjacency.toarray(), b.adjacency.toarray())
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert graph_info(ng) == graph_info(ng.to_networkx())


def test_empty_networkx_graph_names_the_argument() -> None:
    with pytest.raises(ValueError, match="graph: expected a graph with at least one node"):
        laplacian(nx.Graph())


# ---- graph_info ------------------------------------------------------------------------------------


def test_graph_info_of_a_neural_graph_against_networkx() -> None:
    rng = np.random.default_rng(3)
    blocks = np.repeat([0, 1, 2, 3], [3, 4, 4, 2])
    n = blocks.size
    src, dst = np.nonzero(blocks[:, None] < blocks[None, :])
    real = rng.random(src.size) < 0.3
    ng = NeuralGraph(
        src,
        dst,
        rng.standard_normal(src.size),
        num_nodes=n,
        blocks=blocks,
        inputs=[0, 1, 2],
        outputs=[11, 12],
        real=real,
    )
    info = graph_info(ng)
    dg = nx.DiGraph()
    dg.add_nodes_from(range(n))
    dg.add_edges_from(zip(src[real].tolist(), dst[real].tolist(), strict=True))
    reach_in = set().union(*(nx.descendants(dg, i) | {i} for i in (0, 1, 2)))
    reach_out = set().union(*(nx.ancestors(dg, o) | {o} for o in (11, 12)))
    effective = sum(1 for u, v in dg.edges if u in reach_in and v in reach_out)
    assert info == {
        "nodes": n,
        "candidates": int(src.size),
        "edges": int(real.sum()),
        "effective_edges": effective,
        "components": nx.number_connected_components(dg.to_undirected()),
        "blocks": 4,
        "block_sizes": [3, 4, 4, 2],
        "inputs": 3,
        "outputs": 2,
        "acyclic": True,
        "longest_path": nx.dag_longest_path_length(dg),
        "directed": True,
    }


def test_graph_info_of_a_matrix_with_a_cycle() -> None:
    a = np.zeros((4, 4))
    a[0, 1] = a[1, 2] = a[2, 0] = 1.0  # a 3-cycle and an isolated node
    info = graph_info(a)
    assert info["nodes"] == 4 and info["edges"] == info["candidates"] == 3
    assert info["components"] == 2
    assert info["acyclic"] is False and info["longest_path"] is None
    assert (info["blocks"], info["inputs"], info["outputs"], info["effective_edges"]) == (
        1,
        0,
        0,
        0,
    )


def test_undirected_views_keep_zero_weight_edges_and_split_components_by_weight() -> None:
    # 0 - 1 has weight 0 (a real edge): an edge for the unweighted views, no connection for
    # the weighted Laplacian; 1 <-> 2 both ways with different weights: max(|.|) once
    ng = NeuralGraph([0, 1, 2], [1, 2, 1], [0.0, -2.0, 5.0], num_nodes=3)
    g = as_graph(ng)
    np.testing.assert_array_equal(g.sym(False).toarray(), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(g.sym(True).toarray(), [[0, 0, 0], [0, 0, 5], [0, 5, 0]])
    assert g.sym(True).nnz == 4  # the zero-weight edge stays stored
    assert g.components(weighted=False)[0] == 1
    assert g.components(weighted=True)[0] == 2
    np.testing.assert_array_equal(laplacian(ng).toarray(), [[0, 0, 0], [0, 5, -5], [0, -5, 5]])
