"""Tests of the trainer hooks ``extra_loss`` and ``on_after_backward`` and of mask-change reports.

Every expected value is computed by hand: the gradient of the mean cross-entropy of a linear model,
``dL/dW = (softmax(X W^T + b) - onehot(y))^T X / N``, written out without autograd.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from wiring.data import Dataset
from wiring.train import (
    Callback,
    NonFiniteLossError,
    RunDirectory,
    TrainConfig,
    Trainer,
    load_checkpoint,
    train,
)

DIM, CLASSES, N = 4, 3, 24


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(n_train: int = N) -> Dataset:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n_train + 8, 1, DIM, generator=g)
    y = torch.arange(n_train + 8) % CLASSES
    return Dataset("lin", x[:n_train], y[:n_train], x[n_train:], y[n_train:], CLASSES)


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(DIM, CLASSES))


def _plain_sgd(lr: float, batch_size: int = N) -> TrainConfig:
    """One full-batch (by default) SGD step per epoch: no momentum, no decay, constant rate."""
    return TrainConfig(
        epochs=1,
        batch_size=batch_size,
        lr=lr,
        momentum=0.0,
        weight_decay=0.0,
        scheduler="none",
        progress=False,
    )


def _hand_ce_and_grads(
    w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of ``x @ w.T + b`` and its gradients in W and b, by hand (float64)."""
    w, b, x = w.double(), b.double(), x.double()
    z = x @ w.T + b
    z = z - z.max(dim=1, keepdim=True).values
    p = z.exp() / z.exp().sum(dim=1, keepdim=True)
    onehot = torch.zeros_like(p)
    onehot[torch.arange(len(y)), y] = 1.0
    loss = float(-(onehot * (p.log())).sum() / len(y))
    delta = (p - onehot) / len(y)  # (N, classes)
    return loss, (delta.T @ x).float(), delta.sum(dim=0).float()


class _Recorder(Callback):
    """Copies the weight and its gradient before each step and the weight after it."""

    def __init__(self, lam: float = 0.0) -> None:
        self.lam = lam
        self.before: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []
        self.bias_grads: list[torch.Tensor] = []
        self.after: list[torch.Tensor] = []
        self.steps: list[int] = []

    def extra_loss(self, trainer: Trainer) -> torch.Tensor | None:
        if self.lam == 0.0:
            return None
        return self.lam * trainer.model[1].weight.abs().sum()

    def on_after_backward(self, trainer: Trainer, step: int) -> None:
        layer = trainer.model[1]
        self.steps.append(step)
        self.before.append(layer.weight.detach().clone())
        self.grads.append(layer.weight.grad.detach().clone())
        self.bias_grads.append(layer.bias.grad.detach().clone())

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.after.append(trainer.model[1].weight.detach().clone())


def test_extra_loss_adds_l1_gradient_and_reported_loss_stays_data_loss() -> None:
    lam, lr = 0.05, 0.3
    data, model = _data(), _linear()
    w0 = model[1].weight.detach().clone()
    b0 = model[1].bias.detach().clone()
    rec = _Recorder(lam)
    history = train(model, data, _plain_sgd(lr), callbacks=[rec])

    x, y = data.x_train.flatten(1), data.y_train
    data_loss, grad_w, grad_b = _hand_ce_and_grads(w0, b0, x, y)
    expected = grad_w + lam * torch.sign(w0)
    assert rec.steps == [0]
    torch.testing.assert_close(rec.grads[0], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rec.bias_grads[0], grad_b, rtol=1e-5, atol=1e-6)  # no L1 on b
    torch.testing.assert_close(model[1].weight.detach(), w0 - lr * expected)
    # The reported loss is the data loss alone, without lam * sum|w| (about 0.05 * 6 here).
    assert history[0]["train_loss"] == pytest.approx(data_loss, rel=1e-6)
    assert lam * float(w0.abs().sum()) > 1e-2


def test_several_extra_losses_are_summed() -> None:
    class Quadratic(Callback):
        def extra_loss(self, trainer: Trainer) -> torch.Tensor:
            return 0.5 * (trainer.model[1].bias ** 2).sum()  # gradient: b

    data, model = _data(), _linear()
    w0, b0 = model[1].weight.detach().clone(), model[1].bias.detach().clone()
    rec = _Recorder(0.02)
    train(model, data, _plain_sgd(0.1), callbacks=[Quadratic(), rec])
    _, grad_w, grad_b = _hand_ce_and_grads(w0, b0, data.x_train.flatten(1), data.y_train)
    torch.testing.assert_close(rec.grads[0], grad_w + 0.02 * torch.sign(w0))
    torch.testing.assert_close(rec.bias_grads[0], grad_b + b0)


def test_on_after_backward_sees_the_gradient_the_step_uses() -> None:
    lr = 0.2
    data = _data()
    rec = _Recorder()
    trainer = Trainer(_linear(), data, _plain_sgd(lr, batch_size=N // 4), callbacks=[rec])
    trainer.fit()
    assert rec.steps == [0, 1, 2, 3]
    for before, grad, after in zip(rec.before, rec.grads, rec.after, strict=True):
        assert float(grad.abs().max()) > 1e-3
        torch.testing.assert_close(after, before - lr * grad)
    torch.testing.assert_close(rec.before[0], _linear()[1].weight.detach())


def test_on_after_backward_may_change_gradients_before_the_step() -> None:
    class ZeroFirstRow(Callback):
        def on_after_backward(self, trainer: Trainer, step: int) -> None:
            trainer.model[1].weight.grad[0] = 0.0

    model = _linear()
    row0 = model[1].weight.detach()[0].clone()
    train(model, _data(), _plain_sgd(0.5), callbacks=[ZeroFirstRow()])
    assert torch.equal(model[1].weight.detach()[0], row0)


def test_mask_changes_are_recorded_once_per_step() -> None:
    class Masks(Callback):
        def on_after_backward(self, trainer: Trainer, step: int) -> bool | None:
            return True if step == 1 else None

        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> bool:
            return step in (1, 3)

    trainer = Trainer(_linear(), _data(), _plain_sgd(0.1, batch_size=N // 4), callbacks=[Masks()])
    assert trainer.masks_changed_at_step == []
    trainer.fit()
    assert trainer.masks_changed_at_step == [1, 3]


@pytest.mark.parametrize("hook", ["on_after_backward", "on_step_end"])
def test_a_mask_hook_returning_something_else_is_refused(hook: str) -> None:
    bad = type("Bad", (), {hook: lambda self, trainer, *args: 1.5})()
    with pytest.raises(TypeError, match=rf"callbacks\[1\]\.{hook}: expected True .* found float"):
        train(_linear(), _data(), _plain_sgd(0.1), callbacks=[Callback(), bad])


@pytest.mark.parametrize(
    ("value", "found"), [(torch.ones(2), r"shape \(2,\)"), (0.5, "float"), ("l1", "str")]
)
def test_extra_loss_must_be_a_scalar_tensor(value: Any, found: str) -> None:
    class Bad(Callback):
        def extra_loss(self, trainer: Trainer) -> Any:
            return value

    with pytest.raises(TypeError, match=rf"callbacks\[0\]\.extra_loss: expected a scalar.*{found}"):
        train(_linear(), _data(), _plain_sgd(0.1), callbacks=[Bad()])


def test_non_finite_extra_loss_stops_training(tmp_path: Path) -> None:
    class Explodes(Callback):
        def extra_loss(self, trainer: Trainer) -> torch.Tensor | None:
            if trainer.epoch == 1:
                return trainer.model[1].weight.sum() * math.inf
            return None

    cfg = TrainConfig(epochs=2, batch_size=N, scheduler="none", progress=False)
    with pytest.raises(NonFiniteLossError, match=r"extra loss is (inf|-inf|nan) at epoch 1"):
        train(_linear(), _data(), cfg, run_dir=tmp_path, callbacks=[Explodes()])
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1  # the good epoch is kept
    assert len(RunDirectory(tmp_path).read_metrics()) == 1


def test_run_directory_layout_and_round_trip(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path / "a" / "b")
    assert run.config_path.name == "config.toml" and run.metrics_path.name == "metrics.jsonl"
    assert run.checkpoint_path.name == "checkpoint.pt" and run.graph_path.name == "graph.npz"
    run.create()
    assert run.read_metrics() == [] and not run.has_checkpoint()
    run.rewrite_metrics([{"epoch": 0}, {"epoch": 1}])
    run.append_metrics({"epoch": 2})
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1, 2]
    run.rewrite_metrics([{"epoch": 0}])  # a resume cuts the file back
    assert run.metrics_path.read_text() == '{"epoch": 0}\n'
    with pytest.raises(TypeError, match="not JSON serializable"):
        run.append_metrics({"epoch": torch.zeros(1)})
    assert run.metrics_path.read_text() == '{"epoch": 0}\n'  # a bad row leaves the file alone
    with pytest.raises(TypeError, match=r"run_dir: expected a str or os\.PathLike, found int"):
        RunDirectory(3)  # type: ignore[arg-type]
