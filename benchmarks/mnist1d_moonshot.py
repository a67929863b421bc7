"""A learned wiring against the plain 1-D CNN on MNIST-1D, at about 5,000 and 20,000 parameters.

Trains the two example configs, ``examples/configs/mnist1d_small.toml`` (5k) and
``examples/configs/mnist1d_best.toml`` (20k), for seeds 0–4 with DNW and, as a control, with a
fixed random graph of the same k (``model.selection = "random"``); stores one JSON per run (final
and per-epoch test accuracy, parameter counts, seconds) and the learned graph
(``graphs/<run>.npz``) under ``--out``. The report puts them beside the CNN runs of
``benchmarks/mnist1d_cnn_baseline.py`` (best recipe per size; ``--cnn`` folder): DNW's parameter
count as the DNW paper counts it (real edges + node ops + stem + head), the CNN's as PyTorch does,
both printed; Welch's t-test for DNW vs CNN, the paired t-test for DNW vs random graph.

Usage::

    python benchmarks/mnist1d_moonshot.py --jobs 1 --out benchmarks/results/mnist1d_moonshot
    python benchmarks/mnist1d_moonshot.py --report-only --figure docs/figures/mnist1d_moonshot.png \\
        --analysis docs/figures/mnist1d_best_wiring

Needs torch, numpy, scipy, mnist1d (matplotlib, networkx for the figure and the analysis).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runs import ROOT, load_results, mean_std, paired_tests, run_grid

CONFIGS = {
    "5k": ROOT / "examples" / "configs" / "mnist1d_small.toml",
    "20k": ROOT / "examples" / "configs" / "mnist1d_best.toml",
}
SELECTIONS = ("dnw", "random")
SEEDS = (0, 1, 2, 3, 4)


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one config/selection/seed; store its learned graph; return the result row."""
    import dataclasses

    import torch

    from wiring import config
    from wiring.cli import build_model, load_data
    from wiring.train import train

    cfg = config.load(
        task["config"],
        overrides=[f"seed={task['seed']}", f'model.selection="{task["selection"]}"'],
    )
    if task.get("epochs"):
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=task["epochs"]))
    data = load_data(cfg)
    model = build_model(cfg, data)
    train_cfg = dataclasses.replace(cfg.train, progress=False)
    start = time.perf_counter()
    history = train(model, data, train_cfg, seed=cfg.seed, device=task["device"])
    seconds = time.perf_counter() - start
    graph_path = Path(task["out"]) / "graphs" / f"{task['name']}.npz"
    graph_path.parent.mkdir(parents=True, exist_ok=True)
    model.graph().save(graph_path)
    counts = model.parameter_counts()
    curve = [round(float(h["test_accuracy"]), 4) for h in history]
    return {
        **{k: task[k] for k in ("name", "size", "selection", "seed")},
        "config": Path(task["config"]).name,
        "epochs": len(history),
        "test_accuracy": curve[-1],
        "best_test_accuracy": max(curve),
        "curve": curve,
        "params_paper": int(counts["paper"]),
        "params_torch": int(counts["torch"]),
        "edges": int(counts["edges"]),
        "seconds": round(seconds, 1),
        "device": task["device"],
        "threads": torch.get_num_threads(),
    }


def tasks(device: str, out: Path, only: list[str], epochs: int | None) -> list[dict[str, Any]]:
    rows = []
    for size, path in CONFIGS.items():
        for sel in SELECTIONS:
            for seed in SEEDS:
                name = f"wiring-{size}-{sel}-s{seed}"
                if only and not any(f in name for f in only):
                    continue
                rows.append(
                    {
                        "name": name,
                        "size": size,
                        "selection": sel,
                        "seed": seed,
                        "config": str(path),
                        "device": device,
                        "out": str(out),
                        "epochs": epochs,
                    }
                )
    return sorted(rows, key=lambda t: t["size"] != "20k")  # the long runs first


def report(rows: list[dict[str, Any]], cnn_rows: list[dict[str, Any]]) -> str:
    from mnist1d_cnn_baseline import best_recipes
    from scipy import stats

    best = best_recipes(cnn_rows)
    lines = [
        "Final test accuracy (%), MNIST-1D standard split (4,000 / 1,000), mean ± std over seeds "
        "0–4.",
        "",
        "| size | model | params (DNW paper's count) | params (PyTorch's count) | accuracy | "
        "per seed | seconds per run |",
        "|---|---|---|---|---|---|---|",
    ]
    comparisons = []
    for size in CONFIGS:
        cnn_acc: list[float] = []
        if size in best:
            recipe, runs = best[size]
            cnn_acc = [100 * r["test_accuracy"] for r in runs]
            m, s = mean_std(cnn_acc)
            lines.append(
                f"| {size} | plain CNN ({runs[0]['channels']} channels, {recipe}) | — | "
                f"{runs[0]['params_torch']:,} | {m:.1f} ± {s:.1f} | "
                f"{', '.join(f'{a:.1f}' for a in cnn_acc)} | "
                f"{mean_std([r['seconds'] for r in runs])[0]:.0f} |"
            )
        acc: dict[str, dict[int, float]] = {}
        for sel in SELECTIONS:
            runs = sorted(
                (r for r in rows if r["size"] == size and r["selection"] == sel),
                key=lambda r: r["seed"],
            )
            if not runs:
                continue
            acc[sel] = {r["seed"]: 100 * r["test_accuracy"] for r in runs}
            m, s = mean_std(list(acc[sel].values()))
            label = "learned wiring (DNW)" if sel == "dnw" else "random graph, same k"
            lines.append(
                f"| {size} | {label}, {runs[0]['epochs']} epochs | {runs[0]['params_paper']:,} | "
                f"{runs[0]['params_torch']:,} | {m:.1f} ± {s:.1f} | "
                f"{', '.join(f'{a:.1f}' for a in acc[sel].values())} | "
                f"{mean_std([r['seconds'] for r in runs])[0]:.0f} |"
            )
        if "dnw" in acc and len(cnn_acc) > 1 and len(acc["dnw"]) > 1:
            dnw = list(acc["dnw"].values())
            p = float(stats.ttest_ind(dnw, cnn_acc, equal_var=False).pvalue)
            comparisons.append(
                f"* {size}: DNW − CNN {mean_std(dnw)[0] - mean_std(cnn_acc)[0]:+.1f} points "
                f"(Welch's t-test p = {p:.2g}); DNW ≥ 97 %: "
                f"{'yes' if mean_std(dnw)[0] >= 97 else 'no'} (mean {mean_std(dnw)[0]:.2f} %)"
            )
        if "dnw" in acc and "random" in acc:
            seeds = sorted(set(acc["dnw"]) & set(acc["random"]))
            if len(seeds) > 1:
                a = [acc["dnw"][s] for s in seeds]
                b = [acc["random"][s] for s in seeds]
                d = mean_std([x - y for x, y in zip(a, b, strict=True)])
                t = paired_tests(a, b)
                comparisons.append(
                    f"* {size}: DNW − random graph {d[0]:+.1f} ± {d[1]:.1f} points, paired by seed "
                    f"(t-test p = {t.get('t_p', float('nan')):.2g}, "
                    f"{sum(x > y for x, y in zip(a, b, strict=True))} of {len(a)} seeds ahead)"
                )
    return "\n".join([*lines, "", *comparisons])


def plot(rows: list[dict[str, Any]], cnn_rows: list[dict[str, Any]], path: Path) -> None:
    """Mean test-accuracy curves (band: min–max over seeds): CNN, DNW, random graph, per size."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from mnist1d_cnn_baseline import best_recipes

    best = best_recipes(cnn_rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110, sharey=True)
    for ax, size in zip(axes, CONFIGS, strict=True):
        series = []
        if size in best:
            _, runs = best[size]
            series.append((f"plain CNN ({runs[0]['params_torch']:,} params)", "tab:gray", runs))
        for sel, color in (("dnw", "tab:blue"), ("random", "tab:orange")):
            runs = [r for r in rows if r["size"] == size and r["selection"] == sel]
            if runs:
                label = "learned wiring (DNW)" if sel == "dnw" else "random graph"
                series.append((f"{label} ({runs[0]['params_paper']:,} params)", color, runs))
        for label, color, runs in series:
            c = 100 * np.array([r["curve"] for r in runs])
            x = np.arange(1, c.shape[1] + 1)
            ax.plot(x, c.mean(0), color=color, label=f"{label}, {len(runs)} seeds")
            ax.fill_between(x, c.min(0), c.max(0), color=color, alpha=0.15)
        ax.axhline(97, color="k", lw=0.8, ls=":")
        ax.set_title(f"about {size} parameters", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylim(80, 100)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle(
        "MNIST-1D: learned wiring vs plain CNN (wiring: DNW paper's count; CNN: PyTorch's)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def analysis(out: Path, target: Path) -> str:
    """Analysis report of the 20k learned wiring (seed 0) against its random-graph twin."""
    from wiring.analysis import summary
    from wiring.analysis.report import analyze
    from wiring.graph import NeuralGraph

    lines = ["| measure | " + " | ".join(f"{s} DNW | {s} random" for s in CONFIGS) + " |"]
    lines.append("|---|" + "---|---|" * len(CONFIGS))
    sums = {}
    for size in CONFIGS:
        for sel in SELECTIONS:
            p = out / "graphs" / f"wiring-{size}-{sel}-s0.npz"
            if p.exists():
                g = NeuralGraph.load(p)
                s = summary(g, samples=200)
                live = g.effective_edges()
                s["effective_edges"] = int(live.sum())
                s["edges"] = int(g.num_edges)
                sums[(size, sel)] = s
    keys = ["edges", "effective_edges", "degree_gini", "average_clustering"]
    keys += ["average_shortest_path_length", "algebraic_connectivity"]
    for key in keys:
        cells = []
        for size in CONFIGS:
            for sel in SELECTIONS:
                v = sums.get((size, sel), {}).get(key)
                cells.append("—" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.3g}"))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    g20 = out / "graphs" / "wiring-20k-dnw-s0.npz"
    r20 = out / "graphs" / "wiring-20k-random-s0.npz"
    if g20.exists():
        analyze(g20, reference=r20 if r20.exists() else None, out=target, progress=False)
        lines += ["", f"Full report of the 20k learned wiring (seed 0): {target}/report.html"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="runs/mnist1d_moonshot")
    p.add_argument("--cnn", default="benchmarks/results/mnist1d_cnn")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default="", help="comma-separated substrings of run names")
    p.add_argument("--epochs", type=int, default=0, help="override the configs' epochs (0: keep)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--figure", default=None)
    p.add_argument("--analysis", default=None, help="folder for the 20k wiring's analysis report")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs: expected a positive integer, found {args.jobs}")
    out = Path(args.out)
    only = [s for s in args.only.split(",") if s]
    if not args.report_only:
        grid = tasks(args.device, out, only, args.epochs or None)
        run_grid(grid, train_one, out=out, jobs=args.jobs)
    rows = load_results(out)
    cnn_rows = load_results(Path(args.cnn))
    print(report(rows, cnn_rows))
    if args.figure:
        plot(rows, cnn_rows, Path(args.figure))
    if args.analysis:
        print(analysis(out, Path(args.analysis)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
