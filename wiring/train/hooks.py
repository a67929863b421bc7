"""Trainer callbacks: the hooks a callback may define and the code that calls them.

One optimizer step of :class:`~wiring.train.Trainer` calls, in order,

=========================================  ========================================================
``extra_loss(trainer)``                    after the forward pass; a returned scalar tensor is added
                                           to the loss that is backpropagated (e.g. an L1 term)
``on_after_backward(trainer, step)``       after ``loss.backward()``, before ``optimizer.step()``:
                                           every gradient is readable (and may be changed) here
``on_step_end(trainer, step, loss)``       after the optimizer and scheduler steps
=========================================  ========================================================

and, around the steps, ``on_train_start(trainer)``, ``on_epoch_end(trainer, epoch, metrics)`` and
``on_train_end(trainer)``. ``on_after_backward`` and ``on_step_end`` return ``True`` when they changed
a mask of the wiring (``None`` or ``False`` otherwise); the trainer records the step in
``trainer.masks_changed_at_step`` and zeroes the optimizer state of the site weights whose mask is
now off (:func:`wiring.nn.sites.reset_optimizer_state`). A callback with state that must survive a
resume defines ``state_dict()`` and ``load_state_dict(state)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from wiring.train.loop import Trainer

__all__ = ["CALLBACK_METHODS", "Callback", "Hooks"]

CALLBACK_METHODS = (
    "on_train_start",
    "extra_loss",
    "on_after_backward",
    "on_step_end",
    "on_epoch_end",
    "on_train_end",
)


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

    An L1 penalty :math:`\\lambda \\sum_i |w_i|` on a model's candidate weights:

    >>> class L1(Callback):
    ...     def extra_loss(self, trainer):
    ...         return 1e-4 * trainer.model.graph_module.weight.abs().sum()
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Called once when :meth:`Trainer.fit` starts (after a checkpoint has been restored)."""

    def extra_loss(self, trainer: Trainer) -> torch.Tensor | None:
        """Called after each forward pass; return a scalar tensor to add to the training loss.

        The optimizer then minimises :math:`L_{\\text{data}} + \\sum_c L_c`, the sum over the
        callbacks that return a term. The ``train_loss`` of the metrics and the ``loss`` handed to
        :meth:`on_step_end` stay the data loss :math:`L_{\\text{data}}`.
        """
        return None

    def on_after_backward(self, trainer: Trainer, step: int) -> bool | None:
        """Called after ``loss.backward()`` and before ``optimizer.step()``.

        ``step`` is the 0-based index of the coming optimizer step. The gradients (``p.grad``) are
        those the optimizer is about to use. Return ``True`` if a mask of the wiring changed.
        """
        return None

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> bool | None:
        """Called after every optimizer step.

        ``step`` is the 0-based index of that step counted over the whole run; ``loss`` is the
        batch's training (data) loss before the step. Return ``True`` if a mask of the wiring
        changed.
        """
        return None

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Called after each epoch's evaluation, before the checkpoint is written.

        ``metrics`` is the dict about to be written as one line of ``metrics.jsonl``; a callback may
        add JSON-serialisable keys to it.
        """

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last epoch (not when training stops with an error)."""


class Hooks:
    """The callbacks of one trainer, checked once and called in order.

    Parameters
    ----------
    callbacks : iterable
        Objects with at least one of the methods of :class:`Callback`.

    Raises
    ------
    TypeError
        If a callback has none of the hook methods (the message names its index).
    """

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks: tuple[Any, ...] = tuple(callbacks)
        for i, callback in enumerate(self.callbacks):
            if not any(callable(getattr(callback, m, None)) for m in CALLBACK_METHODS):
                raise TypeError(
                    f"callbacks[{i}]: expected an object with methods {', '.join(CALLBACK_METHODS)}"
                    f" (e.g. a wiring.train.Callback), found {type(callback).__name__}"
                )

    def _methods(self, hook: str) -> list[tuple[int, Any]]:
        found = ((i, getattr(c, hook, None)) for i, c in enumerate(self.callbacks))
        return [(i, method) for i, method in found if callable(method)]

    def call(self, hook: str, trainer: Trainer, *args: Any) -> None:
        """Call ``hook(trainer, *args)`` on every callback that has it."""
        for _, method in self._methods(hook):
            method(trainer, *args)

    def call_mask_hook(self, hook: str, trainer: Trainer, *args: Any) -> bool:
        """Call ``hook`` on every callback (none is skipped); whether any reported a mask change.

        Raises
        ------
        TypeError
            If a callback returns something other than ``None``, ``True`` or ``False``.
        """
        changed = False
        for i, method in self._methods(hook):
            result = method(trainer, *args)
            if result is None:
                continue
            if not isinstance(result, bool | np.bool_):
                raise TypeError(
                    f"callbacks[{i}].{hook}: expected True (a mask changed), False or None, "
                    f"found {type(result).__name__}"
                )
            changed = changed or bool(result)
        return changed

    def extra_loss(self, trainer: Trainer) -> torch.Tensor | None:
        """The sum of the callbacks' ``extra_loss`` terms (``None`` when none returns one).

        Raises
        ------
        TypeError
            If a callback returns something other than ``None`` or a one-element tensor.
        """
        total: torch.Tensor | None = None
        for i, method in self._methods("extra_loss"):
            term = method(trainer)
            if term is None:
                continue
            if not isinstance(term, torch.Tensor) or term.numel() != 1:
                found = (
                    f"a tensor of shape {tuple(term.shape)}"
                    if isinstance(term, torch.Tensor)
                    else type(term).__name__
                )
                raise TypeError(
                    f"callbacks[{i}].extra_loss: expected a scalar torch.Tensor or None, "
                    f"found {found}"
                )
            term = term.reshape(())
            total = term if total is None else total + term
        return total

    def state_dicts(self) -> list[Any]:
        """Each callback's ``state_dict()``, or ``None`` for a callback without one."""
        return [
            callback.state_dict() if callable(getattr(callback, "state_dict", None)) else None
            for callback in self.callbacks
        ]

    def load_state_dicts(self, states: Sequence[Any]) -> None:
        """Hand each callback its state from a checkpoint (see :meth:`state_dicts`).

        Raises
        ------
        ValueError
            If the checkpoint holds states for a different number of callbacks.
        """
        states = list(states or [])
        if not any(state is not None for state in states):
            return
        if len(states) != len(self.callbacks):
            raise ValueError(
                f"resume: the checkpoint holds the state of {len(states)} callbacks, "
                f"this run has {len(self.callbacks)}; pass the same callbacks in the same order"
            )
        for callback, state in zip(self.callbacks, states, strict=True):
            if state is not None:
                callback.load_state_dict(state)
