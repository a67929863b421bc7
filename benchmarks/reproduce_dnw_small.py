"""Reproduce DNW's small-scale claim (Table 1) on MNIST-1D: DNW vs a random graph at equal k.

For static, discrete-time and continuous-time dynamics, trains the tiny classifier (scaled down) with

* ``dnw``: the k largest |w| are real, every candidate weight is trained (Algorithm 1);
* ``random``: the random-graph baseline, k edges drawn uniformly and kept fixed;
* ``dnw-no-update``: the paper's ablation, top-k forward but no gradient to hallucinated edges,

over several seeds (each seed draws the random graph, the initial weights and the batch order; the
data is the fixed standard MNIST-1D), and an edge-count sweep of ``dnw`` vs ``random`` (static).
Results go to a JSONL file, one line per finished run, so an interrupted benchmark continues where
it stopped; the summary (mean ± std) is printed as Markdown and the sweep is plotted.

Usage::

    python benchmarks/reproduce_dnw_small.py --quick          # about 20 min on 2 cores
    python benchmarks/reproduce_dnw_small.py --preset full    # about 2 hours

    options: --out runs/reproduce_dnw_small  --figure docs/figures/dnw_vs_random_edges.png
             --markdown FILE (write the summary tables there too)  --threads 2

The paper's CIFAR-10 figures (41k-parameter model, 160 epochs), for reference: random graph vs DNW
static 76.1 vs 80.9, discrete 77.3 vs 82.3, continuous 78.5 vs 83.1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from wiring.data import mnist1d
from wiring.models import tiny_classifier
from wiring.recipes import DEMO_MODEL, DEMO_TRAIN
from wiring.train import train

PAPER = {"static": (76.1, 80.9), "discrete": (77.3, 82.3), "continuous": (78.5, 83.1)}
DYNAMICS = ("static", "discrete", "continuous")
SELECTIONS = ("dnw", "random", "dnw-no-update")

# The demo's model and recipe (wiring.recipes): 256 nodes (32 inputs | 64 64 64 | 32 outputs in the
# static case), k = 3,000 (11.7 % of the 25,600 static candidates, 4.6 % of the 65,280 dynamic ones;
# the paper's are 12.5 % and 5.0 %), 5 discrete steps, one RK4 step from 0 to 1 in continuous time;
# Adam with cosine annealing.
MODEL = DEMO_MODEL
TRAIN = DEMO_TRAIN

PRESETS: dict[str, dict[str, Any]] = {
    # checks that the script runs end to end (about a minute); its numbers mean nothing
    "smoke": {"epochs": 1, "seeds": [0], "sweep_k": [1000], "sweep_seeds": [0]},
    "quick": {
        "epochs": 30,
        "seeds": [0, 1, 2, 3, 4],
        "sweep_k": [750, 1500, 3000, 6000, 12000],
        "sweep_seeds": [0, 1],
    },
    "full": {
        "epochs": 60,
        "seeds": [0, 1, 2, 3, 4],
        "sweep_k": [250, 500, 1000, 2000, 3000, 6000, 12000, 24000],
        "sweep_seeds": [0, 1, 2, 3, 4],
    },
}


def run_one(
    data: Any, *, dynamics: str, selection: str, seed: int, k: int, epochs: int
) -> dict[str, Any]:
    """Train one model; return its final test accuracy, edges, parameters and seconds."""
    torch.manual_seed(seed)
    model = tiny_classifier(
        dynamics=dynamics,
        selection=selection,
        spatial_dims=data.spatial_dims,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        **dataclasses.asdict(dataclasses.replace(MODEL, k=k, graph_seed=seed)),
    )
    start = time.perf_counter()
    history = train(
        model, data, dataclasses.replace(TRAIN, epochs=epochs, progress=False), seed=seed
    )
    seconds = time.perf_counter() - start
    counts = model.parameter_counts()
    graph = model.graph()
    return {
        "dynamics": dynamics,
        "selection": selection,
        "seed": seed,
        "k": k,
        "epochs": epochs,
        "test_accuracy": float(history[-1]["test_accuracy"]),
        "best_test_accuracy": max(float(h["test_accuracy"]) for h in history),
        "edges": int(counts["edges"]),
        "effective_edges": int(graph.effective_edges().sum()),
        "params": int(counts["paper"]),
        "seconds": round(seconds, 2),
    }


def _key(row: dict[str, Any]) -> tuple:
    return (row["dynamics"], row["selection"], row["seed"], row["k"], row["epochs"])


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def summary_markdown(rows: list[dict[str, Any]], preset: dict[str, Any]) -> str:
    """Mean ± std (over seeds) of the final test accuracy, beside the paper's CIFAR-10 figures."""
    k, epochs = MODEL.k, preset["epochs"]
    lines = [
        f"Final test accuracy (%) on MNIST-1D, mean ± std over {len(preset['seeds'])} seeds, "
        f"k = {k:,}, {epochs} epochs. Paper: CIFAR-10, 41k-parameter model, 160 epochs.",
        "",
        "| dynamics | random graph | DNW | DNW, no update rule | DNW − random | paper: random → DNW |",
        "|---|---|---|---|---|---|",
    ]
    for dyn in DYNAMICS:
        stats = {}
        for sel in SELECTIONS:
            acc = [
                100 * r["test_accuracy"]
                for r in rows
                if r["dynamics"] == dyn
                and r["selection"] == sel
                and r["k"] == k
                and r["epochs"] == epochs
                and r["seed"] in preset["seeds"]
            ]
            stats[sel] = _mean_std(acc) if acc else None

        def cell(s: tuple[float, float] | None) -> str:
            return "—" if s is None else f"{s[0]:.1f} ± {s[1]:.1f}"

        gap = (
            f"{stats['dnw'][0] - stats['random'][0]:+.1f}"
            if stats["dnw"] and stats["random"]
            else "—"
        )
        pr, pd = PAPER[dyn]
        lines.append(
            f"| {dyn} | {cell(stats['random'])} | {cell(stats['dnw'])} | "
            f"{cell(stats['dnw-no-update'])} | {gap} | {pr} → {pd} ({pd - pr:+.1f}) |"
        )
    lines += [
        "",
        "Paired by seed (same seed: same data order and initialisation), DNW − random graph:",
        "",
        "| dynamics | mean ± std of the difference | seeds where DNW is ahead |",
        "|---|---|---|",
    ]
    for dyn in DYNAMICS:
        acc = {
            (r["selection"], r["seed"]): 100 * r["test_accuracy"]
            for r in rows
            if r["dynamics"] == dyn and r["k"] == k and r["epochs"] == epochs
        }
        diffs = [
            acc[("dnw", s)] - acc[("random", s)]
            for s in preset["seeds"]
            if ("dnw", s) in acc and ("random", s) in acc
        ]
        if diffs:
            m, sd = _mean_std(diffs)
            wins = sum(d > 0 for d in diffs)
            lines.append(f"| {dyn} | {m:+.1f} ± {sd:.1f} | {wins} of {len(diffs)} |")
    lines += ["", "Edge-count sweep (static), final test accuracy (%), mean ± std:", ""]
    lines += ["| k | random graph | DNW |", "|---|---|---|"]
    for kk in preset["sweep_k"]:
        cells = []
        for sel in ("random", "dnw"):
            acc = _sweep_accuracies(rows, preset, sel, kk)
            cells.append(f"{_mean_std(acc)[0]:.1f} ± {_mean_std(acc)[1]:.1f}" if acc else "—")
        lines.append(f"| {kk:,} | {cells[0]} | {cells[1]} |")
    seconds = sum(r["seconds"] for r in rows)
    lines += ["", f"Training time of these runs: {seconds / 60:.1f} min in all."]
    return "\n".join(lines)


def _sweep_accuracies(
    rows: list[dict[str, Any]], preset: dict[str, Any], sel: str, k: int
) -> list[float]:
    """Test accuracies (%) of the static sweep runs of selection ``sel`` at ``k`` edges."""
    return [
        100 * r["test_accuracy"]
        for r in rows
        if r["dynamics"] == "static"
        and r["selection"] == sel
        and r["k"] == k
        and r["epochs"] == preset["epochs"]
        and r["seed"] in preset["sweep_seeds"]
    ]


def plot(rows: list[dict[str, Any]], preset: dict[str, Any], path: Path) -> None:
    """Accuracy against edge count, DNW and random graph (static sweep, dynamics at the main k)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = preset["epochs"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    styles = {"dnw": ("tab:blue", "DNW"), "random": ("tab:orange", "random graph")}
    for sel, (color, label) in styles.items():
        ks, means, stds = [], [], []
        for kk in preset["sweep_k"]:
            acc = _sweep_accuracies(rows, preset, sel, kk)
            if acc:
                m, s = _mean_std(acc)
                ks.append(kk)
                means.append(m)
                stds.append(s)
        if ks:
            ax.errorbar(
                ks, means, yerr=stds, color=color, marker="o", capsize=3, label=f"{label}, static"
            )
        for dyn, marker, shift in (("discrete", "s", 0.9), ("continuous", "^", 1.1)):
            acc = [
                100 * r["test_accuracy"]
                for r in rows
                if r["dynamics"] == dyn
                and r["selection"] == sel
                and r["k"] == MODEL.k
                and r["epochs"] == epochs
                and r["seed"] in preset["seeds"]
            ]
            if acc:
                m, s = _mean_std(acc)
                ax.errorbar(
                    [MODEL.k * shift],
                    [m],
                    yerr=[s],
                    color=color,
                    marker=marker,
                    linestyle="none",
                    capsize=3,
                    label=f"{label}, {dyn}",
                )
    ax.set_xscale("log")
    ax.set_xlabel("real edges k (discrete and continuous at k = 3,000, drawn apart)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"MNIST-1D, 256-node tiny classifier, {epochs} epochs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    p.add_argument("--quick", action="store_true", help="same as --preset quick")
    p.add_argument("--out", default="runs/reproduce_dnw_small")
    p.add_argument("--figure", default="docs/figures/dnw_vs_random_edges.png")
    p.add_argument("--markdown", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--report-only", action="store_true", help="summarise existing results only")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.preset = "quick"
    preset = PRESETS[args.preset]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / f"{args.preset}.jsonl"
    rows = (
        [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        if results.exists()
        else []
    )
    done = {_key(r) for r in rows}

    jobs = [
        (dyn, sel, seed, MODEL.k)
        for seed in preset["seeds"]
        for dyn in DYNAMICS
        for sel in SELECTIONS
    ]
    jobs += [
        ("static", sel, seed, kk)
        for seed in preset["sweep_seeds"]
        for kk in preset["sweep_k"]
        for sel in ("dnw", "random")
        if (kk != MODEL.k or seed not in preset["seeds"])
    ]
    todo = [j for j in jobs if (*j, preset["epochs"]) not in done]
    if not args.report_only and todo:
        data = mnist1d(seed=0)
        start = time.perf_counter()
        for i, (dyn, sel, seed, kk) in enumerate(todo, 1):
            row = run_one(
                data, dynamics=dyn, selection=sel, seed=seed, k=kk, epochs=preset["epochs"]
            )
            rows.append(row)
            with results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            elapsed = time.perf_counter() - start
            print(
                f"[{i}/{len(todo)} {elapsed / 60:5.1f} min] {dyn:<10} {sel:<13} seed {seed} "
                f"k {kk:>6}: {row['test_accuracy']:.3f} ({row['seconds']:.0f} s)",
                flush=True,
            )
    text = summary_markdown(rows, preset)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    plot(rows, preset, Path(args.figure))
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
