"""What an evolution rule costs inside the training run it is in (issue 8 target: at most 5%).

A 1M-weight MLP (64 -> 1024 -> 960 -> 10, 1,058,816 weights) is made sparse with
``wiring.sparsify`` and trained with ``wiring.train.Trainer`` on synthetic data (3 epochs of 100
steps, batch 128, SGD with momentum). Each rule runs as a trainer callback with its defaults
(``every=100`` where it has one). Two figures per rule, at 1 and at 2 threads:

* **direct**: the seconds spent inside the rule's hooks plus the optimizer-state resets the
  trainer does for it, divided by the run's total time;
* **A/B**: the run's time minus the time of the same run without the rule (alternating, same
  process, best of ``--repeats``), divided by the latter. It also catches costs outside the
  hooks (the L1 term's backward pass) and is noisier.

The row ``sites`` compares the sparsified model without any rule to the same MLP made of plain
layers (the cost of the site mechanism itself: the masked effective weight and the recorded
gradient).

Usage::

    python benchmarks/evolve_overhead.py [--threads 1,2] [--repeats 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import wiring
from wiring.data import Dataset
from wiring.evolve import (
    SET,
    AdaptiveSparsity,
    L1Anneal,
    MagnitudePruning,
    RigL,
    TargetedDropout,
    reset_optimizer_state,
)
from wiring.train import TrainConfig, Trainer

BATCH = 128
STEPS_PER_EPOCH = 100

# name -> (density of the sites at the start, rule factory)
RULES: dict[str, tuple[float, Callable[[], Any]]] = {
    "rigl": (0.1, lambda: RigL()),
    "set": (0.1, lambda: SET()),
    "adaptive": (0.1, lambda: AdaptiveSparsity()),
    "adaptive-deterministic": (0.1, lambda: AdaptiveSparsity.deterministic()),
    "magnitude": (1.0, lambda: MagnitudePruning(0.1)),
    "l1-anneal": (1.0, lambda: L1Anneal(0.1)),
    "targeted-dropout": (1.0, lambda: TargetedDropout(0.5, 0.95)),
}


def build(density: float | None) -> nn.Module:
    """The 1M-weight MLP; ``density=None`` leaves plain layers."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 960), nn.ReLU(), nn.Linear(960, 10)
    )
    return model if density is None else wiring.sparsify(model, density, seed=0)


def data(epochs: int) -> Dataset:
    g = torch.Generator().manual_seed(0)
    n = BATCH * STEPS_PER_EPOCH
    x = torch.randn(n + 1024, 64, generator=g)
    y = (x @ torch.randn(64, 10, generator=g)).argmax(dim=1)
    return Dataset("synthetic", x[:n], y[:n], x[n:], y[n:], num_classes=10)


class Timed:
    """Forwards the trainer hooks to ``rule`` and adds up the seconds spent in them."""

    def __init__(self, rule: Any) -> None:
        self.rule = rule
        self.seconds = 0.0

    def _call(self, hook: str, *args: Any) -> Any:
        method = getattr(self.rule, hook, None)
        if method is None:
            return None
        start = time.perf_counter()
        out = method(*args)
        self.seconds += time.perf_counter() - start
        return out

    def on_train_start(self, trainer: Any) -> None:
        self._call("on_train_start", trainer)

    def extra_loss(self, trainer: Any) -> Any:
        return self._call("extra_loss", trainer)

    def on_after_backward(self, trainer: Any, step: int) -> Any:
        return self._call("on_after_backward", trainer, step)

    def on_step_end(self, trainer: Any, step: int, loss: float) -> Any:
        return self._call("on_step_end", trainer, step, loss)


def run(density: float | None, rule: Any, dataset: Dataset, epochs: int) -> dict[str, float]:
    model = build(density)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.02, progress=False)
    timed = Timed(rule) if rule is not None else None
    trainer = Trainer(model, dataset, config, callbacks=[timed] if timed else [])
    start = time.perf_counter()
    trainer.fit()
    total = time.perf_counter() - start
    resets = len(trainer.masks_changed_at_step)
    reset_seconds = 0.0
    if resets:  # the trainer's optimizer-state resets on this rule's behalf
        start = time.perf_counter()
        for _ in range(5):
            reset_optimizer_state(trainer.optimizer, model)
        reset_seconds = resets * (time.perf_counter() - start) / 5
    return {
        "total": total,
        "rule": (timed.seconds if timed else 0.0) + reset_seconds,
        "mask_changes": resets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    dataset = data(args.epochs)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, commit {commit}, "
        f"load average {os.getloadavg()[0]:.2f}, {args.epochs * STEPS_PER_EPOCH} steps per run"
    )
    results: list[dict[str, Any]] = []
    print("| threads | rule | run (s) | baseline (s) | direct | A/B |")
    print("|---|---|---|---|---|---|", flush=True)

    def report(row: dict[str, Any]) -> None:
        results.append(row)
        direct = "—" if row["direct"] is None else f"{100 * row['direct']:.2f}%"
        ab = 100 * (row["run_s"] - row["baseline_s"]) / row["baseline_s"]
        print(
            f"| {row['threads']} | {row['rule']} | {row['run_s']:.2f} | {row['baseline_s']:.2f} | "
            f"{direct} | {ab:+.1f}% |",
            flush=True,
        )

    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        base = {}
        best_plain = min(
            run(None, None, dataset, args.epochs)["total"] for _ in range(args.repeats)
        )
        for density in sorted({RULES[name][0] for name in args.rules.split(",")}):
            base[density] = min(
                run(density, None, dataset, args.epochs)["total"] for _ in range(args.repeats)
            )
        report(
            {
                "threads": threads,
                "rule": "sites",
                "run_s": base[0.1] if 0.1 in base else base[min(base)],
                "baseline_s": best_plain,
                "direct": None,
            }
        )
        for name in args.rules.split(","):
            density, factory = RULES[name]
            runs, bases = [], []
            for _ in range(args.repeats):  # alternate: baseline, rule, baseline, rule
                bases.append(run(density, None, dataset, args.epochs)["total"])
                runs.append(run(density, factory(), dataset, args.epochs))
            best = min(runs, key=lambda r: r["total"])
            baseline = min([*bases, base[density]])
            report(
                {
                    "threads": threads,
                    "rule": name,
                    "run_s": best["total"],
                    "baseline_s": baseline,
                    "direct": best["rule"] / best["total"],
                    "mask_changes": best["mask_changes"],
                }
            )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
