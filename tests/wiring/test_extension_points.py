"""Each extension point, used as a user would: a dynamics, a node operation, a callback.

(The selection registry's own test lives with :mod:`wiring.nn.selection`.) Every expected value is
computed independently: numpy top-k and matrix products, node-by-node loops, plain sums.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

import wiring
from wiring import generators
from wiring.data import Dataset
from wiring.graph import NeuralGraph
from wiring.nn import DYNAMICS, GraphModule, register_dynamics
from wiring.train import TrainConfig, Trainer, train


@pytest.fixture
def dynamics_registry() -> Iterator[dict[str, type[GraphModule]]]:
    """The registry of dynamics, restored after the test (a registration is process-wide)."""
    before = dict(DYNAMICS)
    yield DYNAMICS
    DYNAMICS.clear()
    DYNAMICS.update(before)


def _one_hop_class() -> type[GraphModule]:
    @register_dynamics("one-hop")
    class OneHop(GraphModule):
        """One message-passing step from the input nodes, read at the outputs, times ``gain``:

        .. math:: Y_v = g \\sum_u w_{uv} X_u \\quad (v \\text{ an output node}).
        """

        options: ClassVar[dict[str, Any]] = {"gain": 1.0}
        gain: float

        def __init__(self, graph: NeuralGraph, **kw: Any) -> None:
            super().__init__(graph, **kw)
            self.register_buffer("src", torch.as_tensor(graph.src.copy()), persistent=False)
            self.register_buffer("dst", torch.as_tensor(graph.dst.copy()), persistent=False)

        def run(self, x: torch.Tensor, w: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
            z = x.new_zeros(x.shape[0], self.num_nodes).index_copy(1, self.inputs, x)
            messages = z[:, self.src] * w  # (B, m); w is 0 on hallucinated edges
            i = z.new_zeros(z.shape).index_add(1, self.dst, messages)
            return self.gain * i[:, self.outputs]

    return OneHop


def _bipartite(seed: int) -> NeuralGraph:
    """Inputs 0, 1, 2; outputs 3, 4; every input -> output candidate, plus 3 -> 4 (unused)."""
    src = [0, 0, 1, 1, 2, 2, 3]
    dst = [3, 4, 3, 4, 3, 4, 4]
    weight = np.random.default_rng(seed).uniform(-1, 1, size=7)
    return NeuralGraph(src, dst, weight, num_nodes=5, inputs=[0, 1, 2], outputs=[3, 4])


def test_a_registered_dynamics_compiles_runs_and_trains(tmp_path: Path, dynamics_registry) -> None:
    cls = _one_hop_class()
    assert dynamics_registry["one-hop"] is cls and cls.dynamics == "one-hop"
    g = _bipartite(seed=0)
    model = wiring.compile(g, dynamics="one-hop", spatial_dims=0, k=4, gain=2.0, norm=None)
    assert isinstance(model, cls) and model.gain == 2.0
    with pytest.raises(ValueError, match="'gain'"):  # its options are listed for a typo
        wiring.compile(g, dynamics="one-hop", spatial_dims=0, gian=2.0)

    # Forward against numpy: the 4 largest |w| are real (DNW), Y = 2 X A[inputs, outputs].
    real = np.zeros(7, dtype=bool)
    real[np.argsort(-np.abs(g.weight), kind="stable")[:4]] = True
    a = np.zeros((5, 5))
    a[g.src[real], g.dst[real]] = g.weight[real]
    x = np.random.default_rng(1).normal(size=(6, 3))
    expected = 2.0 * x @ a[np.ix_([0, 1, 2], [3, 4])]
    out = model(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.graph().real, real)

    # Train it: y = [x0 > x1] needs w03, w13, w04, w14, i.e. a wiring DNW must find (k = 4).
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(400, 3, generator=gen)
    ys = (xs[:, 0] > xs[:, 1]).long()
    data = Dataset("toy", xs[:300], ys[:300], xs[300:], ys[300:], num_classes=2)
    torch.manual_seed(0)
    model = wiring.compile(_bipartite(seed=2), dynamics="one-hop", spatial_dims=0, k=4)
    before = model.weight.detach().clone()
    cfg = TrainConfig(epochs=6, batch_size=30, optimizer="adam", lr=0.1, progress=False)
    history = train(model, data, cfg, run_dir=tmp_path / "run")
    assert history[-1]["test_accuracy"] > 0.9
    assert not torch.equal(before, model.weight.detach())
    learned = NeuralGraph.load(tmp_path / "run" / "graph.npz")  # written from model.graph()
    np.testing.assert_array_equal(learned.real, model.graph().real)
    used = {
        (int(u), int(v))
        for u, v in zip(learned.src[learned.real], learned.dst[learned.real], strict=True)
    }
    assert used == {(0, 3), (1, 3), (0, 4), (1, 4)}  # input 2 carries no information


class _Gain(nn.Module):
    """A user node op: ``gain * tanh(x)``, one learnable gain per node (channel)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.full((channels,), 1.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain.view(1, -1, *([1] * (x.ndim - 2))) * torch.tanh(x)


def test_a_node_op_factory_is_used_for_every_non_output_node() -> None:
    calls: list[tuple[int, int]] = []

    def factory(channels: int, spatial_dims: int) -> nn.Module:
        calls.append((channels, spatial_dims))
        return _Gain(channels)

    g = generators.complete_dag([2, 3, 2], seed=4)
    model = wiring.compile(g, spatial_dims=1, node_op=factory, k=g.num_candidates)
    assert {d for _, d in calls} == {1}
    assert sum(c for c, _ in calls) == 5  # 2 input + 3 hidden nodes; the outputs have no op
    gains = [p for p in model.parameters() if p.shape != model.weight.shape]
    assert sum(p.numel() for p in gains) == 5

    # Node by node, by hand: Z_v = f(I_v) with f(I) = 1.5 tanh(I) except at the outputs.
    x = torch.randn(4, 2, 7)
    w = g.weight
    z: dict[int, torch.Tensor] = {0: 1.5 * torch.tanh(x[:, 0]), 1: 1.5 * torch.tanh(x[:, 1])}
    for v in range(2, 7):
        i = sum(float(w[e]) * z[int(g.src[e])] for e in np.flatnonzero(g.dst == v))
        z[v] = i if v in (5, 6) else 1.5 * torch.tanh(i)
    expected = torch.stack([z[5], z[6]], dim=1)
    out = model(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)

    out.square().sum().backward()  # the op's parameters are trained with the rest
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gains)


class _L1AndReport:
    """A user callback (no base class): an L1 penalty on the edge weights, reported per epoch."""

    def __init__(self, strength: float) -> None:
        self.strength = strength

    def extra_loss(self, trainer: Trainer) -> torch.Tensor:
        return self.strength * trainer.model.weight.abs().sum()

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        metrics["l1"] = float(trainer.model.weight.detach().abs().sum())


def test_a_user_callback_shapes_and_reports_the_training(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(64, 2, generator=gen)
    ys = (xs.sum(dim=1) > 0).long()
    data = Dataset("toy", xs[:48], ys[:48], xs[48:], ys[48:], num_classes=2)
    g = generators.complete_dag([2, 4, 2], seed=0)
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer="adam", lr=0.05, progress=False)
    l1 = {}
    for strength in (0.0, 0.5):
        torch.manual_seed(0)
        model = wiring.compile(g, spatial_dims=0, k=g.num_candidates, norm=None)
        run = tmp_path / f"l1-{strength}"
        train(model, data, cfg, run_dir=run, callbacks=[_L1AndReport(strength)])
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        final = np.abs(NeuralGraph.load(run / "graph.npz").weight).sum()
        assert rows[-1]["l1"] == pytest.approx(final, rel=1e-6)
        l1[strength] = final
    assert l1[0.5] < l1[0.0]  # the penalty the callback added shrank the weights
