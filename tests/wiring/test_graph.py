"""NeuralGraph: construction, validation, selection of k edges, conversions, structure."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from wiring import NeuralGraph, generators


def small() -> NeuralGraph:
    return NeuralGraph(
        [0, 0, 1, 2],
        [1, 2, 3, 3],
        [0.5, -2.0, 1.5, 0.25],
        num_nodes=4,
        blocks=[0, 1, 1, 2],
        inputs=[0],
        outputs=[3],
        real=[True, True, False, True],
    )


def test_properties_and_repr():
    g = small()
    assert (g.num_nodes, g.num_candidates, g.num_edges, g.num_blocks) == (4, 4, 3, 3)
    assert repr(g) == "NeuralGraph(nodes=4, candidates=4, edges=3, blocks=3)"
    assert g.weight.dtype == np.float64
    for name in ("src", "dst", "weight", "real", "blocks", "inputs", "outputs"):
        arr = getattr(g, name)
        with pytest.raises(ValueError):
            arr[0] = arr[0]


def test_constructor_copies_its_input():
    w = np.array([1.0, 2.0])
    g = NeuralGraph([0, 1], [1, 0], w, num_nodes=2)
    w[0] = 99.0
    assert g.weight[0] == 1.0


def test_adjacency_matches_dense_construction():
    g = small()
    dense = np.zeros((4, 4))
    for u, v, w, r in zip(g.src, g.dst, g.weight, g.real, strict=True):
        if r:
            dense[u, v] = w
    a = g.adjacency()
    assert isinstance(a, sp.csr_array)
    np.testing.assert_array_equal(a.toarray(), dense)
    dense[1, 3] = 1.5
    np.testing.assert_array_equal(g.adjacency(real_only=False).toarray(), dense)


def test_with_top_k_picks_largest_magnitudes():
    w = np.array([0.1, -3.0, 2.0, -0.5, 1.0])
    g = NeuralGraph([0, 0, 0, 1, 1], [1, 2, 3, 2, 3], w, num_nodes=4)
    assert g.with_top_k(2).real.tolist() == [False, True, True, False, False]
    assert g.with_top_k(0).num_edges == 0
    assert g.with_top_k(5).num_edges == 5
    # the weights themselves are unchanged
    np.testing.assert_array_equal(g.with_top_k(1).weight, w)


def test_with_top_k_ties_are_broken_by_index():
    g = NeuralGraph([0, 0, 0, 1], [1, 2, 3, 2], [1.0, -1.0, 1.0, 1.0], num_nodes=4)
    assert g.with_top_k(3).real.tolist() == [True, True, True, False]
    assert g.with_top_k(1).real.tolist() == [True, False, False, False]


@pytest.mark.parametrize("k", [-1, 5, 2.5, True, "3"])
def test_with_top_k_rejects_bad_k(k):
    g = NeuralGraph([0, 0, 0, 1], [1, 2, 3, 2], [1.0, 2.0, 3.0, 4.0], num_nodes=4)
    with pytest.raises(ValueError, match="k"):
        g.with_top_k(k)


def test_with_top_k_per_block_budget():
    g = generators.complete_dag([2, 3, 2], seed=3)
    k = {1: 2, 2: 4}
    h = g.with_top_k(k)
    into = g.blocks[g.dst]
    for b, kb in k.items():
        sel = into == b
        assert h.real[sel].sum() == kb
        # the chosen ones are the largest |w| inside that block
        chosen = np.abs(g.weight[sel & h.real])
        rest = np.abs(g.weight[sel & ~h.real])
        assert chosen.min() >= rest.max()
    with pytest.raises(ValueError, match="block"):
        g.with_top_k({1: 2})
    with pytest.raises(ValueError, match=r"k\[1\]"):
        g.with_top_k({1: 7, 2: 1})


def test_round_trip_save_load(tmp_path):
    g = generators.complete_dag([3, 4, 2], seed=1).with_top_k(7)
    path = tmp_path / "g.npz"
    g.save(path)
    h = NeuralGraph.load(path)
    assert h == g
    # the file holds no object arrays: numpy can read it with pickling disabled
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) >= {"src", "dst", "weight", "real", "blocks", "inputs", "outputs"}
    assert not list(tmp_path.glob("*.tmp"))


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "other.npz"
    np.savez(p, a=np.arange(3))
    with pytest.raises(ValueError, match="not a neural-wiring graph"):
        NeuralGraph.load(p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="npz"):
        NeuralGraph.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        NeuralGraph.load(tmp_path / "missing.npz")


def test_round_trip_networkx():
    g = small()
    h = NeuralGraph.from_networkx(g.to_networkx())
    assert h == g
    G = g.to_networkx()
    assert G.nodes[0]["role"] == "input" and G.nodes[3]["role"] == "output"
    assert G.edges[1, 3]["real"] is False and G.edges[0, 2]["weight"] == -2.0


def test_from_plain_networkx_graph():
    G = nx.path_graph(4)  # undirected: both directions
    g = NeuralGraph.from_networkx(G)
    assert g.num_candidates == 6 and np.all(g.weight == 1.0)


def test_structure_against_networkx():
    g = generators.erdos_renyi(30, 0.2, seed=4).with_top_k(40)
    G = nx.DiGraph()
    G.add_nodes_from(range(g.num_nodes))
    G.add_edges_from(zip(g.src[g.real].tolist(), g.dst[g.real].tolist(), strict=True))
    assert g.is_acyclic() == nx.is_directed_acyclic_graph(G)
    assert g.longest_path_length() == nx.dag_longest_path_length(G)
    # effective edges: u reachable from an input, an output reachable from v
    from_in = set().union(*(nx.descendants(G, i) | {int(i)} for i in g.inputs))
    to_out = set().union(*(nx.ancestors(G, o) | {int(o)} for o in g.outputs))
    want = [
        bool(r and u in from_in and v in to_out)
        for u, v, r in zip(g.src, g.dst, g.real, strict=True)
    ]
    assert g.effective_edges().tolist() == want


def test_cycles():
    g = NeuralGraph([0, 1, 2], [1, 2, 0], [1.0, 1.0, 1.0], num_nodes=3, inputs=[0], outputs=[2])
    assert not g.is_acyclic()
    with pytest.raises(ValueError, match="cycle"):
        g.longest_path_length()
    assert g.with_real([True, True, False]).is_acyclic()
    assert g.effective_edges().tolist() == [True, True, True]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"src": [0, 1], "dst": [1], "weight": [1.0, 1.0]}, "dst"),
        ({"src": [0, 5], "dst": [1, 0], "weight": [1.0, 1.0]}, "src"),
        ({"src": [0, 1], "dst": [1, -1], "weight": [1.0, 1.0]}, "dst"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [1.0, np.nan]}, "weight"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [np.inf, 1.0]}, "weight"),
        ({"src": [0, 0], "dst": [1, 1], "weight": [1.0, 1.0]}, "distinct"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [1.0, 1.0], "real": [True]}, "real"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [1.0, 1.0], "inputs": [3]}, "inputs"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [1.0, 1.0], "outputs": [0, 0]}, "outputs"),
        ({"src": [0, 1], "dst": [1, 0], "weight": [1.0, 1.0], "blocks": [0]}, "blocks"),
        ({"src": [0.5, 1], "dst": [1, 0], "weight": [1.0, 1.0]}, "src"),
        ({"src": ["a", "b"], "dst": [1, 0], "weight": [1.0, 1.0]}, "src"),
    ],
)
def test_validation_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NeuralGraph(num_nodes=kwargs.pop("num_nodes", 3), **kwargs)


def test_num_nodes_validation():
    with pytest.raises(ValueError, match="num_nodes"):
        NeuralGraph([], [], [], num_nodes=-1)
    with pytest.raises(ValueError, match="num_nodes"):
        NeuralGraph([], [], [], num_nodes=2.5)


_anything = st.one_of(
    st.none(),
    st.integers(-5, 10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.one_of(st.integers(-3, 8), st.floats(allow_nan=True), st.booleans()), max_size=6),
    st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    src=_anything,
    dst=_anything,
    weight=_anything,
    num_nodes=_anything,
    real=_anything,
    inputs=_anything,
    blocks=_anything,
)
def test_malformed_input_raises_value_error_only(src, dst, weight, num_nodes, real, inputs, blocks):
    try:
        g = NeuralGraph(
            src, dst, weight, num_nodes=num_nodes, real=real, inputs=inputs, blocks=blocks
        )
    except ValueError as exc:
        assert str(exc).split(":")[0] in {
            "src",
            "dst",
            "weight",
            "num_nodes",
            "real",
            "inputs",
            "blocks",
            "src/dst",
            "outputs",
        }
        return
    # accepted: then it is a consistent graph
    assert g.src.shape == g.dst.shape == g.weight.shape == g.real.shape
    assert np.all((g.src >= 0) & (g.src < g.num_nodes))
