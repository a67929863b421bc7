"""compile(): each dynamics against a hand-written torch module or a closed form."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

import wiring
from wiring import NeuralGraph, generators


def _layer_matrix(g: NeuralGraph, src_nodes: np.ndarray, dst_nodes: np.ndarray) -> torch.Tensor:
    """Dense (len(dst), len(src)) weights of the real edges between two node sets, by hand."""
    m = np.zeros((dst_nodes.size, src_nodes.size))
    s_index = {int(u): i for i, u in enumerate(src_nodes)}
    d_index = {int(v): i for i, v in enumerate(dst_nodes)}
    for u, v, w, r in zip(g.src, g.dst, g.weight, g.real, strict=True):
        if r and int(u) in s_index and int(v) in d_index:
            m[d_index[int(v)], s_index[int(u)]] = w
    return torch.tensor(m, dtype=torch.float32)


@pytest.mark.parametrize(
    ("spatial_dims", "norm"),
    # instance norm needs spatial states (compile refuses it for scalars: tested in test_compile)
    [
        (d, n)
        for d in (0, 1, 2)
        for n in ("batch", "instance", None)
        if not (d == 0 and n == "instance")
    ],
)
def test_static_layered_equals_hand_written_stack(spatial_dims, norm):
    torch.manual_seed(0)
    sizes = [3, 5, 4, 2]
    g = generators.layered(sizes, seed=1)
    model = wiring.compile(g, dynamics="static", spatial_dims=spatial_dims, norm=norm)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    blocks = [np.arange(starts[b], starts[b + 1]) for b in range(len(sizes))]
    conv = {1: nn.Conv1d, 2: nn.Conv2d}.get(spatial_dims)
    norm_cls = {
        ("batch", 0): nn.BatchNorm1d,
        ("batch", 1): nn.BatchNorm1d,
        ("batch", 2): nn.BatchNorm2d,
        ("instance", 1): nn.InstanceNorm1d,
        ("instance", 2): nn.InstanceNorm2d,
    }
    layers: list[nn.Module] = []
    for b in range(len(sizes) - 1):
        c = sizes[b]
        if norm is not None:
            kw = {"affine": True} if norm == "instance" else {}
            layers.append(norm_cls[(norm, spatial_dims)](c, **kw))
        layers.append(nn.ReLU())
        if conv is not None:
            dw = conv(c, c, 3, padding=1, groups=c, bias=False)
            with torch.no_grad():
                dw.weight.copy_(model.ops[b].conv.weight)  # same random depthwise filters
            layers.append(dw)
        mat = _layer_matrix(g, blocks[b], blocks[b + 1])
        if conv is None:
            pw = nn.Linear(c, sizes[b + 1], bias=False)
            with torch.no_grad():
                pw.weight.copy_(mat)
        else:
            pw = conv(c, sizes[b + 1], 1, bias=False)
            with torch.no_grad():
                pw.weight.copy_(mat.view(*mat.shape, *([1] * spatial_dims)))
        layers.append(pw)
    reference = nn.Sequential(*layers)
    x = torch.randn(6, 3, *([7] * spatial_dims))
    torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)


def test_static_uses_only_real_edges():
    g = generators.complete_dag([2, 3, 2], seed=0).with_top_k(5)
    model = wiring.compile(
        g, dynamics="static", spatial_dims=0, node_op="identity", selection="fixed"
    )
    x = torch.randn(4, 2, dtype=torch.float32)
    a = torch.tensor(g.adjacency().toarray(), dtype=torch.float32)
    z = torch.zeros(4, 7)
    z[:, :2] = x
    for nodes in (range(2, 5), range(5, 7)):
        for v in nodes:
            z[:, v] = z @ a[:, v]
    torch.testing.assert_close(model(x), z[:, 5:7])


def test_continuous_linear_diffusion_matches_expm():
    rng = np.random.default_rng(0)
    n = 6
    w = np.triu(rng.uniform(0.1, 1.0, (n, n)), 1)
    w = w + w.T
    lap = np.diag(w.sum(1)) - w
    src, dst = np.nonzero(lap)  # -L as edge weights, self-loops included
    g = NeuralGraph(
        src, dst, -lap[src, dst], num_nodes=n, inputs=np.arange(n), outputs=np.arange(n)
    )
    model = wiring.compile(
        g,
        dynamics="continuous",
        spatial_dims=0,
        node_op="identity",
        norm=None,
        selection="fixed",
        t1=0.7,
        rtol=1e-9,
        atol=1e-10,
        dtype=torch.float64,
    )
    z0 = rng.normal(size=(3, n))
    out = model(torch.tensor(z0)).detach().numpy()
    expect = z0 @ scipy.linalg.expm(-0.7 * lap).T
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("inject", [False, True])
def test_discrete_linear_matches_matrix_power(inject):
    rng = np.random.default_rng(1)
    g = generators.complete_digraph(7, inputs=[0, 1], outputs=[5, 6], seed=2).with_top_k(20)
    model = wiring.compile(
        g,
        dynamics="discrete",
        spatial_dims=0,
        node_op="identity",
        selection="fixed",
        steps=4,
        inject_input=inject,
        dtype=torch.float64,
    )
    a = g.adjacency().toarray()
    x = rng.normal(size=(5, 2))
    z = np.zeros((5, 7))
    z[:, [0, 1]] = x
    for _ in range(4):
        z = z @ a
        if inject:
            z[:, [0, 1]] += x
    np.testing.assert_allclose(model(torch.tensor(x)).detach().numpy(), z[:, [5, 6]], rtol=1e-10)


def test_output_nodes_have_no_op_and_hidden_nodes_do():
    # one hidden node with ReLU between input and output: negative inputs are cut
    g = NeuralGraph(
        [0, 1], [1, 2], [1.0, 1.0], num_nodes=3, blocks=[0, 1, 2], inputs=[0], outputs=[2]
    )
    model = wiring.compile(g, spatial_dims=0, norm=None)
    x = torch.tensor([[-2.0], [3.0]])
    # input op relu, hidden op relu, output none
    torch.testing.assert_close(model(x), torch.relu(x))
    g2 = NeuralGraph([0], [1], [-1.0], num_nodes=2, blocks=[0, 1], inputs=[0], outputs=[1])
    out = wiring.compile(g2, spatial_dims=0, norm=None)(torch.tensor([[2.0]]))
    assert out.item() == -2.0  # the output node keeps the negative value: no ReLU there


def _smooth_op(channels: int, spatial_dims: int) -> nn.Module:
    # A smooth, pluggable node op: the adjoint reconstructs Z(t) backwards in time, which a ReLU
    # kink or a near-constant instance norm (gradient ~ 1/sqrt(eps)) would amplify.
    return nn.Sequential(nn.Tanh(), nn.Conv1d(channels, channels, 3, padding=1, groups=channels))


def test_continuous_adjoint_gradients_match_direct():
    torch.manual_seed(0)
    g = generators.complete_digraph(10, inputs=[0, 1, 2], outputs=[8, 9], seed=3)
    kw = dict(
        dynamics="continuous",
        spatial_dims=1,
        k=30,
        rtol=1e-8,
        atol=1e-8,
        dtype=torch.float64,
        node_op=_smooth_op,
    )
    direct = wiring.compile(g, **kw)
    adjoint = wiring.compile(g, adjoint=True, **kw)
    adjoint.load_state_dict(direct.state_dict())
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    for m in (direct, adjoint):
        m(x).pow(2).sum().backward()
    assert adjoint.weight.grad is not None and adjoint.weight.grad.abs().sum() > 0
    torch.testing.assert_close(adjoint.weight.grad, direct.weight.grad, rtol=1e-4, atol=1e-6)
    for (name, p), q in zip(direct.named_parameters(), adjoint.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_adjoint_params_hold_the_edge_weights(monkeypatch):
    import torchdiffeq

    seen = {}
    original = torchdiffeq.odeint_adjoint

    def spy(func, y0, t, *, adjoint_params, **kw):
        seen["params"] = adjoint_params
        return original(func, y0, t, adjoint_params=adjoint_params, **kw)

    monkeypatch.setattr(torchdiffeq, "odeint_adjoint", spy)
    g = generators.complete_digraph(6, inputs=[0, 1], outputs=[5], seed=0)
    model = wiring.compile(g, dynamics="continuous", spatial_dims=1, k=10, adjoint=True)
    model(torch.randn(2, 2, 4)).sum().backward()
    assert any(p is model.weight for p in seen["params"])
    assert (model.weight.grad[~model.real_mask()] != 0).any()  # straight-through kept


@pytest.mark.parametrize("dynamics", ["static", "discrete", "continuous"])
def test_selection_runs_once_per_forward(dynamics, monkeypatch):
    g = (
        generators.complete_dag([3, 4, 2])
        if dynamics == "static"
        else generators.complete_digraph(8, inputs=[0, 1, 2], outputs=[6, 7])
    )
    model = (
        wiring.compile(g, dynamics=dynamics, spatial_dims=1, k=12, steps=5)
        if dynamics == "discrete"
        else wiring.compile(g, dynamics=dynamics, spatial_dims=1, k=12)
    )
    calls = []
    original = model.selection.mask
    monkeypatch.setattr(model.selection, "mask", lambda w: calls.append(1) or original(w))
    model(torch.randn(2, 3, 4)).sum().backward()
    assert len(calls) == 1
    if dynamics == "continuous":
        assert model.nfe > 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_option(dtype):
    g = generators.complete_dag([2, 3], seed=0)
    m = wiring.compile(g, spatial_dims=1, dtype=dtype)
    assert m.weight.dtype == dtype
    assert m(torch.randn(2, 2, 4, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("dynamics", ["static", "discrete", "continuous"])
@pytest.mark.parametrize("selection", ["dnw", "dnw-no-update"])
def test_sparse_and_dense_message_passing_agree(dynamics, selection):
    torch.manual_seed(0)
    if dynamics == "static":
        g = generators.complete_dag([4, 9, 9, 3], seed=2)
    else:
        g = generators.complete_digraph(20, inputs=[0, 1, 2, 3], outputs=[17, 18, 19], seed=2)
    kw = dict(dynamics=dynamics, spatial_dims=2, k=60, selection=selection, dtype=torch.float64)
    dense = wiring.compile(g, sparse=False, **kw)
    sparse = wiring.compile(g, sparse=True, **kw)
    sparse.load_state_dict(dense.state_dict())
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    out_d, out_s = dense(x), sparse(x)
    torch.testing.assert_close(out_s, out_d)
    out_d.pow(2).sum().backward()
    out_s.pow(2).sum().backward()
    for (name, p), q in zip(dense.named_parameters(), sparse.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, msg=name)
    if selection == "dnw":  # hallucinated edges got their gradient on the sparse path too
        assert (sparse.weight.grad[~sparse.real_mask()] != 0).any()
