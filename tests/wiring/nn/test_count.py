"""wiring.count: against torch's FlopCounterMode, hand-built graphs and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import wiring
from wiring import NeuralGraph, generators
from wiring.nn.count import node_liveness


def _flop_counter_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(torch.randn(shape))
    return fc.get_total_flops() // 2


class Functional(nn.Module):
    """A custom module calling F.conv2d and a matmul directly (no counted submodule)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 3, 3, 3))
        self.m = nn.Parameter(torch.randn(6 * 5 * 5, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.conv2d(x, self.w)
        return y.flatten(1) @ self.m


PLAIN = {
    "conv2d": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4),
            nn.Conv2d(8, 16, 1, bias=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 10),
        ),
        (3, 17, 15),
    ),
    "conv1d-3d-transposed": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 4, 5, stride=2),
            nn.ConvTranspose1d(4, 6, 3, stride=2, groups=2),
            nn.Unflatten(1, (1, 6)),
            nn.Conv3d(1, 3, (1, 3, 3), padding=1),
            nn.Flatten(),
        ),
        (2, 33),
    ),
    "linear-on-sequences": (
        lambda: nn.Sequential(nn.Linear(7, 5), nn.GELU(), nn.LayerNorm(5), nn.Linear(5, 3)),
        (4, 7),
    ),
    "functional": (Functional, (3, 7, 7)),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_models_agree_with_flop_counter_mode(name):
    build, shape = PLAIN[name]
    model = build()
    c = wiring.count(model, shape)
    assert c["macs"] == _flop_counter_macs(model, (1, *shape))
    assert c["params"] == sum(p.numel() for p in model.parameters())
    assert c["macs_dense"] == c["macs"] and c["params_dense"] == c["params"]


def test_per_layer_formulas_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Linear(5, 2))
    c = wiring.count(model, (3, 10, 10))
    conv, lin = c["layers"]
    assert conv["macs"] == 8 * 5 * 5 * 3 * 9 and conv["params"] == 8 * 27 + 8
    assert conv["output_shape"] == (1, 8, 5, 5)
    assert lin["macs"] == 8 * 5 * 2 * 5  # a (1, 8, 5, 5) input: 40 rows of 5 features


def test_leading_batch_dimension_is_optional():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 2))
    a = wiring.count(model, (1, 8, 8))  # one channel: tried as a batch, then as one example
    b = wiring.count(model, (1, 1, 8, 8))
    assert a["macs"] == b["macs"] == 4 * 36 * 9 + 4 * 36 * 2
    assert b["input_shape"] == (1, 1, 8, 8)


def test_count_restores_training_mode_and_running_statistics():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = model[1].running_mean.clone()
    wiring.count(model, (3, 6, 6))
    assert model.training and model[1].training
    assert torch.equal(model[1].running_mean, before)


def test_pruned_weights_count_only_real_entries():
    from torch.nn.utils import prune

    conv, lin = nn.Conv2d(2, 4, 3, padding=1), nn.Linear(4 * 16, 3)
    model = nn.Sequential(conv, nn.Flatten(), lin)
    mask = torch.zeros_like(conv.weight)
    mask[0] = 1  # only output channel 0 is real: 2·9 weights
    prune.custom_from_mask(conv, "weight", mask)
    prune.l1_unstructured(lin, "weight", amount=0.75)  # 48 of 192 weights kept
    c = wiring.count(model, (2, 4, 4))
    assert c["macs"] == 18 * 16 + 48
    assert c["params"] == 18 + 4 + 48 + 3
    assert c["macs_dense"] == 72 * 16 + 192


def _hand_graph() -> NeuralGraph:
    """Blocks [0 0 | 1 1 1 | 2 2 | 3 3] = nodes [0 1 | 2 3 4 | 5 8 | 6 7]; inputs 0, 1; outputs 6, 7.

    Real edges 0→2, 0→3, 1→4, 2→6, 3→5, 5→7, 8→7. Node 4 has no output edge, node 8 no input:
    both are dead. Live op nodes: 0, 1, 2, 3, 5.
    """
    blocks = np.array([0, 0, 1, 1, 1, 2, 3, 3, 2])
    full = generators.complete_dag([2, 3, 2, 2], seed=0)  # nodes numbered block by block
    relabel = np.array([0, 1, 2, 3, 4, 5, 8, 6, 7])  # complete_dag's node i is our node relabel[i]
    src, dst = relabel[full.src], relabel[full.dst]
    real_edges = {(0, 2), (0, 3), (1, 4), (2, 6), (3, 5), (5, 7), (8, 7)}
    real = np.array([(int(u), int(v)) in real_edges for u, v in zip(src, dst, strict=True)])
    return NeuralGraph(
        src, dst, full.weight, num_nodes=9, blocks=blocks, inputs=[0, 1], outputs=[6, 7], real=real
    )


def test_dead_nodes_of_a_hand_built_static_graph():
    g = _hand_graph()
    alive = node_liveness(g)
    assert np.flatnonzero(alive["live"]).tolist() == [0, 1, 2, 3, 5]
    model = wiring.compile(g, selection="fixed", spatial_dims=2)
    c = wiring.count(model, (2, 6, 6))
    p = 36
    assert c["macs"] == 7 * p + 5 * 9 * p  # 7 real edges, 5 live depthwise 3×3 convolutions
    assert c["params"] == 7 + 5 * (9 + 2)  # batch norm scale and shift with each live kernel
    assert g.num_candidates == 30
    assert c["macs_dense"] == 30 * p + 7 * 9 * p
    assert c["params_dense"] == 30 + 7 * 11
    info = c["graphs"][0]["graph"]
    assert (info["live_nodes"], info["dead_nodes"], info["op_nodes"]) == (5, 2, 7)
    assert info["edges"] == 7 and info["positions"] == p


def test_strided_input_nodes_count_at_the_reduced_size():
    g = generators.complete_dag([3, 4, 2], seed=0)
    model = wiring.compile(g, k=g.num_candidates, input_stride=2)
    c = wiring.count(model, (3, 9, 9))  # 9 → 5
    assert c["macs"] == g.num_candidates * 25 + (3 + 4) * 9 * 25


def test_discrete_graph_counts_every_step():
    g = generators.complete_digraph(5, inputs=[0], outputs=[4], seed=0)
    g = g.with_real(np.isin(np.arange(g.num_candidates), [0, 5, 10]))
    model = wiring.compile(g, dynamics="discrete", selection="fixed", spatial_dims=1, steps=3)
    alive = node_liveness(g)
    live = int(alive["live"].sum())
    c = wiring.count(model, (1, 8))
    assert c["macs"] == 3 * (3 * 8 + live * 3 * 8)  # kernel 3 in 1-D
    assert c["graphs"][0]["graph"]["evaluations"] == 3


def test_continuous_graph_counts_the_solver_evaluations():
    g = generators.complete_digraph(4, inputs=[0], outputs=[3], seed=0)
    model = wiring.compile(g, dynamics="continuous", k=6, spatial_dims=0, norm=None)
    c = wiring.count(model, (1,))
    assert c["graphs"][0]["graph"]["evaluations"] == model.nfe  # first count: nfe started at 0
    assert c["macs"] == model.nfe * 6  # no convolution for scalar nodes


def test_chained_graphs_and_a_feeding_convolution():
    # graph A: 2 inputs -> 3 outputs, only output 0 gets an edge; graph B reads A's outputs
    a = generators.complete_dag([2, 3], seed=0).with_real(
        np.isin(np.arange(6), [0])  # candidate 0: node 0 -> node 2
    )
    b = generators.complete_dag([3, 2], seed=1).with_real(np.ones(6, dtype=bool))
    model = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False),
        wiring.compile(a, selection="fixed"),
        wiring.compile(b, selection="fixed"),
    )
    c = wiring.count(model, (1, 4, 4))
    conv, ga, gb = c["layers"]
    p = 16
    # A: node 1 (an input) has no edge out, so the convolution's channel 1 is not computed
    assert conv["macs"] == 1 * p and conv["unused_output_channels"] == 1
    assert ga["macs"] == 1 * p + 1 * 9 * p
    # B: inputs 1 and 2 are outputs of A without an input: their ops are skipped
    assert gb["graph"]["live_nodes"] == 1
    assert gb["macs"] == 6 * p + 1 * 9 * p


def test_bad_input():
    with pytest.raises(TypeError, match="model"):
        wiring.count("not a model", (3, 8, 8))
    with pytest.raises(TypeError, match="input_shape"):
        wiring.count(nn.Linear(3, 2), 3)
    with pytest.raises(ValueError, match="input_shape"):
        wiring.count(nn.Linear(3, 2), (0, 3))
    with pytest.raises(ValueError, match=r"cannot trace.*Linear.*\(5,\)"):
        wiring.count(nn.Linear(3, 2), (5,))
