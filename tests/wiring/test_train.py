"""Tests of wiring.train: config validation, the loop, callbacks, run directories, resume after a
real SIGKILL, and the NaN guard."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from wiring.data import Dataset, digits
from wiring.train import (
    Callback,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    load_checkpoint,
    train,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One intra-op thread: the tiny models here run 100x slower when threads fight for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quiet(**kwargs: Any) -> TrainConfig:
    return TrainConfig(progress=False, **kwargs)


def _blobs(n_train: int = 96, n_test: int = 32, dim: int = 5, classes: int = 3) -> Dataset:
    """Gaussian blobs around fixed centres: an easy, tiny classification problem."""
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(classes, dim, generator=g)
    y = torch.arange(n_train + n_test) % classes
    x = centres[y] + torch.randn(n_train + n_test, dim, generator=g)
    x = x[:, None, :]  # (N, 1, dim)
    return Dataset("blobs", x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes)


def _mlp(dim: int = 5, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(dim, 16), nn.ReLU(), nn.Linear(16, classes))


# -------------------------------------------------------------------------------------- TrainConfig


def test_train_config_defaults_are_the_papers_recipe() -> None:
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 0.1, 0.9, 5e-4)
    assert (cfg.scheduler, cfg.epochs, cfg.batch_size, cfg.nesterov) == ("cosine", 10, 128, False)
    assert cfg.label_smoothing == 0.0 and cfg.progress is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 2.0),
        ("epochs", True),
        ("batch_size", -1),
        ("optimizer", "rmsprop"),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("lr", "0.1"),
        ("momentum", 1.0),
        ("momentum", -0.1),
        ("weight_decay", -1e-4),
        ("nesterov", 1),
        ("scheduler", "step"),
        ("label_smoothing", 1.0),
        ("progress", "yes"),
    ],
)
def test_train_config_rejects_bad_values(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: expected") as info:
        TrainConfig(**{field: value})
    assert repr(value) in str(info.value)


def test_nesterov_needs_sgd_with_momentum() -> None:
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(nesterov=True, momentum=0.0)
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(nesterov=True, optimizer="adam")
    assert TrainConfig(nesterov=True).nesterov


# ------------------------------------------------------------------------------------------ the loop


def test_learns_digits_and_writes_the_run_directory(tmp_path: Path) -> None:
    data = digits()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cfg = _quiet(epochs=3, batch_size=32, lr=0.05)
    history = train(model, data, cfg, run_dir=tmp_path / "run", seed=3)

    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[-1]["test_accuracy"] > 0.85  # chance is 0.1
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for h in history:
        assert set(h) == {
            "epoch",
            "train_loss",
            "train_accuracy",
            "test_loss",
            "test_accuracy",
            "lr",
            "seconds",
        }
        assert 0 <= h["train_accuracy"] <= 1 and 0 <= h["test_accuracy"] <= 1 and h["seconds"] > 0

    # lr at the start of epoch e follows the cosine over all steps: 0.5 lr0 (1 + cos(pi t / T)).
    steps = math.ceil(1347 / 32)
    for h in history:
        expected = 0.5 * 0.05 * (1 + math.cos(math.pi * h["epoch"] * steps / (3 * steps)))
        assert h["lr"] == pytest.approx(expected, rel=1e-9)

    # Test accuracy recomputed by hand from the trained model.
    model.eval()
    with torch.no_grad():
        accuracy = (model(data.x_test).argmax(1) == data.y_test).double().mean().item()
    assert history[-1]["test_accuracy"] == pytest.approx(accuracy)

    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.pt",
        "config.toml",
        "metrics.jsonl",
    ]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == history
    config = tomllib.loads((run / "config.toml").read_text())
    assert config == {"seed": 3, "train": dataclasses.asdict(cfg)}
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 3 and checkpoint["step"] == 3 * steps
    assert checkpoint["history"] == history
    for name, tensor in model.state_dict().items():
        assert torch.equal(checkpoint["model"][name], tensor)


def _softmax_grad(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple:
    """Gradient of the mean cross-entropy of logits x w^T + b, by the closed form (p - onehot)."""
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p.T @ x / len(y), p.mean(axis=0)


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd", "scheduler": "cosine"},
        {"optimizer": "sgd", "scheduler": "none", "nesterov": True, "weight_decay": 1e-2},
        {"optimizer": "adam", "scheduler": "cosine", "lr": 0.01, "weight_decay": 1e-3},
    ],
)
def test_updates_match_the_written_formulas(options: dict) -> None:
    """Full-batch training of a linear model against numpy implementations of SGD / Adam."""
    data = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(5, 3))
    w = model[1].weight.detach().double().numpy().copy()
    b = model[1].bias.detach().double().numpy().copy()
    cfg = _quiet(epochs=4, batch_size=1000, **options)
    train(model, data, cfg)

    x, y = data.x_train[:, 0].double().numpy(), data.y_train.numpy()
    params, state = [w, b], [dict(), dict()]
    for t in range(cfg.epochs):  # one step per epoch
        lr = cfg.lr
        if cfg.scheduler == "cosine":
            lr = 0.5 * cfg.lr * (1 + math.cos(math.pi * t / cfg.epochs))
        grads = _softmax_grad(params[0], params[1], x, y)
        for p, g, s in zip(params, grads, state, strict=True):
            g = g + cfg.weight_decay * p
            if cfg.optimizer == "sgd":
                s["v"] = g if "v" not in s else cfg.momentum * s["v"] + g
                step = g + cfg.momentum * s["v"] if cfg.nesterov else s["v"]
            else:  # Adam (Kingma & Ba 2015), betas (0.9, 0.999), eps 1e-8
                s["m"] = 0.9 * s.get("m", 0) + 0.1 * g
                s["u"] = 0.999 * s.get("u", 0) + 0.001 * g**2
                m_hat, u_hat = s["m"] / (1 - 0.9 ** (t + 1)), s["u"] / (1 - 0.999 ** (t + 1))
                step = m_hat / (np.sqrt(u_hat) + 1e-8)
            p -= lr * step
    np.testing.assert_allclose(model[1].weight.detach().numpy(), params[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model[1].bias.detach().numpy(), params[1], rtol=1e-4, atol=1e-6)


def test_label_smoothing_enters_the_loss() -> None:
    data = _blobs()
    model = _mlp()
    trainer = Trainer(model, data, _quiet(label_smoothing=0.2))
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    logp = torch.log_softmax(logits, 1)[0]
    expected = -(0.8 * logp[0] + 0.2 * logp.mean())  # (1 - eps) CE + eps * uniform CE
    assert trainer.criterion(logits, torch.tensor([0])).item() == pytest.approx(expected.item())


def test_progress_bar_switch(capsys: pytest.CaptureFixture[str]) -> None:
    train(_mlp(), _blobs(), TrainConfig(epochs=1, batch_size=32, progress=True))
    assert "epoch 1/1" in capsys.readouterr().err
    train(_mlp(), _blobs(), _quiet(epochs=1, batch_size=32))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_device_defaults_to_the_models() -> None:
    trainer = Trainer(_mlp(), _blobs(), _quiet(epochs=1))
    assert trainer.device == torch.device("cpu")
    trainer = Trainer(_mlp(), _blobs(), _quiet(epochs=1), device="cpu")
    assert trainer.device == torch.device("cpu")


def test_bad_trainer_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="model"):
        Trainer("model", _blobs())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data"):
        Trainer(_mlp(), (torch.zeros(2), torch.zeros(2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config"):
        Trainer(_mlp(), _blobs(), {"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        Trainer(_mlp(), _blobs(), seed=-1)
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        Trainer(_mlp(), _blobs(), callbacks=[Callback(), "not a callback"])
    with pytest.raises(ValueError, match="resume"):
        Trainer(_mlp(), _blobs(), resume=True)


# --------------------------------------------------------------------------------------- callbacks


class Recorder:  # duck-typed: no base class
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_train_start(self, trainer: Trainer) -> None:
        self.calls.append(("start", trainer.epoch))

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        assert isinstance(loss, float) and math.isfinite(loss)
        self.calls.append(("step", step))

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict) -> None:
        metrics["graph"] = {"edges": epoch * 10}
        self.calls.append(("epoch", epoch, sorted(metrics)))

    def on_train_end(self, trainer: Trainer) -> None:
        self.calls.append(("end", trainer.epoch))


def test_callback_protocol(tmp_path: Path) -> None:
    recorder = Recorder()

    class OnlyEpochs(Callback):  # a subclass overriding one hook
        def __init__(self) -> None:
            self.epochs: list[int] = []

        def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict) -> None:
            self.epochs.append(epoch)

    only = OnlyEpochs()
    history = train(
        _mlp(),
        _blobs(),
        _quiet(epochs=2, batch_size=32),
        run_dir=tmp_path,
        callbacks=[recorder, only],
    )
    keys = ["epoch", "graph", "lr", "seconds", "test_accuracy", "test_loss"]
    keys += ["train_accuracy", "train_loss"]
    assert recorder.calls == [
        ("start", 0),
        ("step", 0),
        ("step", 1),
        ("step", 2),
        ("epoch", 0, keys),
        ("step", 3),
        ("step", 4),
        ("step", 5),
        ("epoch", 1, keys),
        ("end", 2),
    ]
    assert only.epochs == [0, 1]
    assert [h["graph"] for h in history] == [{"edges": 0}, {"edges": 10}]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["graph"] for line in lines] == [{"edges": 0}, {"edges": 10}]


def test_metric_that_is_not_json_is_refused() -> None:
    class Bad(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict) -> None:
            metrics["tensor"] = torch.zeros(2)

    with pytest.raises(TypeError, match=r"metrics\['tensor'\]"):
        train(_mlp(), _blobs(), _quiet(epochs=1), callbacks=[Bad()])


def test_graph_npz_is_written_from_model_graph(tmp_path: Path) -> None:
    class FakeGraph:
        def save(self, path: Path) -> None:
            Path(path).write_bytes(b"graph")

    class WithGraph(nn.Sequential):
        def graph(self) -> FakeGraph:
            return FakeGraph()

    torch.manual_seed(0)
    model = WithGraph(nn.Flatten(), nn.Linear(5, 3))
    train(model, _blobs(), _quiet(epochs=1), run_dir=tmp_path / "a")
    assert (tmp_path / "a" / "graph.npz").read_bytes() == b"graph"
    train(_mlp(), _blobs(), _quiet(epochs=1), run_dir=tmp_path / "b")
    assert not (tmp_path / "b" / "graph.npz").exists()


def test_graph_npz_holds_the_final_wiring(tmp_path: Path) -> None:
    from wiring.graph import NeuralGraph

    class LinearGraph(nn.Module):
        """A 5 -> 3 linear layer read back as a bipartite graph with one edge per weight."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(5, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

        def graph(self) -> NeuralGraph:
            w = self.body[1].weight.detach().double().numpy()  # (out, in)
            dst, src = np.nonzero(np.ones_like(w))
            return NeuralGraph(
                src,
                dst + 5,
                w[dst, src],
                num_nodes=8,
                inputs=np.arange(5),
                outputs=5 + np.arange(3),
            )

    model = LinearGraph()
    train(model, _blobs(), _quiet(epochs=2, batch_size=32), run_dir=tmp_path)
    graph = NeuralGraph.load(tmp_path / "graph.npz")
    assert graph.num_nodes == 8 and graph.num_edges == 15
    final = model.body[1].weight.detach().double().numpy()
    np.testing.assert_array_equal(graph.weight, final[graph.dst - 5, graph.src])


# ---------------------------------------------------------------------------- run-directory safety


def test_never_overwrites_a_run_and_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    cfg = _quiet(epochs=2, batch_size=32)
    history = train(_mlp(), _blobs(), cfg, run_dir=tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        train(_mlp(), _blobs(), cfg, run_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before

    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt"):
        train(_mlp(), _blobs(), cfg, run_dir=tmp_path / "empty", resume=True)

    with pytest.raises(ValueError, match=r"lr \(checkpoint 0\.1, now 0\.2\)"):
        train(
            _mlp(), _blobs(), _quiet(epochs=2, batch_size=32, lr=0.2), run_dir=tmp_path, resume=True
        )
    with pytest.raises(ValueError, match="seed"):
        train(_mlp(), _blobs(), cfg, run_dir=tmp_path, resume=True, seed=5)
    wrong_model = nn.Sequential(nn.Flatten(), nn.Linear(5, 3))
    with pytest.raises(ValueError, match="does not fit this model"):
        train(wrong_model, _blobs(), cfg, run_dir=tmp_path, resume=True)

    # Resuming a finished run trains nothing more and returns its history.
    recorder = Recorder()
    again = train(_mlp(), _blobs(), cfg, run_dir=tmp_path, resume=True, callbacks=[recorder])
    assert again == history
    assert [c[0] for c in recorder.calls] == ["start", "end"]


def test_checkpoint_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a wiring checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_resume_restores_callback_state(tmp_path: Path) -> None:
    class Counter(Callback):
        def __init__(self) -> None:
            self.count = 0

        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            self.count += 1

        def state_dict(self) -> dict:
            return {"count": self.count}

        def load_state_dict(self, state: dict) -> None:
            self.count = state["count"]

    # Stop after epoch 0 by raising from a callback, then resume with a fresh Counter.
    class Stop(Callback):
        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            if trainer.epoch == 1:
                raise KeyboardInterrupt

    first = Counter()
    with pytest.raises(KeyboardInterrupt):
        train(
            _mlp(),
            _blobs(),
            _quiet(epochs=2, batch_size=32),
            run_dir=tmp_path,
            callbacks=[first, Stop()],
        )
    second = Counter()
    train(
        _mlp(),
        _blobs(),
        _quiet(epochs=2, batch_size=32),
        run_dir=tmp_path,
        callbacks=[second, Callback()],
        resume=True,
    )
    assert second.count == 6  # 3 steps restored from epoch 0 + 3 steps of epoch 1


# ------------------------------------------------------------------------------- kill -9 and resume


def _run(args: list[str], **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_train_run.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


def test_resume_after_sigkill_mid_epoch_gives_identical_weights(tmp_path: Path) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    marker = tmp_path / "marker"
    ref = _run([str(reference)])
    victim = _run([str(killed), "--marker", str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert victim.poll() is None, victim.communicate()[1].decode()
            assert time.monotonic() < deadline, "the run never reached the middle of epoch 1"
            time.sleep(0.02)
        # In the middle of epoch 1: epoch 0's checkpoint is on disk, 4 more steps are in memory.
        assert load_checkpoint(killed / "checkpoint.pt")["epoch"] == 1
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0]

    _finish(_run([str(killed), "--resume"]))
    _finish(ref)

    a = load_checkpoint(reference / "checkpoint.pt")
    b = load_checkpoint(killed / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 3
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    for slot_a, slot_b in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(slot_a["momentum_buffer"], slot_b["momentum_buffer"])
    strip = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    assert [strip(h) for h in a["history"]] == [strip(h) for h in b["history"]]
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2]  # no epoch twice


# --------------------------------------------------------------------------------------- NaN guard


class Poisonable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(5, 3))
        self.poisoned = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out * float("inf") if self.poisoned else out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    model = Poisonable()
    saved: dict[str, bytes] = {}

    class PoisonInEpoch1(Callback):
        def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
            if step == trainer.steps_per_epoch:  # first step of epoch 1
                saved["checkpoint"] = (tmp_path / "checkpoint.pt").read_bytes()
                saved["metrics"] = (tmp_path / "metrics.jsonl").read_bytes()
                model.poisoned = True

    with pytest.raises(NonFiniteLossError) as info:
        train(
            model,
            _blobs(),
            _quiet(epochs=3, batch_size=32),
            run_dir=tmp_path,
            callbacks=[PoisonInEpoch1()],
        )
    message = str(info.value)
    assert "epoch 1, step 1 of 3" in message and "lr" in message and "untouched" in message
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved["checkpoint"]
    assert (tmp_path / "metrics.jsonl").read_bytes() == saved["metrics"]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    assert not (tmp_path / "graph.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "config.toml",
        "metrics.jsonl",
    ]


def test_diverging_lr_is_caught(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match=r"epoch 0.*lower learning rate") as info:
        train(_mlp(), _blobs(), _quiet(epochs=2, batch_size=8, lr=1e6), run_dir=tmp_path)
    assert "No checkpoint" in str(info.value)
    assert not (tmp_path / "checkpoint.pt").exists()
