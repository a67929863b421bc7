"""Generators: candidate sets against brute-force enumeration and networkx."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch

import wiring
from wiring import generators


def _edges(g):
    return set(zip(g.src.tolist(), g.dst.tolist(), strict=True))


def test_complete_dag_is_exactly_the_forward_block_edges():
    sizes = [2, 3, 1, 2]
    g = generators.complete_dag(sizes, seed=0)
    blocks = np.repeat(np.arange(len(sizes)), sizes)
    want = {(u, v) for u, v in itertools.product(range(8), repeat=2) if blocks[u] < blocks[v]}
    assert _edges(g) == want
    assert g.num_edges == g.num_candidates == len(want)
    np.testing.assert_array_equal(g.blocks, blocks)
    assert g.inputs.tolist() == [0, 1] and g.outputs.tolist() == [6, 7]
    assert np.all((g.weight > -1) & (g.weight < 1))


def test_tiny_classifier_candidate_count():
    g = generators.complete_dag([32, 192, 192, 192, 192])
    # sum over blocks of (nodes before the block) x (block size)
    assert g.num_candidates == (32 + 224 + 416 + 608) * 192 == 245_760
    assert g.longest_path_length() == 4


def test_complete_digraph():
    g = generators.complete_digraph(5, inputs=[0], outputs=[4], seed=1)
    assert _edges(g) == {(u, v) for u in range(5) for v in range(5) if u != v}
    assert not g.is_acyclic()


def test_layered_is_complete_bipartite_between_adjacent_blocks():
    g = generators.layered([2, 3, 2], seed=0)
    want = {(u, v) for u in (0, 1) for v in (2, 3, 4)} | {(u, v) for u in (2, 3, 4) for v in (5, 6)}
    assert _edges(g) == want


def test_seeds_reproduce_and_differ():
    a = generators.complete_dag([3, 3], seed=5)
    assert a == generators.complete_dag([3, 3], seed=5)
    assert not np.array_equal(a.weight, generators.complete_dag([3, 3], seed=6).weight)


def test_random_k_is_top_k_of_fresh_uniform_weights():
    g = generators.complete_dag([4, 6, 6, 2], seed=0)
    r = generators.random_k(g, 20, seed=3)
    assert r.num_edges == 20 and _edges(r) == _edges(g)
    assert not np.array_equal(r.weight, g.weight)
    assert np.abs(r.weight[r.real]).min() >= np.abs(r.weight[~r.real]).max()
    np.testing.assert_array_equal(r.real, generators.random_k(g, 20, seed=3).real)


@pytest.mark.parametrize(
    "make",
    [
        lambda: generators.erdos_renyi(40, 0.2, seed=1),
        lambda: generators.watts_strogatz(40, 4, 0.75, seed=1),
        lambda: generators.barabasi_albert(40, 5, seed=1),
    ],
)
def test_random_dags_compile_statically(make):
    g = make()
    assert g.is_acyclic()
    assert np.all(g.src < g.dst)  # oriented low -> high index
    assert np.all(g.blocks[g.src] < g.blocks[g.dst])
    # inputs are exactly the nodes without predecessors = block 0, as the static executor needs
    no_pred = np.setdiff1d(np.arange(g.num_nodes), g.dst)
    np.testing.assert_array_equal(np.sort(g.inputs), no_pred)
    np.testing.assert_array_equal(np.flatnonzero(g.blocks == 0), no_pred)
    # blocks are the longest-path depth (networkx)
    G = nx.DiGraph(list(_edges(g)))
    G.add_nodes_from(range(g.num_nodes))
    depth = {v: 0 for v in G}
    for v in nx.topological_sort(G):
        for w in G.successors(v):
            depth[w] = max(depth[w], depth[v] + 1)
    assert [depth[v] for v in range(g.num_nodes)] == g.blocks.tolist()
    model = wiring.compile(g, spatial_dims=0)
    assert model(torch.randn(3, g.inputs.size)).shape == (3, g.outputs.size)


def test_erdos_renyi_matches_networkx_edge_set():
    g = generators.erdos_renyi(30, 0.3, seed=7)
    seed = int(np.random.default_rng(7).integers(2**31 - 1))
    und = nx.gnp_random_graph(30, 0.3, seed=seed)
    assert _edges(g) == {(min(u, v), max(u, v)) for u, v in und.edges()}


@pytest.mark.parametrize(
    "call",
    [
        lambda: generators.complete_dag([]),
        lambda: generators.complete_dag([3, 0]),
        lambda: generators.complete_digraph(0, inputs=[], outputs=[]),
        lambda: generators.erdos_renyi(10, 1.5),
        lambda: generators.watts_strogatz(10, 12, 0.1),
        lambda: generators.barabasi_albert(10, 0),
        lambda: generators.random_k("graph", 3, seed=0),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
