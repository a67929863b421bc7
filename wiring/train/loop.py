"""The training loop: :class:`Trainer` (SGD or Adam, cosine annealing) and :func:`train`.

:class:`TrainConfig` is an option object of :mod:`wiring.options` (re-exported here and by
:mod:`wiring.train`). The trainer composes three separate pieces: the callbacks and their hooks (:mod:`.hooks`), the
checkpoint and its random-number states (:mod:`.checkpoint`) and the run directory's files
(:mod:`.rundir`). One optimizer step is :meth:`Trainer._train_step`: forward, data loss,
``extra_loss`` hooks, backward, ``on_after_backward`` hooks, optimizer and scheduler steps,
``on_step_end`` hooks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from wiring.data import Dataset
from wiring.graph import HasGraph
from wiring.nn.sites import reset_optimizer_state
from wiring.options import TrainConfig
from wiring.train.checkpoint import (
    build_checkpoint,
    check_same_run,
    seed_everything,
    set_rng_state,
)
from wiring.train.hooks import Hooks
from wiring.train.rundir import CHECKPOINT_FILE, RunDirectory

__all__ = ["NonFiniteLossError", "TrainConfig", "Trainer", "train"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is left in place."""


def _epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffling generator for one epoch: a function of ``(seed, epoch)`` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])


# ------------------------------------------------------------------------------------------ trainer


class Trainer:
    """Train a classifier on a :class:`~wiring.data.Dataset`, with callbacks and checkpoints.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``(B, C, *spatial)`` to logits ``(B, num_classes)``. If it has a ``graph()``
        method (:class:`wiring.graph.HasGraph`), the learned wiring is saved as ``graph.npz`` at
        the end.
    data : Dataset
        Training and test data.
    config : TrainConfig, optional
        Optimiser and schedule (default ``TrainConfig()``).
    run_dir : str or os.PathLike, optional
        Where ``config.toml``, ``metrics.jsonl``, ``checkpoint.pt`` and ``graph.npz`` go (see
        :class:`~wiring.train.rundir.RunDirectory`). ``None`` writes nothing (and cannot resume).
    seed : int, optional
        Seeds torch, numpy and ``random`` when a fresh run starts, and the order of the training
        examples in each epoch (a function of ``(seed, epoch)`` only).
    callbacks : iterable of Callback, optional
        Objects with (some of) the methods of :class:`~wiring.train.Callback` (``extra_loss``,
        ``on_after_backward``, ``on_step_end``, ...), called in order.
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
    run_directory : RunDirectory or None
        The files of the run (``None`` without ``run_dir``).
    masks_changed_at_step : list of int
        The optimizer steps (0-based) at which an ``on_after_backward`` or ``on_step_end`` hook
        returned ``True`` (a mask changed), in this process (not kept across a resume). Each such
        report also zeroes the optimizer state of the weights whose mask is off.
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
        self._hooks = Hooks(callbacks)
        self.callbacks: tuple[Any, ...] = self._hooks.callbacks
        if resume and run_dir is None:
            raise ValueError("resume: resuming needs the run_dir of the run to continue")

        self.model = model
        self.data = data
        self.config = config
        self.seed = seed
        self.run_directory = RunDirectory(run_dir) if run_dir is not None else None
        self.run_dir = self.run_directory.path if self.run_directory is not None else None
        self.run_config = dict(run_config) if run_config is not None else None
        self.device = self._place_model(device)

        self.optimizer = self._build_optimizer()
        self.train_loader, self.test_loader = data.loaders(config.batch_size, seed=seed)
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ValueError("data: the training set is empty")
        self.scheduler = self._build_scheduler(config.epochs * self.steps_per_epoch)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

        self.epoch = 0
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.masks_changed_at_step: list[int] = []
        self._resumed = False
        self._open_run_directory(resume)

    # ---------------------------------------------------------------------------- construction

    def _place_model(self, device: str | torch.device | None) -> torch.device:
        """The training device: ``device`` (the model is moved there) or the model's own."""
        if device is not None:
            self.model.to(torch.device(device))
            return torch.device(device)
        tensor = next(iter(self.model.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.model.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """SGD (momentum, weight decay, Nesterov) or Adam over the trainable parameters."""
        config = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model: has no trainable parameters")
        if config.optimizer == "sgd":
            return torch.optim.SGD(
                params,
                lr=config.lr,
                momentum=config.momentum,
                weight_decay=config.weight_decay,
                nesterov=config.nesterov,
            )
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)

    def _build_scheduler(self, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
        """Cosine annealing to 0 over ``total_steps`` optimizer steps, or a constant rate."""
        if self.config.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total_steps)
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)

    def _open_run_directory(self, resume: bool) -> None:
        """Restore the checkpoint (``resume``), or refuse a directory that already holds a run."""
        run = self.run_directory
        if run is None:
            return
        if resume:
            if not run.checkpoint_path.is_file():
                raise FileNotFoundError(
                    f"resume: {str(run.path)!r} has no {CHECKPOINT_FILE} to resume from "
                    "(the run never finished an epoch, or this is the wrong directory); "
                    "start it afresh without resume"
                )
            self._restore(run.read_checkpoint())
        elif run.has_checkpoint():
            raise FileExistsError(
                f"run_dir: {str(run.path)!r} already holds a run ({CHECKPOINT_FILE}); pass "
                "resume=True to continue it, or choose another directory (nothing was overwritten)"
            )

    # ---------------------------------------------------------------------------- checkpoints

    def _restore(self, checkpoint: Mapping[str, Any]) -> None:
        check_same_run(checkpoint, dataclasses.asdict(self.config), self.seed)
        try:
            self.model.load_state_dict(checkpoint["model"])
        except RuntimeError as err:
            raise ValueError(f"resume: the checkpoint does not fit this model ({err})") from err
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch = int(checkpoint["epoch"])
        self.step = int(checkpoint["step"])
        self.history = [dict(h) for h in checkpoint["history"]]
        self._hooks.load_state_dicts(checkpoint.get("callbacks") or [])
        self._rng_to_restore = checkpoint["rng"]
        self._resumed = True

    def _checkpoint(self) -> dict[str, Any]:
        return build_checkpoint(
            epoch=self.epoch,
            step=self.step,
            seed=self.seed,
            config=dataclasses.asdict(self.config),
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            history=self.history,
            callbacks=self._hooks.state_dicts(),
        )

    def _start_files(self) -> None:
        """Write config.toml (fresh run) or cut metrics.jsonl back to the checkpoint (resume)."""
        run = self.run_directory
        if run is None:
            return
        run.create()
        if self._resumed:
            # Epochs finished after the checkpoint was written are recomputed, so drop their lines.
            run.rewrite_metrics(self.history)
            return
        if self.run_config is not None:
            run.write_config(self.run_config)
        else:
            run.write_config({"seed": self.seed, "train": dataclasses.asdict(self.config)})
        run.rewrite_metrics()

    # -------------------------------------------------------------------------------- helpers

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _masks_changed(self, step: int) -> None:
        """A hook reported a mask change at optimizer step ``step``: record it (once per step).

        The optimizer's state (momentum, Adam moments) of every weight whose mask is now off is
        zeroed (:func:`wiring.nn.sites.reset_optimizer_state`), so no later step moves a dropped
        weight.
        """
        reset_optimizer_state(self.optimizer, self.model)
        if not self.masks_changed_at_step or self.masks_changed_at_step[-1] != step:
            self.masks_changed_at_step.append(step)

    def _non_finite(self, what: str, value: float, epoch: int, batch: int | None) -> None:
        where = f"epoch {epoch}" + (
            f", step {batch} of {self.steps_per_epoch} (run step {self.step})"
            if batch is not None
            else ""
        )
        run = self.run_directory
        if run is not None and run.has_checkpoint():
            kept = (
                f"The last good checkpoint {str(run.checkpoint_path)!r} (after {self.epoch} "
                "epochs) is untouched."
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
            seed_everything(self.seed)
        self._start_files()
        self._hooks.call("on_train_start", self)
        if self._resumed:
            # Restored after on_train_start: the random stream then continues exactly where the
            # interrupted run stood when it wrote the checkpoint.
            set_rng_state(self._rng_to_restore)

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

        if self.run_directory is not None and isinstance(self.model, HasGraph):
            self.run_directory.write_graph(self.model.graph())
        self._hooks.call("on_train_end", self)
        return self.history

    def _fit_epoch(self, epoch: int, bar: Any) -> None:
        start = time.perf_counter()
        lr = self._lr()
        bar.set_description(f"epoch {epoch + 1}/{self.config.epochs}")
        self._seed_epoch_order(epoch)

        self.model.train()
        total_loss, correct, count = 0.0, 0, 0
        for batch, (x, y) in enumerate(self.train_loader):
            loss_value, batch_correct = self._train_step(epoch, batch, x, y)
            total_loss += loss_value * len(y)
            correct += batch_correct
            count += len(y)
            bar.update(1)
            if self.config.progress:
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)

        test_loss, test_accuracy = self.evaluate()
        self._check_finite_after_epoch(epoch, test_loss)
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total_loss / count,
            "train_accuracy": correct / count,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        self._end_epoch(epoch, metrics)
        if self.config.progress:
            bar.set_postfix(
                loss=f"{metrics['train_loss']:.4f}", test_acc=f"{test_accuracy:.3f}", refresh=True
            )

    def _seed_epoch_order(self, epoch: int) -> None:
        """The order of the examples depends only on (seed, epoch): a resumed run sees the same."""
        generator = self.train_loader.generator
        if generator is None:
            raise TypeError("data: Dataset.loaders must give the train loader a torch.Generator")
        generator.manual_seed(_epoch_seed(self.seed, epoch))

    def _train_step(
        self, epoch: int, batch: int, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[float, int]:
        """One optimizer step on the batch ``(x, y)``; returns its data loss and correct count.

        The optimizer minimises the data loss plus the callbacks' ``extra_loss`` terms,

        .. math:: L = \\operatorname{CE}(f(x), y) + \\sum_c L_c,

        while the returned loss (and the ``train_loss`` of the metrics) is the data loss alone.
        """
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = self.criterion(logits, y)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            self._non_finite("the training loss", loss_value, epoch, batch)
        extra = self._hooks.extra_loss(self)
        if extra is not None:
            extra_value = float(extra.detach())
            if not math.isfinite(extra_value):
                self._non_finite("the callbacks' extra loss", extra_value, epoch, batch)
            loss = loss + extra
        loss.backward()
        step = self.step
        if self._hooks.call_mask_hook("on_after_backward", self, step):
            self._masks_changed(step)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        if self._hooks.call_mask_hook("on_step_end", self, step, loss_value):
            self._masks_changed(step)
        return loss_value, int((logits.detach().argmax(dim=1) == y).sum())

    def _check_finite_after_epoch(self, epoch: int, test_loss: float) -> None:
        if not math.isfinite(test_loss) and self.data.y_test.numel():
            self._non_finite("the test loss", test_loss, epoch, None)
        for name, param in self.model.named_parameters():
            if not torch.isfinite(param).all():
                self._non_finite(f"parameter {name!r}", float("nan"), epoch, None)

    def _end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Epoch hooks, then the history, the checkpoint and the metrics line, in that order."""
        self._hooks.call("on_epoch_end", self, epoch, metrics)
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
        if self.run_directory is not None:
            self.run_directory.write_checkpoint(self._checkpoint())
            self.run_directory.append_metrics(metrics)


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
