"""Entry point for the kill-and-resume test of wiring.train: one small, fully seeded training run.

Usage: ``python _train_run.py RUN_DIR [--resume] [--marker PATH]``. With ``--marker``, the run writes
PATH in the middle of epoch 1 (after its first checkpoint exists) and then waits there to be killed.

The model uses dropout (torch RNG), batch norm (buffers) and a callback that perturbs a weight with
numpy's and python's global generators, so an exact resume needs every state the checkpoint holds.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

EPOCHS = 3
MARK_STEP = 3  # step within epoch 1 at which --marker is written


def build() -> tuple[Any, Any]:
    import torch
    from torch import nn

    from wiring.data import Dataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(320, 1, 6, 6, generator=g)
    teacher = torch.randn(36, 4, generator=g)
    y = (x.flatten(1) @ teacher).argmax(dim=1)
    data = Dataset("synthetic", x[:256], y[:256], x[256:], y[256:], num_classes=4)
    torch.manual_seed(1234)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(144, 4),
    )
    return model, data


class Jitter:
    """Adds noise drawn from numpy's and python's global generators to one weight every step."""

    def __init__(self, marker: Path | None) -> None:
        self.marker = marker

    def on_step_end(self, trainer: Any, step: int, loss: float) -> None:
        import numpy as np
        import torch

        with torch.no_grad():
            weight = trainer.model[-1].weight
            noise = np.random.normal(size=tuple(weight.shape)) * 1e-3  # noqa: NPY002
            weight.add_(torch.as_tensor(noise, dtype=weight.dtype) * random.random())
        if self.marker is not None and step == trainer.steps_per_epoch + MARK_STEP:
            self.marker.write_text(str(step))
            time.sleep(120)  # mid-epoch 1: the test kills the process here


def main() -> None:
    import torch

    from wiring.train import TrainConfig, train

    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, data = build()
    config = TrainConfig(epochs=EPOCHS, batch_size=32, lr=0.05, progress=False)
    train(
        model,
        data,
        config,
        run_dir=args.run_dir,
        seed=7,
        callbacks=[Jitter(args.marker)],
        resume=args.resume,
    )


if __name__ == "__main__":
    main()
