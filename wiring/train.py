"""The training loop: SGD or Adam, cosine annealing, callbacks and safe, resumable run directories.

A run directory holds

=================  ==================================================================================
``config.toml``    the resolved configuration (written once, when the run starts)
``metrics.jsonl``  one JSON object per finished epoch: ``epoch`` (0-based), ``train_loss``,
                   ``train_accuracy``, ``test_loss``, ``test_accuracy`` (0–1), ``lr``, ``seconds``,
                   plus whatever callbacks add
``checkpoint.pt``  model, optimizer and scheduler state, RNG states (torch, numpy, python), epoch and
                   history; rewritten atomically after every epoch, read with ``weights_only=True``
``graph.npz``      at the end, the learned wiring ``model.graph()`` when the model has one
=================  ==================================================================================

A run killed at any moment (even ``kill -9`` half-way through an epoch or through writing the
checkpoint) resumes from the last finished epoch and, on the CPU, ends with exactly the weights of an
uninterrupted run: the order of the training examples depends only on ``(seed, epoch)`` and every
other source of randomness is restored from the checkpoint.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from wiring.data import Dataset
>>> x = torch.randn(64, 1, 4)
>>> y = (x.sum(dim=(1, 2)) > 0).long()
>>> data = Dataset("toy", x[:48], y[:48], x[48:], y[48:], num_classes=2)
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
>>> history = train(model, data, TrainConfig(epochs=2, batch_size=16, progress=False))
>>> [sorted(h) for h in history][0]
['epoch', 'lr', 'seconds', 'test_accuracy', 'test_loss', 'train_accuracy', 'train_loss']
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring._io import atomic_torch_save, atomic_write_text, dump_toml
from wiring.data import Dataset

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "GRAPH_FILE",
    "METRICS_FILE",
    "Callback",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "train",
]

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
GRAPH_FILE = "graph.npz"

_OPTIMIZERS = ("sgd", "adam")
_SCHEDULERS = ("cosine", "none")
_CHECKPOINT_FORMAT = 1
_CALLBACK_METHODS = ("on_train_start", "on_step_end", "on_epoch_end", "on_train_end")


# ------------------------------------------------------------------------------------------ config


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, epochs.

    The defaults follow the recipe of the DNW paper (Wortsman et al., 2019): SGD with momentum 0.9
    and weight decay, the learning rate annealed along a cosine over all optimizer steps,

    .. math:: \\eta_t = \\tfrac{1}{2} \\eta_0 \\left(1 + \\cos \\frac{\\pi t}{T}\\right),
        \\quad t = 0, \\dots, T = \\text{epochs} \\times \\text{steps per epoch}.

    Parameters
    ----------
    epochs : int
        Passes over the training set (at least 1).
    batch_size : int
        Examples per optimizer step.
    optimizer : {"sgd", "adam"}
        ``torch.optim.SGD`` (with ``momentum``, ``nesterov``) or ``torch.optim.Adam``.
    lr : float
        Initial learning rate :math:`\\eta_0` (> 0).
    momentum : float
        SGD momentum in [0, 1) (ignored by Adam).
    weight_decay : float
        L2 penalty (>= 0), passed to the optimizer.
    nesterov : bool
        Nesterov momentum (SGD with ``momentum > 0`` only).
    scheduler : {"cosine", "none"}
        Cosine annealing to 0 over all steps, or a constant learning rate.
    label_smoothing : float
        Label smoothing of the cross-entropy loss, in [0, 1).
    progress : bool
        Show a tqdm progress bar.

    Raises
    ------
    ValueError
        For a value of the wrong type or out of range; the message names the field.

    References
    ----------
    M. Wortsman, A. Farhadi and M. Rastegari, "Discovering Neural Wirings", NeurIPS 2019.
    I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    Examples
    --------
    >>> TrainConfig(epochs=2).lr
    0.1
    >>> TrainConfig(lr=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: lr: expected a finite number > 0, found -1.0
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    scheduler: str = "cosine"
    label_smoothing: float = 0.0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, found {value!r}")
        for name, valid in (("optimizer", _OPTIMIZERS), ("scheduler", _SCHEDULERS)):
            value = getattr(self, name)
            if value not in valid:
                choices = ", ".join(repr(v) for v in valid)
                raise ValueError(f"{name}: expected one of {choices}, found {value!r}")
        if not _is_real(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr: expected a finite number > 0, found {self.lr!r}")
        if not _is_real(self.momentum) or not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum: expected a number in [0, 1), found {self.momentum!r}")
        if (
            not _is_real(self.weight_decay)
            or not math.isfinite(self.weight_decay)
            or self.weight_decay < 0
        ):
            raise ValueError(
                f"weight_decay: expected a finite number >= 0, found {self.weight_decay!r}"
            )
        if not _is_real(self.label_smoothing) or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing: expected a number in [0, 1), found {self.label_smoothing!r}"
            )
        for name in ("nesterov", "progress"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected a bool, found {value!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(
                "nesterov: needs optimizer='sgd' with momentum > 0, found "
                f"optimizer={self.optimizer!r}, momentum={self.momentum!r}"
            )


# --------------------------------------------------------------------------------------- callbacks


class Callback:
    """Base class of training callbacks: every hook is a no-op; override the ones you need.

    Any object with (some of) these methods works as a callback; subclassing is optional. A
    callback with state that must survive a resume can also define ``state_dict()`` (returning
    tensors, numbers, strings, lists and dicts) and ``load_state_dict(state)``: the state is stored
    in every checkpoint and handed back when the run resumes.

    Examples
    --------
    >>> class CountSteps(Callback):
    ...     def __init__(self):
    ...         self.steps = 0
    ...
    ...     def on_step_end(self, trainer, step, loss):
    ...         self.steps += 1
    ...
    ...     def on_epoch_end(self, trainer, epoch, metrics):
    ...         metrics["steps_so_far"] = self.steps  # lands in metrics.jsonl
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Called once when :meth:`Trainer.fit` starts (after a checkpoint has been restored)."""

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """Called after every optimizer step.

        ``step`` is the 0-based index of that step counted over the whole run; ``loss`` is the
        batch's training loss before the step.
        """

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Called after each epoch's evaluation, before the checkpoint is written.

        ``metrics`` is the dict about to be written as one line of ``metrics.jsonl``; a callback may
        add JSON-serialisable keys to it.
        """

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch (not when training stops with an error)."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is left in place."""


# -------------------------------------------------------------------------------------- RNG states


def _rng_state() -> dict[str, Any]:
    """RNG states of torch, numpy's global generator and ``random``, as tensors, lists and numbers.

    Kept free of pickled objects so that ``torch.load(weights_only=True)`` reads them back.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    version, py_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(py_state), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["state"]), py_state["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what user code reaches for
    random.seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffling generator for one epoch: a function of ``(seed, epoch)`` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a ``checkpoint.pt`` written by :class:`Trainer` (never unpickles arbitrary objects).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    map_location : str or torch.device, optional
        Where tensors are put (default the CPU).

    Returns
    -------
    dict
        Keys ``model``, ``optimizer``, ``scheduler`` (state dicts), ``rng``, ``epoch`` (finished
        epochs), ``step`` (optimizer steps taken), ``seed``, ``config`` and ``history``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {str(path)!r}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which file and why
        raise ValueError(f"path: {str(path)!r} is not a readable checkpoint ({err})") from err
    required = {"model", "optimizer", "scheduler", "rng", "epoch", "step", "seed", "history"}
    if not isinstance(checkpoint, dict) or not required <= set(checkpoint):
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"path: {str(path)!r} is not a wiring checkpoint: expected keys {sorted(required)}, "
            f"found {found}"
        )
    return checkpoint


# ------------------------------------------------------------------------------------------ trainer


class Trainer:
    """Train a classifier on a :class:`~wiring.data.Dataset`, with callbacks and checkpoints.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``(B, C, *spatial)`` to logits ``(B, num_classes)``. If it has a ``graph()``
        method, the learned wiring is saved as ``graph.npz`` at the end.
    data : Dataset
        Training and test data.
    config : TrainConfig, optional
        Optimiser and schedule (default ``TrainConfig()``).
    run_dir : str or os.PathLike, optional
        Where ``config.toml``, ``metrics.jsonl``, ``checkpoint.pt`` and ``graph.npz`` go. ``None``
        writes nothing (and cannot resume).
    seed : int, optional
        Seeds torch, numpy and ``random`` when a fresh run starts, and the order of the training
        examples in each epoch (a function of ``(seed, epoch)`` only).
    callbacks : iterable of Callback, optional
        Objects with (some of) the methods of :class:`Callback`, called in order.
    resume : bool, optional
        Continue from ``run_dir/checkpoint.pt``. Without it, a ``run_dir`` that already holds a
        checkpoint is refused, so a finished or interrupted run is never overwritten.
    run_config : Mapping, optional
        The configuration written to ``config.toml`` (e.g. the whole experiment config of the
        ``wiring`` command); default ``{"seed": seed, "train": <TrainConfig fields>}``.
    device : str or torch.device, optional
        Where to train; default the device of the model's parameters. The model is moved there.

    Attributes
    ----------
    model, optimizer, scheduler, config, data, run_dir, seed, device, callbacks
        As built from the arguments (``scheduler`` is a ``torch.optim.lr_scheduler.LRScheduler``
        stepped after every optimizer step).
    epoch : int
        Number of finished epochs (the 0-based index of the next epoch).
    step : int
        Number of optimizer steps taken.
    history : list of dict
        The metrics of the finished epochs, as in ``metrics.jsonl``.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        config: TrainConfig | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        callbacks: Iterable[Any] = (),
        resume: bool = False,
        run_config: Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, found {type(model).__name__}")
        if not isinstance(data, Dataset):
            raise TypeError(f"data: expected a wiring.data.Dataset, found {type(data).__name__}")
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config: expected a TrainConfig, found {type(config).__name__}")
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, found {seed!r}")
        if run_config is not None and not isinstance(run_config, Mapping):
            raise TypeError(f"run_config: expected a mapping, found {type(run_config).__name__}")
        self.callbacks: tuple[Any, ...] = tuple(callbacks)
        for i, callback in enumerate(self.callbacks):
            if not any(callable(getattr(callback, m, None)) for m in _CALLBACK_METHODS):
                raise TypeError(
                    f"callbacks[{i}]: expected an object with methods {', '.join(_CALLBACK_METHODS)}"
                    f" (e.g. a wiring.train.Callback), found {type(callback).__name__}"
                )
        if resume and run_dir is None:
            raise ValueError("resume: resuming needs the run_dir of the run to continue")

        self.model = model
        self.data = data
        self.config = config
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_config = dict(run_config) if run_config is not None else None
        if device is None:
            tensor = next(iter(model.parameters()), None)
            if tensor is None:
                tensor = next(iter(model.buffers()), None)
            self.device = tensor.device if tensor is not None else torch.device("cpu")
        else:
            self.device = torch.device(device)
            self.model.to(self.device)

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model: has no trainable parameters")
        if config.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params,
                lr=config.lr,
                momentum=config.momentum,
                weight_decay=config.weight_decay,
                nesterov=config.nesterov,
            )
        else:
            self.optimizer = torch.optim.Adam(
                params, lr=config.lr, weight_decay=config.weight_decay
            )

        self.train_loader, self.test_loader = data.loaders(config.batch_size, seed=seed)
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ValueError("data: the training set is empty")
        total_steps = config.epochs * self.steps_per_epoch
        if config.scheduler == "cosine":
            self.scheduler: torch.optim.lr_scheduler.LRScheduler = (
                torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total_steps)
            )
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self._resumed = False
        checkpoint_path = self._path(CHECKPOINT_FILE)
        if checkpoint_path is not None and resume:
            if not checkpoint_path.is_file():
                raise FileNotFoundError(
                    f"resume: {str(self.run_dir)!r} has no {CHECKPOINT_FILE} to resume from "
                    "(the run never finished an epoch, or this is the wrong directory); "
                    "start it afresh without resume"
                )
            self._restore(load_checkpoint(checkpoint_path))
        elif checkpoint_path is not None and checkpoint_path.exists():
            raise FileExistsError(
                f"run_dir: {str(self.run_dir)!r} already holds a run ({CHECKPOINT_FILE}); pass "
                "resume=True to continue it, or choose another directory (nothing was overwritten)"
            )

    # ---------------------------------------------------------------------------------- helpers

    def _path(self, name: str) -> Path | None:
        return self.run_dir / name if self.run_dir is not None else None

    def _restore(self, checkpoint: Mapping[str, Any]) -> None:
        mine = dataclasses.asdict(self.config)
        stored = dict(checkpoint.get("config") or {})
        differing = [
            f"{key} (checkpoint {stored.get(key)!r}, now {value!r})"
            for key, value in mine.items()
            if key != "progress" and key in stored and stored[key] != value
        ]
        if checkpoint["seed"] != self.seed:
            differing.append(f"seed (checkpoint {checkpoint['seed']!r}, now {self.seed!r})")
        if differing:
            raise ValueError(
                "resume: the run was started with a different configuration: "
                + "; ".join(differing)
                + ". Resume with the same settings, or start a new run in another directory"
            )
        try:
            self.model.load_state_dict(checkpoint["model"])
        except RuntimeError as err:
            raise ValueError(f"resume: the checkpoint does not fit this model ({err})") from err
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch = int(checkpoint["epoch"])
        self.step = int(checkpoint["step"])
        self.history = [dict(h) for h in checkpoint["history"]]
        states = list(checkpoint.get("callbacks") or [])
        if any(state is not None for state in states):
            if len(states) != len(self.callbacks):
                raise ValueError(
                    f"resume: the checkpoint holds the state of {len(states)} callbacks, "
                    f"this run has {len(self.callbacks)}; pass the same callbacks in the same order"
                )
            for callback, state in zip(self.callbacks, states, strict=True):
                if state is not None:
                    callback.load_state_dict(state)
        self._rng_to_restore = checkpoint["rng"]
        self._resumed = True

    def _checkpoint(self) -> dict[str, Any]:
        return {
            "format": _CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "step": self.step,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(),
            "history": self.history,
            "callbacks": [
                callback.state_dict() if callable(getattr(callback, "state_dict", None)) else None
                for callback in self.callbacks
            ],
        }

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if callable(method):
                method(self, *args)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _start_files(self) -> None:
        """Write config.toml (fresh run) or cut metrics.jsonl back to the checkpoint (resume)."""
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics_path = self.run_dir / METRICS_FILE
        if self._resumed:
            # Epochs finished after the checkpoint was written are recomputed, so drop their lines.
            lines = "".join(json.dumps(h) + "\n" for h in self.history)
            atomic_write_text(metrics_path, lines)
            return
        if self.run_config is not None:
            resolved: Mapping[str, Any] = self.run_config
        else:
            resolved = {"seed": self.seed, "train": dataclasses.asdict(self.config)}
        atomic_write_text(self.run_dir / CONFIG_FILE, dump_toml(resolved))
        atomic_write_text(metrics_path, "")

    def _append_metrics(self, metrics: Mapping[str, Any]) -> None:
        path = self._path(METRICS_FILE)
        if path is None:
            return
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(metrics) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _non_finite(self, what: str, value: float, epoch: int, batch: int | None) -> None:
        where = f"epoch {epoch}" + (
            f", step {batch} of {self.steps_per_epoch} (run step {self.step})"
            if batch is not None
            else ""
        )
        checkpoint = self._path(CHECKPOINT_FILE)
        if checkpoint is not None and checkpoint.exists():
            kept = (
                f"The last good checkpoint {str(checkpoint)!r} (after {self.epoch} epochs) "
                "is untouched."
            )
        else:
            kept = "No checkpoint had been written yet."
        raise NonFiniteLossError(
            f"{what} is {value} at {where}; training stopped. {kept} Try a lower learning rate "
            f"(lr={self.config.lr:g}), e.g. lr={self.config.lr / 10:g}, or check the inputs."
        )

    def evaluate(self) -> tuple[float, float]:
        """Mean loss and accuracy (0–1) on the test set, in eval mode without gradients."""
        self.model.eval()
        total_loss, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for x, y in self.test_loader:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                logits = self.model(x)
                total_loss += float(self.criterion(logits, y)) * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
                count += len(y)
        if count == 0:
            return float("nan"), float("nan")
        return total_loss / count, correct / count

    # -------------------------------------------------------------------------------------- fit

    def fit(self) -> list[dict[str, Any]]:
        """Train for the remaining epochs; returns the history (one metrics dict per epoch).

        Raises
        ------
        NonFiniteLossError
            If a training loss, the test loss or a parameter becomes NaN or infinite. The last
            checkpoint (and ``metrics.jsonl``) stay as they were after the last good epoch.
        """
        from tqdm.auto import tqdm

        config = self.config
        if not self._resumed:
            _seed_everything(self.seed)
        self._start_files()
        self._call("on_train_start")
        if self._resumed:
            # Restored after on_train_start: the random stream then continues exactly where the
            # interrupted run stood when it wrote the checkpoint.
            _set_rng_state(self._rng_to_restore)

        steps = self.steps_per_epoch
        bar = tqdm(
            total=config.epochs * steps,
            initial=self.epoch * steps,
            disable=not config.progress,
            unit="step",
            dynamic_ncols=True,
        )
        try:
            for epoch in range(self.epoch, config.epochs):
                self._fit_epoch(epoch, bar)
        finally:
            bar.close()

        if self.run_dir is not None and callable(getattr(self.model, "graph", None)):
            self.model.graph().save(self.run_dir / GRAPH_FILE)
        self._call("on_train_end")
        return self.history

    def _fit_epoch(self, epoch: int, bar: Any) -> None:
        config = self.config
        start = time.perf_counter()
        lr = self._lr()
        bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        # The order of the examples depends only on (seed, epoch): a resumed run sees the same.
        generator = self.train_loader.generator
        if generator is None:
            raise TypeError("data: Dataset.loaders must give the train loader a torch.Generator")
        generator.manual_seed(_epoch_seed(self.seed, epoch))

        self.model.train()
        total_loss, correct, count = 0.0, 0, 0
        for batch, (x, y) in enumerate(self.train_loader):
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(x)
            loss = self.criterion(logits, y)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                self._non_finite("the training loss", loss_value, epoch, batch)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += loss_value * len(y)
            correct += int((logits.detach().argmax(dim=1) == y).sum())
            count += len(y)
            self.step += 1
            self._call("on_step_end", self.step - 1, loss_value)
            bar.update(1)
            if config.progress:
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)

        test_loss, test_accuracy = self.evaluate()
        if not math.isfinite(test_loss) and self.data.y_test.numel():
            self._non_finite("the test loss", test_loss, epoch, None)
        for name, param in self.model.named_parameters():
            if not torch.isfinite(param).all():
                self._non_finite(f"parameter {name!r}", float("nan"), epoch, None)

        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total_loss / count,
            "train_accuracy": correct / count,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        self._call("on_epoch_end", epoch, metrics)
        for key, value in metrics.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as err:
                raise TypeError(
                    f"metrics[{key!r}]: a callback added a value that is not JSON-serialisable "
                    f"({type(value).__name__}: {err})"
                ) from err
        self.history.append(metrics)
        self.epoch = epoch + 1
        path = self._path(CHECKPOINT_FILE)
        if path is not None:
            atomic_torch_save(self._checkpoint(), path)
            self._append_metrics(metrics)
        if config.progress:
            bar.set_postfix(
                loss=f"{metrics['train_loss']:.4f}", test_acc=f"{test_accuracy:.3f}", refresh=True
            )


def train(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    callbacks: Sequence[Any] | Iterable[Any] = (),
    resume: bool = False,
    run_config: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``data``; shorthand for ``Trainer(...).fit()``.

    See :class:`Trainer` for the arguments and the run directory.

    Returns
    -------
    list of dict
        One metrics dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``test_loss``,
        ``test_accuracy``, ``lr``, ``seconds`` and whatever callbacks add.
    """
    trainer = Trainer(
        model,
        data,
        config,
        run_dir=run_dir,
        seed=seed,
        callbacks=callbacks,
        resume=resume,
        run_config=run_config,
        device=device,
    )
    return trainer.fit()
