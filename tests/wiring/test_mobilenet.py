"""MobileNetV1 and MobileNetV1-DNW: published counts, the structure of DNW sec. 2.4, export."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

import wiring
from wiring.models import (
    chain_graphs,
    mobilenet_v1,
    mobilenet_v1_dnw,
    mobilenet_v1_edge_budgets,
)
from wiring.nn.export import ExportedChain, from_state_dict

# Howard et al. (2017), Table 6/7 and DNW Table 3: parameters and multiply-adds at 224×224
PUBLISHED = [(1.0, 4.23e6, 569e6), (0.5, 1.33e6, 149e6), (0.25, 0.47e6, 41.0e6)]


@pytest.mark.parametrize(("width", "params", "macs"), PUBLISHED)
def test_mobilenet_v1_counts_match_the_published_ones(width, params, macs):
    c = wiring.count(mobilenet_v1(width), (3, 224, 224))
    assert c["params"] == pytest.approx(params, rel=0.01)
    assert c["macs"] == pytest.approx(macs, rel=0.01)


def test_mobilenet_v1_shapes_and_arguments():
    net = mobilenet_v1(0.25, num_classes=7, in_channels=1, stem_stride=1).eval()
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 7)
    assert net.fc.in_features == 256 and net.stem[0].out_channels == 8
    for bad in ({"width": 0}, {"width": "wide"}, {"num_classes": 0}, {"stem_stride": 4}):
        with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
            mobilenet_v1(**bad)


def _pointwise_edges_by_resolution(width: float) -> dict[int, int]:
    """1×1 edges of the hand-written MobileNetV1 at each output size of a 224 px image."""
    net = mobilenet_v1(width).eval()
    edges: dict[int, int] = {}

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if module.kernel_size == (1, 1):
            edges[out.shape[-1]] = edges.get(out.shape[-1], 0) + module.weight[:, :, 0, 0].numel()

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 3, 224, 224))
    return edges


@pytest.mark.parametrize("width", [0.25, 0.5, 0.225, 0.49])
def test_edge_budgets_are_the_1x1_edges_of_mobilenet_v1(width):
    by_size = _pointwise_edges_by_resolution(width)
    assert [by_size[s] for s in (112, 56, 28, 14, 7)] == mobilenet_v1_edge_budgets(width)
    if width == 0.25:  # the figures
        assert mobilenet_v1_edge_budgets(width) == [128, 1536, 6144, 90112, 98304]


@functools.lru_cache(maxsize=1)
def _dnw() -> nn.Module:
    torch.manual_seed(0)
    return mobilenet_v1_dnw(0.25, num_classes=10, small=True, seed=0)


BLOCKS = [[32, 64], [64, 128, 128], [128, 256, 256], [256] + [512] * 6, [512, 1024, 1024]]


def test_mobilenet_v1_dnw_structure():
    model = _dnw()
    graphs = model.graphs()
    assert len(graphs) == 6  # five resolutions and the small classifier
    for g, blocks, k, stage in zip(
        graphs, BLOCKS, mobilenet_v1_edge_budgets(0.25), model.stages, strict=False
    ):
        assert np.bincount(g.blocks).tolist() == blocks
        assert g.num_edges == k == stage.k
        # every u -> v with block(u) < block(v), and nothing else
        sizes = np.array(blocks)
        assert g.num_candidates == int(
            sum(sizes[b] * sizes[:b].sum() for b in range(1, sizes.size))
        )
        assert g.longest_path_length() == len(blocks) - 1  # MobileNetV1's layers there
    assert graphs[-1].num_edges == 256 * 10  # MobileNetV1 x0.25's classifier: 256 x 10
    whole = chain_graphs(graphs)  # what model.graph() returns, without re-reading the weights
    assert whole.num_nodes == 5984 + 10
    assert whole.longest_path_length() == 13 + 1  # 13 pointwise layers and the classifier
    assert whole.num_edges == sum(mobilenet_v1_edge_budgets(0.25)) + 2560


def test_mobilenet_v1_dnw_resolutions_and_forward():
    model = _dnw().eval()
    sizes = []
    hooks = [
        s.register_forward_hook(lambda m, a, o: sizes.append(o.shape[1:])) for s in model.stages
    ]
    try:
        with torch.no_grad():
            out = model(torch.randn(1, 3, 224, 224))
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (1, 10)
    assert [tuple(s) for s in sizes] == [
        (64, 112, 112),
        (128, 56, 56),
        (256, 28, 28),
        (512, 14, 14),
        (1024, 7, 7),
    ]


def test_mobilenet_v1_dnw_trains_every_candidate():
    model = _dnw().train()
    for p in model.parameters():
        p.grad = None
    loss = model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum()
    loss.backward()
    stage = model.stages[1]
    real = stage.real_mask()
    assert stage.weight.grad[~real].abs().sum() > 0  # hallucinated edges get DNW's update
    model.eval()


def test_mobilenet_v1_dnw_export_and_count():
    model = _dnw().eval()
    fast = wiring.export(model)
    assert isinstance(fast, ExportedChain)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
    assert float((fast(x) - y).abs().max() / y.abs().max()) < 1e-5
    again = from_state_dict(fast.state_dict())
    assert torch.equal(again(x), fast(x))
    c = wiring.count(model, (3, 32, 32))
    assert len(c["graphs"]) == 6
    # stem: only the channels of input nodes with an edge out are counted
    stem = c["layers"][0]
    g0 = model.stages[0].graph()
    unused = 32 - np.unique(g0.src[g0.real]).size  # input nodes without a real edge out
    assert stem["unused_output_channels"] == unused
    assert stem["macs"] == (32 - unused) * 3 * 9 * 16 * 16
    assert c["macs"] < c["macs_dense"]


def test_mobilenet_v1_dnw_arguments():
    for kwargs, name in (
        ({"width": 0.0}, "width"),
        ({"width": 1.5}, "width"),
        ({"selection": "fixed"}, "selection"),
        ({"selection": "nope"}, "selection"),
        ({"small": "yes"}, "small"),
        ({"num_classes": 0}, "num_classes"),
        ({"stem_stride": 3}, "stem_stride"),
        ({"seed": -1}, "seed"),
    ):
        with pytest.raises((ValueError, TypeError), match=name):
            mobilenet_v1_dnw(**kwargs)
