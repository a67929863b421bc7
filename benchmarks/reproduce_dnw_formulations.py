"""DNW vs random graph vs no update, discrete and continuous time, both formulations (issue 13, part 2).

The question: docs/results.md found DNW's continuous-time advantage absent and its discrete-time one
within the spread, with the paper's equations, Adam, 30 epochs and one RK4 step. Is that our
formulation, the solver or the schedule? This grid trains, for 5 seeds,

* dynamics: ``discrete`` (5 steps), ``continuous`` (dopri5 from 0 to 1, rtol = atol = 1e-3, the
  paper's solver);
* formulation: ``paper`` (the equations) and ``original`` (the authors' code's computation,
  ``tiny_classifier(formulation="original")``, docs/architecture.md);
* selection: ``dnw``, ``random`` (fixed random graph), ``dnw-no-update`` (the ablation);

with the paper's optimiser: SGD, lr 0.1, momentum 0.9, weight decay 1e-4 (the authors' small-scale
configs), cosine annealing, batch 128. Model: the demo's 256-node tiny classifier on MNIST-1D
(32 inputs, 32 outputs, k = 3,000). Every run is stored as ``<out>/<name>.json`` (final and
per-epoch accuracies, seconds, solver evaluations), so an interrupted grid continues and the
tables are regenerated from stored results (``--report-only``).

Usage::

    python benchmarks/reproduce_dnw_formulations.py --preset long --jobs 2 --out runs/formulations
    python benchmarks/reproduce_dnw_formulations.py --preset long --report-only --out runs/formulations

    --jobs N     N worker processes, one thread each   --device cpu|cuda
    --preset     smoke (1 epoch, seed 0) | short (30) | mid (60) | long (100 epochs)
    --only       comma-separated filters on run names, e.g. --only discrete-paper,continuous
    --markdown F write the tables there too            --figure F  learning curves (PNG)

Needs torch, torchdiffeq, numpy, scipy, mnist1d and (for --figure) matplotlib; ``wiring`` is
imported from this checkout.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runs import load_results, mean_std, paired_tests, run_grid

DYNAMICS = ("discrete", "continuous")
FORMULATIONS = ("paper", "original")
SELECTIONS = ("dnw", "random", "dnw-no-update")

#: The demo's graph (wiring.cli.DEMO_MODEL) with the paper's solver.
MODEL: dict[str, Any] = {
    "num_nodes": 256,
    "num_inputs": 32,
    "num_outputs": 32,
    "block_size": 64,
    "k": 3_000,
    "steps": 5,
    "t1": 1.0,
    "method": "dopri5",
    "rtol": 1e-3,
    "atol": 1e-3,
}
#: The paper's recipe: SGD with momentum, cosine annealing (weight decay of the authors' configs).
TRAIN: dict[str, Any] = {
    "batch_size": 128,
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "scheduler": "cosine",
}
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 1, "seeds": [0]},
    "short": {"epochs": 30, "seeds": [0, 1, 2, 3, 4]},
    "mid": {"epochs": 60, "seeds": [0, 1, 2, 3, 4]},
    "long": {"epochs": 100, "seeds": [0, 1, 2, 3, 4]},
}


def run_name(dynamics: str, formulation: str, selection: str, seed: int, epochs: int) -> str:
    return f"{dynamics}-{formulation}-{selection}-s{seed}-e{epochs}"


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one model of the grid; return its result row (runs in a worker process)."""
    import torch

    from wiring.data import mnist1d
    from wiring.models import tiny_classifier
    from wiring.train import TrainConfig, train

    data = mnist1d(seed=0)
    torch.manual_seed(task["seed"])
    model = tiny_classifier(
        dynamics=task["dynamics"],
        selection=task["selection"],
        formulation=task["formulation"],
        spatial_dims=data.spatial_dims,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        graph_seed=task["seed"],
        **MODEL,
    )
    if str(task["device"]).startswith("cuda"):
        _dense(model)
    start = time.perf_counter()
    history = train(
        model,
        data,
        TrainConfig(epochs=task["epochs"], progress=False, **TRAIN),
        seed=task["seed"],
        device=task["device"],
    )
    seconds = time.perf_counter() - start
    counts = model.parameter_counts()
    gm = model.graph_module
    return {
        **{k: task[k] for k in ("name", "dynamics", "formulation", "selection", "seed", "epochs")},
        "test_accuracy": float(history[-1]["test_accuracy"]),
        "best_test_accuracy": max(float(h["test_accuracy"]) for h in history),
        "curve": [round(float(h["test_accuracy"]), 4) for h in history],
        "train_loss": [round(float(h["train_loss"]), 4) for h in history],
        "params_paper": int(counts["paper"]),
        "params_torch": int(counts["torch"]),
        "edges": int(counts["edges"]),
        "nfe": int(getattr(gm, "nfe", 0)),
        "seconds": round(seconds, 1),
        "device": task["device"],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "model": MODEL,
        "train": TRAIN,
    }


def _dense(model: Any) -> None:
    """Use the dense message passing: on a GPU a 256 × 256 GEMM beats the CSR product."""
    from wiring.nn.edges import EdgeBlock

    for m in model.modules():
        if isinstance(m, EdgeBlock):
            m.sparse = False


def tasks(preset: dict[str, Any], device: str, only: list[str]) -> list[dict[str, Any]]:
    out = []
    for seed in preset["seeds"]:
        for dyn in DYNAMICS:
            for form in FORMULATIONS:
                for sel in SELECTIONS:
                    name = run_name(dyn, form, sel, seed, preset["epochs"])
                    if only and not any(f in name for f in only):
                        continue
                    out.append(
                        {
                            "name": name,
                            "dynamics": dyn,
                            "formulation": form,
                            "selection": sel,
                            "seed": seed,
                            "epochs": preset["epochs"],
                            "device": device,
                        }
                    )
    # The slow continuous runs first, so a pool's tail is short.
    return sorted(out, key=lambda t: t["dynamics"] != "continuous")


def _p(x: float | None) -> str:
    return "—" if x is None else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def report(rows: list[dict[str, Any]], epochs: int) -> str:
    """Markdown tables from stored results: accuracies, paired differences, paired tests."""
    rows = [r for r in rows if r["epochs"] == epochs]
    acc: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in rows:
        acc.setdefault((r["dynamics"], r["formulation"], r["selection"]), {})[r["seed"]] = (
            100 * r["test_accuracy"]
        )
    lines = [
        f"Final test accuracy (%), MNIST-1D, mean ± std over seeds, {epochs} epochs of SGD + cosine.",
        "",
        "| dynamics | formulation | random graph | DNW | DNW, no update | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for dyn in DYNAMICS:
        for form in FORMULATIONS:
            cells = []
            for sel in ("random", "dnw", "dnw-no-update"):
                v = list(acc.get((dyn, form, sel), {}).values())
                cells.append("—" if not v else "{:.1f} ± {:.1f}".format(*mean_std(v)))
            n = len(acc.get((dyn, form, "dnw"), {}))
            lines.append(f"| {dyn} | {form} | {' | '.join(cells)} | {n} |")
    lines += [
        "",
        "Paired by seed: mean ± std of the difference (points), seeds ahead, two-sided p of the "
        "paired t-test and of the Wilcoxon signed-rank test (exact; with 5 seeds its smallest "
        "possible p is 0.0625).",
        "",
        "| dynamics | formulation | comparison | difference | ahead | t-test p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|",
    ]
    comparisons = (("dnw", "random"), ("dnw", "dnw-no-update"), ("dnw-no-update", "random"))
    for dyn in DYNAMICS:
        for form in FORMULATIONS:
            for a, b in comparisons:
                xa, xb = acc.get((dyn, form, a), {}), acc.get((dyn, form, b), {})
                seeds = sorted(set(xa) & set(xb))
                if len(seeds) < 2:
                    continue
                va, vb = [xa[s] for s in seeds], [xb[s] for s in seeds]
                d = [x - y for x, y in zip(va, vb, strict=True)]
                m, sd = mean_std(d)
                t = paired_tests(va, vb)
                lines.append(
                    f"| {dyn} | {form} | {a} − {b} | {m:+.1f} ± {sd:.1f} | "
                    f"{sum(x > 0 for x in d)} of {len(d)} | {_p(t.get('t_p'))} | "
                    f"{_p(t.get('wilcoxon_p'))} |"
                )
    lines += ["", "Original − paper formulation, paired by seed:", ""]
    lines += ["| dynamics | selection | difference | ahead | t-test p |", "|---|---|---|---|---|"]
    for dyn in DYNAMICS:
        for sel in SELECTIONS:
            xo, xp = acc.get((dyn, "original", sel), {}), acc.get((dyn, "paper", sel), {})
            seeds = sorted(set(xo) & set(xp))
            if len(seeds) < 2:
                continue
            d = [xo[s] - xp[s] for s in seeds]
            m, sd = mean_std(d)
            t = paired_tests([xo[s] for s in seeds], [xp[s] for s in seeds])
            lines.append(
                f"| {dyn} | {sel} | {m:+.1f} ± {sd:.1f} | {sum(x > 0 for x in d)} of {len(d)} | "
                f"{_p(t.get('t_p'))} |"
            )
    cost = {}
    for r in rows:
        cost.setdefault((r["dynamics"], r["formulation"], r["device"]), []).append(r["seconds"])
    lines += ["", "Cost: seconds per run (mean), where it ran (one thread per run):", ""]
    for (dyn, form, dev), s in sorted(cost.items()):
        lines.append(f"* {dyn}, {form}, {dev}: {mean_std(s)[0]:.0f} s per run ({len(s)} runs)")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], epochs: int, path: Path) -> None:
    """Mean test-accuracy curves per (dynamics, formulation), one line per selection."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), dpi=110, sharex=True, sharey=True)
    colors = {"dnw": "tab:blue", "random": "tab:orange", "dnw-no-update": "tab:green"}
    for i, dyn in enumerate(DYNAMICS):
        for j, form in enumerate(FORMULATIONS):
            ax = axes[i][j]
            for sel, color in colors.items():
                curves = [
                    r["curve"]
                    for r in rows
                    if (r["dynamics"], r["formulation"], r["selection"], r["epochs"])
                    == (dyn, form, sel, epochs)
                ]
                if not curves:
                    continue
                c = 100 * np.array(curves)
                x = np.arange(1, c.shape[1] + 1)
                ax.plot(x, c.mean(0), color=color, label=f"{sel} ({len(curves)} seeds)")
                ax.fill_between(x, c.min(0), c.max(0), color=color, alpha=0.15)
            ax.set_title(f"{dyn}, {form}", fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.set_ylim(40, 100)
            if i == 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel("test accuracy (%)")
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("MNIST-1D, 256-node tiny classifier, SGD + cosine; band: min–max over seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="long")
    p.add_argument("--out", default="runs/reproduce_dnw_formulations")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default="", help="comma-separated substrings of run names")
    p.add_argument("--seeds", default="", help="comma-separated seeds (default: the preset's)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--markdown", default=None)
    p.add_argument("--figure", default=None)
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs: expected a positive integer, found {args.jobs}")
    preset = dict(PRESETS[args.preset])
    if args.seeds:
        preset["seeds"] = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    only = [s for s in args.only.split(",") if s]
    if not args.report_only:
        run_grid(tasks(preset, args.device, only), train_one, out=out, jobs=args.jobs)
    rows = load_results(out)
    text = report(rows, preset["epochs"])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
    if args.figure:
        plot(rows, preset["epochs"], Path(args.figure))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
