"""The plain 1-D CNN of the MNIST-1D paper, trained here: the bar for a learned wiring (issue 13, part 3).

The model (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024, the
package's ``ConvBase``): three 1-D convolutions with ReLU — ``1 → C`` (kernel 5, stride 2, padding
1), ``C → C`` and ``C → C`` (kernel 3, stride 2, padding 1) — taking the 40 samples to 19, 10 and 5,
then a linear layer on the flattened ``C × 5`` features. ``C = 25`` has 5,210 parameters (the
paper's), ``C = 53`` has 19,938 (about 20,000); PyTorch's count, every parameter.

Recipes (Adam, batch 100; the package's own is lr 1e-2 for 6,000 steps, about 150 epochs) are
swept on all seeds and the best by mean final test accuracy is reported per size — chosen on the
test set, which favours the baseline. Data: the standard MNIST-1D (4,000 train / 1,000 test,
``wiring.data.mnist1d(seed=0)``), the same as every wiring run. One JSON per run under ``--out``.

Usage::

    python benchmarks/mnist1d_cnn_baseline.py --jobs 1 --out benchmarks/results/mnist1d_cnn
    python benchmarks/mnist1d_cnn_baseline.py --report-only --out benchmarks/results/mnist1d_cnn

Needs torch, numpy, scipy and mnist1d; ``wiring`` is imported from this checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runs import load_results, mean_std, run_grid

SIZES = {"5k": 25, "20k": 53}
#: (name, lr, epochs, weight decay, schedule)
RECIPES: list[tuple[str, float, int, float, str]] = [
    ("adam1e-2-150ep", 1e-2, 150, 0.0, "constant"),  # the MNIST-1D package's recipe
    ("adam1e-2-150ep-cos", 1e-2, 150, 0.0, "cosine"),
]
SEEDS = (0, 1, 2, 3, 4)


def cnn(channels: int) -> Any:
    """The MNIST-1D paper's CNN with ``channels`` channels (input (B, 1, 40) → logits (B, 10))."""
    from torch import nn

    return nn.Sequential(
        nn.Conv1d(1, channels, 5, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channels * 5, 10),
    )


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one CNN; the result row with the per-epoch test accuracy curve."""
    import torch
    import torch.nn.functional as F

    from wiring.data import mnist1d

    data = mnist1d(seed=0)
    device = torch.device(task["device"])
    torch.manual_seed(task["seed"])
    model = cnn(task["channels"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=task["lr"], weight_decay=task["weight_decay"])
    steps_per_epoch = -(-len(data.y_train) // 100)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, task["epochs"] * steps_per_epoch)
        if task["schedule"] == "cosine"
        else None
    )
    gen = torch.Generator().manual_seed(task["seed"])
    xtr, ytr = data.x_train.to(device), data.y_train.to(device)
    xte, yte = data.x_test.to(device), data.y_test.to(device)
    curve = []
    start = time.perf_counter()
    for _ in range(task["epochs"]):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen).to(device)
        for i in range(0, len(ytr), 100):
            idx = perm[i : i + 100]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        model.eval()
        with torch.no_grad():
            curve.append(round(float((model(xte).argmax(1) == yte).float().mean()), 4))
    return {
        **{k: task[k] for k in ("name", "size", "channels", "recipe", "seed", "epochs")},
        "lr": task["lr"],
        "weight_decay": task["weight_decay"],
        "schedule": task["schedule"],
        "test_accuracy": curve[-1],
        "best_test_accuracy": max(curve),
        "curve": curve,
        "params_torch": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - start, 1),
        "device": task["device"],
        "threads": torch.get_num_threads(),
    }


def tasks(device: str) -> list[dict[str, Any]]:
    out = []
    for size, ch in SIZES.items():
        for recipe, lr, epochs, wd, schedule in RECIPES:
            for seed in SEEDS:
                out.append(
                    {
                        "name": f"cnn-{size}-{recipe}-s{seed}",
                        "size": size,
                        "channels": ch,
                        "recipe": recipe,
                        "lr": lr,
                        "epochs": epochs,
                        "weight_decay": wd,
                        "schedule": schedule,
                        "seed": seed,
                        "device": device,
                    }
                )
    return out


def best_recipes(rows: list[dict[str, Any]]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Per size: the recipe with the best mean final test accuracy over all 5 seeds, its runs."""
    best: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for size in SIZES:
        scored = []
        for recipe, *_ in RECIPES:
            runs = [r for r in rows if r["size"] == size and r["recipe"] == recipe]
            if len(runs) == len(SEEDS):
                scored.append((mean_std([r["test_accuracy"] for r in runs])[0], recipe, runs))
        if scored:
            _, recipe, runs = max(scored, key=lambda s: s[0])
            best[size] = (recipe, sorted(runs, key=lambda r: r["seed"]))
    return best


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "Plain 1-D CNN on MNIST-1D (4,000 / 1,000), final test accuracy (%), mean ± std over "
        f"{len(SEEDS)} seeds; PyTorch parameter count.",
        "",
        "| size | channels | params | recipe | final | best epoch | seconds per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        for recipe, *_ in RECIPES:
            runs = [r for r in rows if r["size"] == size and r["recipe"] == recipe]
            if not runs:
                continue
            m, s = mean_std([100 * r["test_accuracy"] for r in runs])
            mb, sb = mean_std([100 * r["best_test_accuracy"] for r in runs])
            sec = mean_std([r["seconds"] for r in runs])[0]
            lines.append(
                f"| {size} | {runs[0]['channels']} | {runs[0]['params_torch']:,} | {recipe} | "
                f"{m:.1f} ± {s:.1f} | {mb:.1f} ± {sb:.1f} | {sec:.0f} |"
            )
    lines.append("")
    for size, (recipe, runs) in best_recipes(rows).items():
        accs = ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in runs)
        lines.append(f"* best recipe at {size}: {recipe} (seeds 0–4: {accs})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="runs/mnist1d_cnn")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs: expected a positive integer, found {args.jobs}")
    out = Path(args.out)
    if not args.report_only:
        run_grid(tasks(args.device), train_one, out=out, jobs=args.jobs)
    print(report(load_results(out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
