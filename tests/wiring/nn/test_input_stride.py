"""compile(..., input_stride=s): the input nodes' convolution is strided, later blocks run smaller."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import wiring
from wiring import NeuralGraph, generators


def _bn(x: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    return (x - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(
        bn.running_var.view(1, -1, 1, 1) + bn.eps
    ) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)


def test_strided_input_nodes_match_a_hand_written_computation():
    g = generators.complete_dag([3, 4, 2], seed=0)  # nodes 0-2 | 3-6 | 7-8
    torch.manual_seed(0)
    model = wiring.compile(g, k=14, input_stride=2).eval()
    for op in model.ops[:2]:
        op.norm.running_mean.uniform_(-1, 1)
        op.norm.running_var.uniform_(0.5, 2)
    w = (model.weight * model.real_mask()).detach()
    dense = torch.zeros(9, 9)  # dense[v, u] = w_uv
    dense[torch.as_tensor(g.dst.copy()), torch.as_tensor(g.src.copy())] = w
    x = torch.randn(2, 3, 9, 9)
    op0, op1 = model.ops[0], model.ops[1]
    z0 = F.conv2d(torch.relu(_bn(x, op0.norm)), op0.conv.weight, stride=2, padding=1, groups=3)
    assert z0.shape[-1] == 5  # ceil(9 / 2)
    i1 = torch.einsum("vu,buhw->bvhw", dense[3:7, :3], z0)
    z1 = F.conv2d(torch.relu(_bn(i1, op1.norm)), op1.conv.weight, padding=1, groups=4)
    out = torch.einsum("vu,buhw->bvhw", dense[7:, :7], torch.cat([z0, z1], 1))
    with torch.no_grad():
        assert torch.allclose(model(x), out, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_stride": 0}, "input_stride: expected a positive int"),
        ({"input_stride": 2, "node_op": "identity"}, "input_stride.*stride="),
        ({"input_stride": 2, "spatial_dims": 0}, "input_stride.*spatial_dims=0"),
    ],
)
def test_bad_input_stride(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wiring.compile(generators.complete_dag([2, 3, 2]), **kwargs)


def test_input_stride_needs_an_op_at_every_input_node():
    g = NeuralGraph(
        [0, 1], [2, 2], [1.0, 1.0], num_nodes=3, blocks=[0, 0, 1], inputs=[0, 1], outputs=[1, 2]
    )
    with pytest.raises(ValueError, match="output nodes in block 0"):
        wiring.compile(g, input_stride=2)
    with pytest.raises(ValueError, match="unknown option"):
        wiring.compile(
            generators.complete_digraph(3, inputs=[0], outputs=[2]),
            dynamics="discrete",
            input_stride=2,
        )
