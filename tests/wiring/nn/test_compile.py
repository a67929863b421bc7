"""compile(): argument validation and the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wiring
from wiring import NeuralGraph, generators
from wiring.nn import DYNAMICS


def test_registry_lists_the_three_dynamics():
    assert {"static", "discrete", "continuous"} <= set(DYNAMICS)


def test_unknown_dynamics_lists_valid_ones():
    with pytest.raises(ValueError, match=r"dynamics.*continuous.*discrete.*static"):
        wiring.compile(generators.complete_dag([2, 2]), dynamics="euler")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"selection": "magic"}, "selection"),
        ({"spatial_dims": 3}, "spatial_dims"),
        ({"k": 100}, "k"),
        ({"k": -1}, "k"),
        ({"steps": 3}, "unknown option"),
        ({"norm": "group"}, "norm"),
        ({"node_op": "nope"}, "node_op"),
        ({"kernel_size": 2}, "kernel_size"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        wiring.compile(generators.complete_dag([2, 3]), **kwargs)


def test_bad_dynamic_options():
    g = generators.complete_digraph(4, inputs=[0], outputs=[3])
    with pytest.raises(ValueError, match="steps"):
        wiring.compile(g, dynamics="discrete", steps=0)
    with pytest.raises(ValueError, match="method"):
        wiring.compile(g, dynamics="continuous", method="leapfrog")
    with pytest.raises(ValueError, match="rtol"):
        wiring.compile(g, dynamics="continuous", rtol=-1.0)


def test_static_rejects_edges_not_into_a_later_block():
    g = NeuralGraph(
        [0, 2], [1, 1], [1.0, 1.0], num_nodes=3, blocks=[0, 1, 1], inputs=[0], outputs=[1]
    )
    with pytest.raises(ValueError, match="2->1"):
        wiring.compile(g)
    # even a hallucinated one: DNW could make it real later
    g2 = g.with_real([True, False])
    with pytest.raises(ValueError, match="later block"):
        wiring.compile(g2)


def test_static_needs_inputs_to_be_block_zero():
    g = NeuralGraph(
        [0, 1], [2, 2], [1.0, 1.0], num_nodes=3, blocks=[0, 0, 1], inputs=[0], outputs=[2]
    )
    with pytest.raises(ValueError, match="block 0"):
        wiring.compile(g)


def test_fixed_selection_keeps_the_graph_mask():
    g = generators.complete_dag([2, 3, 2], seed=0).with_top_k(6)
    with pytest.raises(ValueError, match="fixed"):
        wiring.compile(g, selection="fixed", k=3)
    m = wiring.compile(g, selection="fixed")
    np.testing.assert_array_equal(m.graph().real, g.real)


def test_input_shape_error_names_x():
    m = wiring.compile(generators.complete_dag([2, 3]), spatial_dims=2)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, inputs, H, W\)"):
        m(torch.randn(4, 3, 5, 5))
    with pytest.raises(ValueError, match="x"):
        m(torch.randn(4, 2, 5))


def test_graph_round_trip_through_module():
    g = generators.complete_dag([3, 4, 2], seed=5)
    m = wiring.compile(g, spatial_dims=0, k=7)
    h = m.graph()
    assert h.num_edges == 7 and h.num_candidates == g.num_candidates
    np.testing.assert_allclose(h.weight, g.weight, rtol=1e-7)  # float32 storage
    np.testing.assert_array_equal(h.real, g.with_top_k(7).real)
    np.testing.assert_array_equal(h.inputs, g.inputs)
    np.testing.assert_array_equal(h.outputs, g.outputs)
    np.testing.assert_array_equal(h.blocks, g.blocks)


def test_block_budget_k():
    g = generators.complete_dag([3, 4, 2], seed=5)
    m = wiring.compile(g, spatial_dims=0, k={1: 5, 2: 3})
    h = m.graph()
    into = g.blocks[g.dst]
    assert h.real[into == 1].sum() == 5 and h.real[into == 2].sum() == 3
    np.testing.assert_array_equal(h.real, g.with_top_k({1: 5, 2: 3}).real)


def test_import_wiring_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, wiring, wiring.generators; wiring.NeuralGraph; wiring.HasGraph; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_instance_norm_needs_spatial_states():
    with pytest.raises(ValueError, match="norm: instance norm needs spatial"):
        wiring.compile(generators.complete_dag([2, 3]), spatial_dims=0, norm="instance")
