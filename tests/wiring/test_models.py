"""The tiny classifier and the GraphClassifier wrapper: shapes, graph layout, parameter counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import wiring
from wiring import generators
from wiring.models import (
    CenterPoolHead,
    GraphClassifier,
    TinyClassifierSizes,
    parameter_counts,
    stem,
    tiny_classifier,
    tiny_classifier_graph,
)

# A small tiny classifier: 20 nodes, 4 inputs, 4 outputs, static blocks 4 | 6 6 | 4.
SMALL = {"num_nodes": 20, "num_inputs": 4, "num_outputs": 4, "block_size": 6, "k": 30}
FAST_ODE = {"method": "rk4", "step_size": 0.5}
SHAPES = {0: (5, 3), 1: (5, 3, 16), 2: (5, 3, 12, 12)}


@pytest.mark.parametrize("spatial_dims", [0, 1, 2])
@pytest.mark.parametrize("dynamics", ["static", "discrete", "continuous"])
@pytest.mark.parametrize("selection", ["dnw", "dnw-no-update", "random"])
def test_forward_shapes(dynamics, spatial_dims, selection):
    torch.manual_seed(0)
    extra = FAST_ODE if dynamics == "continuous" else {"steps": 2}
    model = tiny_classifier(
        dynamics=dynamics,
        selection=selection,
        spatial_dims=spatial_dims,
        in_channels=3,
        num_classes=7,
        **SMALL,
        **extra,
    )
    x = torch.randn(*SHAPES[spatial_dims])
    out = model(x)
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    # The DNW rule trains every candidate weight; the ablation and the random graph only the
    # real edges.
    grad = model.graph_module.weight.grad
    g = model.graph()
    assert g.num_edges == 30
    if selection == "dnw":
        assert (grad[torch.as_tensor(~g.real)] != 0).any()
    else:
        assert (grad[torch.as_tensor(~g.real)] == 0).all()


def test_stem_downsamples_four_times_into_the_input_nodes():
    s = stem(3, 32, spatial_dims=2, stride=4)
    assert s(torch.randn(2, 3, 32, 32)).shape == (2, 32, 8, 8)
    s1 = stem(1, 32, spatial_dims=1, stride=4)
    assert s1(torch.randn(2, 1, 40)).shape == (2, 32, 10)
    assert stem(1, 8, spatial_dims=1, stride=2)(torch.randn(2, 1, 40)).shape == (2, 8, 20)
    assert stem(5, 8, spatial_dims=0)(torch.randn(4, 5)).shape == (4, 8)


def test_paper_graph_layout():
    assert TinyClassifierSizes().static_blocks() == [32, 192, 192, 192, 92, 100]
    g = tiny_classifier_graph("static")
    assert g.num_nodes == 800 and g.num_blocks == 6
    assert g.inputs.tolist() == list(range(32))
    assert g.outputs.tolist() == list(range(700, 800))
    # Complete DAG over the blocks: (800^2 - sum of squared block sizes) / 2 candidates.
    assert g.num_candidates == (800**2 - (32**2 + 3 * 192**2 + 92**2 + 100**2)) // 2
    d = tiny_classifier_graph("discrete")
    assert d.num_candidates == 800 * 799
    assert d.inputs.tolist() == list(range(32)) and d.outputs.tolist() == list(range(700, 800))


def _hand_count(*, in_channels, num_inputs, num_outputs, num_nodes, num_classes, k, spatial_dims):
    """The paper count written out layer by layer."""
    mid = num_inputs // 2
    kern = {0: 1, 1: 3, 2: 9}[spatial_dims]
    if spatial_dims == 0:
        stem_n = (
            (in_channels * mid + mid) + 2 * mid + (mid * num_inputs + num_inputs) + 2 * num_inputs
        )
        node_op = 2  # batch norm (scale, shift); a scalar state has no convolution
    else:
        stem_n = (
            (in_channels * mid * kern + mid)  # standard strided conv with bias
            + 2 * mid  # batch norm
            + (mid * kern + mid)  # depthwise strided conv with bias
            + (mid * num_inputs + num_inputs)  # pointwise conv with bias
            + 2 * num_inputs  # batch norm
        )
        node_op = 2 + kern  # instance norm (affine) + depthwise kernel without bias
    head = num_outputs * num_classes + num_classes
    return k + (num_nodes - num_outputs) * node_op + stem_n + head


def test_paper_parameter_count_of_the_default_tiny_classifier():
    model = tiny_classifier()
    counts = model.parameter_counts()
    # 32,000 edges + 700 nodes x (2 + 9) + stem 1,248 + head 1,010 = 41,958 (the paper's "41k").
    assert counts["paper"] == 41_958
    assert counts["paper"] == _hand_count(
        in_channels=3,
        num_inputs=32,
        num_outputs=100,
        num_nodes=800,
        num_classes=10,
        k=32_000,
        spatial_dims=2,
    )
    assert (counts["stem"], counts["head"], counts["edges"]) == (1_248, 1_010, 32_000)
    assert counts["torch"] == sum(p.numel() for p in model.parameters())
    # PyTorch's count has every candidate weight instead of the real edges.
    assert counts["torch"] == counts["paper"] - 32_000 + counts["candidates"]


@pytest.mark.parametrize("spatial_dims", [0, 1, 2])
@pytest.mark.parametrize("dynamics", ["static", "continuous"])
def test_paper_parameter_count_small(dynamics, spatial_dims):
    model = tiny_classifier(
        dynamics=dynamics,
        selection="random",
        spatial_dims=spatial_dims,
        in_channels=3,
        num_classes=5,
        **SMALL,
    )
    expected = _hand_count(
        in_channels=3,
        num_inputs=4,
        num_outputs=4,
        num_nodes=20,
        num_classes=5,
        k=30,
        spatial_dims=spatial_dims,
    )
    assert parameter_counts(model)["paper"] == expected


def test_random_selection_is_a_fixed_random_k_graph():
    torch.manual_seed(0)
    a = tiny_classifier(dynamics="static", selection="random", graph_seed=3, **SMALL)
    b = tiny_classifier(dynamics="static", selection="random", graph_seed=3, **SMALL)
    c = tiny_classifier(dynamics="static", selection="random", graph_seed=4, **SMALL)
    ref = generators.random_k(tiny_classifier_graph("static", **SMALL), 30, seed=3)
    assert np.array_equal(a.graph().real, ref.real)
    assert np.array_equal(a.graph().real, b.graph().real)
    assert not np.array_equal(a.graph().real, c.graph().real)
    # Training the weights does not move the edges.
    opt = torch.optim.SGD(a.parameters(), lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        a(torch.randn(4, 3, 12, 12)).pow(2).sum().backward()
        opt.step()
    assert np.array_equal(a.graph().real, ref.real)


def test_dnw_initial_weights_follow_the_authors_scale():
    model = tiny_classifier(**SMALL)
    w = model.graph_module.weight.detach()
    bound = 1 / math.sqrt(20)
    assert w.abs().max() < bound and w.abs().max() > 0.9 * bound
    # The k real edges are the largest |w|.
    real = torch.from_numpy(model.graph().real.copy())
    assert w.abs()[real].min() >= w.abs()[~real].max()


def test_center_pool_head_matches_a_hand_written_module():
    torch.manual_seed(0)
    head = CenterPoolHead(6, 3, spatial_dims=2)
    z = torch.randn(2, 6, 8, 8)
    centre = z[:, :, 3:5, 3:5].mean(dim=(2, 3))  # ceil(8 / 4) = 2, centred: rows/cols 3 and 4
    expected = centre @ head.fc.weight.T + head.fc.bias
    torch.testing.assert_close(head(z), expected)
    head1 = CenterPoolHead(6, 3, spatial_dims=1)
    z1 = torch.randn(2, 6, 10)
    expected1 = z1[:, :, 3:6].mean(dim=2) @ head1.fc.weight.T + head1.fc.bias  # ceil(10/4) = 3
    torch.testing.assert_close(head1(z1), expected1)


def test_graph_classifier_around_any_graph():
    torch.manual_seed(0)
    g = generators.layered([4, 6, 3], seed=0)
    model = GraphClassifier.from_graph(
        g, in_channels=2, num_classes=5, spatial_dims=1, dynamics="static", selection="dnw", k=20
    )
    assert model(torch.randn(3, 2, 24)).shape == (3, 5)
    assert model.graph().num_edges == 20
    assert isinstance(model.graph(), wiring.NeuralGraph)
    custom = GraphClassifier(nn.Identity(), wiring.compile(g, spatial_dims=0, k=10), nn.Identity())
    assert custom(torch.randn(2, 4)).shape == (2, 3)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="dynamics"):
        tiny_classifier(dynamics="recurrent")
    with pytest.raises(ValueError, match="selection"):
        tiny_classifier(selection="lottery")
    with pytest.raises(ValueError, match="spatial_dims"):
        tiny_classifier(spatial_dims=3)
    with pytest.raises(TypeError, match="unknown override 'num_node'"):
        tiny_classifier(num_node=10)
    with pytest.raises(ValueError, match=r"^k: expected at most the 552 "):
        tiny_classifier(dynamics="discrete", **{**SMALL, "num_nodes": 24, "k": 553})
    with pytest.raises(ValueError, match="num_nodes"):
        tiny_classifier(num_nodes=10, num_inputs=6, num_outputs=5)
    with pytest.raises(ValueError, match="stem_stride"):
        tiny_classifier(stem_stride=3, **SMALL)
    with pytest.raises(TypeError, match="graph_module"):
        GraphClassifier(nn.Identity(), nn.Linear(2, 2), nn.Identity())


def test_compiled_modules_and_classifiers_have_a_graph() -> None:
    model = tiny_classifier(dynamics="discrete", spatial_dims=0, in_channels=4, **SMALL)
    assert isinstance(model, wiring.HasGraph)
    assert isinstance(model.graph_module, wiring.HasGraph)
    assert not isinstance(nn.Linear(2, 2), wiring.HasGraph)
    assert model.graph().num_edges == SMALL["k"]
