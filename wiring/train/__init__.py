"""Training: the loop, its hooks, checkpoints and safe, resumable run directories.

=====================  ===========================================================================
:mod:`.loop`           :class:`Trainer`, :func:`train`, :class:`NonFiniteLossError`, and
                       :class:`TrainConfig` (an option object of :mod:`wiring.options`)
:mod:`.hooks`          :class:`Callback`: the hooks a callback may define, and their dispatch
:mod:`.checkpoint`     :func:`load_checkpoint`, the checkpoint dict and its random-number states
:mod:`.rundir`         :class:`RunDirectory`: the run directory's files (``config.toml``,
                       ``metrics.jsonl``, ``checkpoint.pt``, ``graph.npz``) and their atomic writes
=====================  ===========================================================================

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

from wiring.train.checkpoint import load_checkpoint
from wiring.train.hooks import Callback
from wiring.train.loop import NonFiniteLossError, TrainConfig, Trainer, train
from wiring.train.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    GRAPH_FILE,
    METRICS_FILE,
    RunDirectory,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "GRAPH_FILE",
    "METRICS_FILE",
    "Callback",
    "NonFiniteLossError",
    "RunDirectory",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "train",
]
