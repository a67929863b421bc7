"""wiring.export: outputs equal the eval-mode module's; dead nodes removed; errors; save and load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import wiring
from wiring import NeuralGraph, generators
from wiring.nn import export as ex


def _randomize_norms(model: nn.Module, seed: int) -> None:
    """Non-trivial batch-norm statistics and affine parameters (a trained model has them)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.weight is not None:
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _random_static_graph(seed: int, n: int = 26) -> NeuralGraph:
    """A static DAG with outputs in middle blocks too, and every forward candidate."""
    rng = np.random.default_rng(seed)
    blocks = np.sort(rng.integers(1, 5, n))
    blocks[:4] = 0
    outputs = np.sort(rng.choice(np.flatnonzero(blocks > 0), 5, replace=False))
    u, v = np.nonzero(blocks[:, None] < blocks[None, :])
    return NeuralGraph(
        u,
        v,
        rng.uniform(-1, 1, u.size),
        num_nodes=n,
        blocks=blocks,
        inputs=np.flatnonzero(blocks == 0),
        outputs=outputs,
    )


STATIC_CASES = [
    # (seed, spatial_dims, norm, node_op, input_stride, density)
    (0, 2, "batch", "norm-relu-conv", 1, 0.05),
    (1, 2, "batch", "norm-relu-conv", 2, 0.3),
    (2, 2, "instance", "norm-relu-conv", 2, 0.1),
    (3, 1, None, "norm-relu-conv", 1, 0.05),
    (4, 1, "batch", "norm-relu-conv", 2, 0.6),
    (5, 0, "batch", "norm-relu-conv", 1, 0.1),
    (6, 2, "batch", "identity", 1, 0.2),
    (7, 0, None, "identity", 1, 0.02),
]


@pytest.mark.parametrize("sparse", [None, True, False])
@pytest.mark.parametrize(("seed", "dims", "norm", "op", "stride", "density"), STATIC_CASES)
def test_static_export_equals_the_eval_module(seed, dims, norm, op, stride, density, sparse):
    g = _random_static_graph(seed)
    k = max(1, round(density * g.num_candidates))
    torch.manual_seed(seed)
    model = wiring.compile(
        g, spatial_dims=dims, k=k, norm=norm, node_op=op, input_stride=stride
    ).eval()
    _randomize_norms(model, seed)
    fast = wiring.export(model, sparse=sparse)
    for batch in (1, 3):
        x = torch.randn((batch, len(g.inputs)) + (7,) * dims)
        assert _rel_err(fast(x), model(x)) < 1e-5


@pytest.mark.parametrize("inject", [False, True])
@pytest.mark.parametrize(("dims", "norm"), [(2, "batch"), (1, "instance"), (0, None)])
def test_discrete_export_equals_the_eval_module(dims, norm, inject):
    g = generators.complete_digraph(10, inputs=[0, 1, 2], outputs=[7, 8, 9], seed=dims)
    torch.manual_seed(dims)
    model = wiring.compile(
        g, dynamics="discrete", spatial_dims=dims, k=25, norm=norm, steps=3, inject_input=inject
    ).eval()
    _randomize_norms(model, dims)
    fast = wiring.export(model)
    x = torch.randn((2, 3) + (5,) * dims)
    assert _rel_err(fast(x), model(x)) < 1e-5


def test_export_removes_dead_nodes_of_a_hand_built_graph():
    # blocks [0 0 | 1 1 1 | 2 2 | 3 3]: nodes 0 1 | 2 3 4 | 5 8 | 6 7; inputs 0, 1; outputs 6, 7.
    # Real: 0→2, 0→3, 1→4, 2→6, 3→5, 5→7, 8→7. No output depends on 1 or 4; no input reaches 8,
    # whose state f(0) is a fixed map added to node 7.
    full = generators.complete_dag([2, 3, 2, 2], seed=0)
    relabel = np.array([0, 1, 2, 3, 4, 5, 8, 6, 7])
    src, dst = relabel[full.src], relabel[full.dst]
    real_edges = {(0, 2), (0, 3), (1, 4), (2, 6), (3, 5), (5, 7), (8, 7)}
    real = np.array([(int(u), int(v)) in real_edges for u, v in zip(src, dst, strict=True)])
    g = NeuralGraph(
        src,
        dst,
        full.weight,
        num_nodes=9,
        blocks=[0, 0, 1, 1, 1, 2, 3, 3, 2],
        inputs=[0, 1],
        outputs=[6, 7],
        real=real,
    )
    model = wiring.compile(g, selection="fixed").eval()
    _randomize_norms(model, 0)
    fast = wiring.export(model)
    assert fast.num_nodes == 6  # 0, 2, 3, 5, 6, 7
    assert fast.num_constant_nodes == 1  # 8
    x = torch.randn(4, 2, 6, 6)
    assert _rel_err(fast(x), model(x)) < 1e-5
    # input 1 is dead: changing it changes nothing
    x2 = x.clone()
    x2[:, 1] = 100.0
    assert torch.equal(fast(x2), fast(x))


def test_graph_classifier_export_and_rebuild(tmp_path):
    from wiring.models import tiny_classifier

    torch.manual_seed(0)
    model = tiny_classifier(
        num_nodes=40, num_inputs=4, num_outputs=6, block_size=10, k=150, norm="batch"
    )
    _randomize_norms(model, 1)
    model.eval()
    fast = wiring.export(model)
    assert isinstance(fast.graph_module, ex.ExportedStatic)
    x = torch.randn(3, 3, 16, 16)
    assert _rel_err(fast(x), model(x)) < 1e-5
    path = tmp_path / "fast.pt"
    ex.save(fast, path)
    template = tiny_classifier(
        num_nodes=40, num_inputs=4, num_outputs=6, block_size=10, k=150, norm="batch"
    )
    again = ex.load(path, template=template)
    assert torch.equal(again(x), fast(x))


def test_save_and_load_a_graph_through_torch_save(tmp_path):
    g = generators.complete_dag([3, 10, 10, 2], seed=0)
    model = wiring.compile(g, k=40).eval()
    fast = wiring.export(model)
    torch.save(fast.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    again = ex.from_state_dict(state)
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(again(x), fast(x))


def test_plain_model_batch_norm_and_pruning_are_folded():
    from torch.nn.utils import prune

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten())
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    _randomize_norms(model, 2)
    model.eval()
    fast = wiring.export(model)
    assert isinstance(fast[1], nn.Identity) and not hasattr(fast[0], "weight_mask")
    x = torch.randn(2, 3, 6, 6)
    assert _rel_err(fast(x), model(x)) < 1e-5
    assert hasattr(model[0], "weight_mask")  # the model itself is untouched


def test_bad_input():
    g = generators.complete_dag([2, 4, 2], seed=0)
    with pytest.raises(TypeError, match="model"):
        wiring.export("model")
    with pytest.raises(ValueError, match=r"training mode.*eval\(\)"):
        wiring.export(wiring.compile(g, k=5))  # a fresh module trains
    cont = wiring.compile(
        generators.complete_digraph(4, inputs=[0], outputs=[3]), dynamics="continuous", k=5
    ).eval()
    with pytest.raises(ValueError, match=r"'continuous'.*supports 'static' and 'discrete'"):
        wiring.export(cont)
    custom = wiring.compile(g, k=5, node_op=lambda c, d: nn.Conv2d(c, c, 1)).eval()
    with pytest.raises(ValueError, match="node op Conv2d"):
        wiring.export(custom)
    with pytest.raises(ValueError, match="sparse"):
        wiring.export(wiring.compile(g, k=5).eval(), sparse="yes")
    fast = wiring.export(wiring.compile(g, k=5).eval())
    with pytest.raises(ValueError, match=r"x: expected shape \(B, 2, \*S\)"):
        fast(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="_spec"):
        ex.from_state_dict({"weight": torch.zeros(1)})


class _MaskedLinear(nn.Linear):
    """A stand-in for a sparse site: a weight and a bool mask of its shape."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out)
        self.register_buffer("mask", torch.rand(n_out, n_in) < 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = getattr(self, "mask", None)
        w = self.weight if mask is None else self.weight * mask
        return nn.functional.linear(x, w, self.bias)


def test_a_site_plugs_in_through_a_mask_provider_and_a_baker():
    from wiring.nn import count as cnt

    def provider(m: nn.Module, name: str) -> torch.Tensor | None:
        if isinstance(m, _MaskedLinear) and name == "weight" and hasattr(m, "mask"):
            return m.mask
        return None

    def baker(m: nn.Module) -> None:
        if isinstance(m, _MaskedLinear) and hasattr(m, "mask"):
            m.weight.data.mul_(m.mask)
            del m.mask

    torch.manual_seed(0)
    model = nn.Sequential(_MaskedLinear(20, 10)).eval()
    nnz = int(model[0].mask.sum())
    cnt.register_weight_mask(provider)
    try:
        c = wiring.count(model, (20,))
        assert c["macs"] == nnz and c["params"] == nnz + 10
        with pytest.raises(ValueError, match="register_mask_baker"):
            wiring.export(model)
        ex.register_mask_baker(baker)
        fast = wiring.export(model)
        assert not hasattr(fast[0], "mask") and hasattr(model[0], "mask")
        x = torch.randn(4, 20)
        assert _rel_err(fast(x), model(x)) < 1e-6
    finally:
        cnt._MASK_PROVIDERS.remove(provider)
        if baker in ex.MASK_BAKERS:
            ex.MASK_BAKERS.remove(baker)
