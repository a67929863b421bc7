"""Edge selection: exactly k real edges, where gradients go, and the swap of DNW sec. 2.2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wiring
from wiring import NeuralGraph, generators


def _hand_written_grad(
    g: NeuralGraph, weight: torch.Tensor, mask: torch.Tensor, x: torch.Tensor, steps: int
):
    """Gradient of sum(out^2) w.r.t. a dense n×n matrix, for the linear discrete dynamics.

    Z(t) = Z(t-1) A with A = (w * mask) scattered into a dense leaf tensor; the straight-through
    rule says every candidate's gradient is dL/dA[u, v] at its position.
    """
    n = g.num_nodes
    a = torch.zeros(n, n, dtype=torch.float64)
    a[torch.as_tensor(g.src.copy()), torch.as_tensor(g.dst.copy())] = (weight * mask).detach()
    a.requires_grad_(True)
    z = torch.zeros(x.shape[0], n, dtype=torch.float64)
    z[:, torch.as_tensor(g.inputs.copy())] = x
    for _ in range(steps):
        z = z @ a
    z[:, torch.as_tensor(g.outputs.copy())].pow(2).sum().backward()
    return a.grad[torch.as_tensor(g.src.copy()), torch.as_tensor(g.dst.copy())]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("selection", ["dnw", "dnw-no-update"])
def test_gradients_reach_hallucinated_edges_only_under_dnw(selection, sparse):
    g = generators.complete_digraph(9, inputs=[0, 1], outputs=[7, 8], seed=0)
    model = wiring.compile(
        g,
        dynamics="discrete",
        spatial_dims=0,
        node_op="identity",
        selection=selection,
        k=25,
        steps=3,
        sparse=sparse,
        dtype=torch.float64,
    )
    x = torch.randn(6, 2, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    mask = model.real_mask()
    expect = _hand_written_grad(g, model.weight, mask.double(), x, steps=3)
    grad = model.weight.grad
    torch.testing.assert_close(grad[mask], expect[mask])
    hallucinated = ~mask
    if selection == "dnw":
        torch.testing.assert_close(grad[hallucinated], expect[hallucinated])
        assert (grad[hallucinated] != 0).sum() > 10
    else:
        assert torch.all(grad[hallucinated] == 0)


@pytest.mark.parametrize("dynamics", ["static", "discrete", "continuous"])
def test_exactly_k_real_edges_at_every_step_of_training(dynamics):
    torch.manual_seed(0)
    if dynamics == "static":
        g = generators.complete_dag([3, 6, 6, 2], seed=1)
    else:
        g = generators.complete_digraph(12, inputs=[0, 1, 2], outputs=[10, 11], seed=1)
    k = 30
    model = wiring.compile(g, dynamics=dynamics, spatial_dims=1, k=k)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    x = torch.randn(16, 3, 5)
    target = torch.randn(16, 2, 5)
    masks = []
    for _ in range(15):
        assert int(model.real_mask().sum()) == k
        assert model.graph().num_edges == k
        loss = (model(x) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        masks.append(model.real_mask().clone())
    # with this large learning rate the real set changes during training (edges swap in and out)
    assert any(not torch.equal(masks[0], m) for m in masks[1:])


def test_graph_reports_the_next_forwards_mask_from_current_weights():
    g = generators.complete_dag([2, 3, 2], seed=0)
    model = wiring.compile(g, spatial_dims=0, k=4)
    with torch.no_grad():
        model.weight.copy_(torch.arange(model.weight.numel(), dtype=torch.float32))
    h = model.graph()
    expect = np.zeros(g.num_candidates, bool)
    expect[-4:] = True  # the four largest |w| are the last four candidates now
    np.testing.assert_array_equal(h.real, expect)
    np.testing.assert_array_equal(h.weight, np.arange(g.num_candidates, dtype=float))


def test_hallucinated_edge_that_aligns_enters_the_real_set():
    # Two inputs, one output, k = 1. The real edge carries x0, the target is x1: the gradient on
    # the hallucinated edge 1->2 consistently aligns with Z_1, so |w_12| grows until it swaps in.
    g = NeuralGraph(
        [0, 1], [2, 2], [0.5, 0.05], num_nodes=3, blocks=[0, 0, 1], inputs=[0, 1], outputs=[2]
    )
    model = wiring.compile(g, spatial_dims=0, node_op="identity", k=1)
    assert model.graph().real.tolist() == [True, False]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    swapped_at = None
    for step in range(200):
        x = torch.randn(32, 2, generator=gen)
        loss = (model(x)[:, 0] - x[:, 1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if model.graph().real.tolist() == [False, True]:
            swapped_at = step
            break
    assert swapped_at is not None, "the aligned hallucinated edge never entered the real set"
    # under the no-update ablation a hallucinated weight gets no gradient: it never grows into
    # the real set (only a decaying real edge can fall below it)
    frozen = wiring.compile(g, spatial_dims=0, node_op="identity", k=1, selection="dnw-no-update")
    opt = torch.optim.SGD(frozen.parameters(), lr=0.05)
    hallucinated_steps = 0
    for _ in range(swapped_at + 20):
        before = frozen.weight[1].item()
        was_hallucinated = not frozen.graph().real[1]
        x = torch.randn(32, 2, generator=gen)
        loss = (frozen(x)[:, 0] - x[:, 1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if was_hallucinated:
            hallucinated_steps += 1
            assert frozen.weight[1].item() == before
    assert hallucinated_steps > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_top_k_mask_matches_a_stable_sort(dtype):
    from wiring.nn.selection import top_k_mask

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = int(rng.integers(1, 60))
        # few distinct values: many ties
        score = rng.integers(0, 5, size=m).astype(np.float64)
        k = int(rng.integers(0, m + 1))
        want = np.zeros(m, bool)
        want[np.argsort(-score, kind="stable")[:k]] = True
        got = top_k_mask(torch.tensor(score, dtype=dtype), k)
        assert got.dtype == torch.bool and got.tolist() == want.tolist()


def test_module_mask_equals_graph_with_top_k_under_ties():
    w = np.array([0.5, -0.5, 0.5, 0.25, -0.5, 0.125])
    g = NeuralGraph(
        [0, 0, 0, 1, 1, 2],
        [1, 2, 3, 2, 3, 3],
        w,
        num_nodes=4,
        blocks=[0, 1, 2, 3],
        inputs=[0],
        outputs=[3],
    )
    for k in range(7):
        model = wiring.compile(g, spatial_dims=0, k=k)
        np.testing.assert_array_equal(model.graph().real, g.with_top_k(k).real)


def test_a_registered_user_selection_compiles_sparsifies_and_trains():
    from torch import nn

    from wiring.nn import SELECTIONS, Selection, register_selection
    from wiring.nn.selection import top_k_mask

    @register_selection("test-largest-signed")
    class LargestSigned(Selection):
        """The k largest *signed* weights are real; plain masked gradient."""

        def __init__(self, *, k, real=None, groups=None):
            super().__init__()
            self.k = int(k)

        def mask(self, weight):
            return top_k_mask(weight.reshape(-1), self.k).view(weight.shape)

    try:
        assert SELECTIONS["test-largest-signed"] is LargestSigned
        g = generators.complete_dag([3, 6, 2], seed=0)
        model = wiring.compile(g, spatial_dims=0, selection="test-largest-signed", k=10)
        assert isinstance(model.selection, LargestSigned)
        x, y = torch.randn(32, 3), torch.randn(32, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        first = None
        for _ in range(30):
            expect = np.zeros(g.num_candidates, bool)
            expect[np.argsort(-model.weight.detach().numpy(), kind="stable")[:10]] = True
            np.testing.assert_array_equal(model.graph().real, expect)
            loss = (model(x) - y).pow(2).mean()
            first = float(loss.detach()) if first is None else first
            opt.zero_grad()
            loss.backward()
            # plain masking: weights outside the mask get no gradient
            assert torch.all(model.weight.grad[~torch.from_numpy(expect)] == 0)
            opt.step()
        assert float(loss.detach()) < first
        mlp = wiring.sparsify(
            nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 2)), 0.5, rule="test-largest-signed"
        )
        assert [s.num_real for s in wiring.sites(mlp)] == [12, 6]
    finally:
        del SELECTIONS["test-largest-signed"]


def test_compile_accepts_a_selection_instance_and_checks_names_in_one_place():
    from wiring.nn import FixedMask

    g = generators.complete_dag([2, 3, 2], seed=0)
    real = torch.zeros(g.num_candidates, dtype=torch.bool)
    real[:4] = True
    rule = FixedMask(real=real)
    model = wiring.compile(g, spatial_dims=0, selection=rule)
    assert model.selection is rule and model.graph().num_edges == 4
    with pytest.raises(ValueError, match=r"^selection: expected one of \['dnw', .*'fixed'\]"):
        wiring.compile(g, selection="magic")
    with pytest.raises(TypeError, match=r"^selection:"):
        wiring.compile(g, selection=3)
    wrong = FixedMask(real=torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^selection:.*shape"):
        wiring.compile(g, selection=wrong)


def test_selection_forward_is_the_effective_weight():
    from wiring.nn import TopK

    rule = TopK(k=2)
    w = torch.tensor([0.5, -3.0, 1.0, 2.0], requires_grad=True)
    out = rule(w)
    assert out.tolist() == [0.0, -3.0, 0.0, 2.0]
    out.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0, 1.0]  # straight-through
    assert rule.effective_grad.tolist() == [1.0, 1.0, 1.0, 1.0]
