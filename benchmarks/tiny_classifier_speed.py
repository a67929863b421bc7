"""Time training steps of the DNW tiny classifier at the paper's sizes.

One step = forward + cross-entropy + backward + SGD update (momentum 0.9, weight decay 5e-4) on a
batch of 128 random 3×32×32 images, for the static, discrete-time (5 steps) and continuous-time
(dopri5, rtol = atol = 1e-3, t from 0 to 1) tiny classifier: 800 nodes, k = 32,000 real edges,
InstanceNorm–ReLU–3×3 depthwise convolution at each node, untrained (fresh initialisation).

The original DNW implementation, measured on the same kind of machine (2 cores) with the same batch,
takes 288 ms per static step, 1,690 ms per discrete step and 11.0 s per continuous step.

Usage::

    python benchmarks/tiny_classifier_speed.py [--threads 2] [--dynamics static discrete continuous]
        [--repeats 7] [--warmup 2] [--json out.json]

Prints one line per dynamics: median and min/max over ``repeats`` timed steps after ``warmup``
untimed ones, the speed-up against the original figures, and (continuous) the vector-field
evaluations per step. Every step starts from the same untrained weights (restored before it, not
timed), so the adaptive solver does the same work in every step.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import subprocess
import time
from typing import Any

import torch

from wiring.models import tiny_classifier

#: Seconds per training step of the original DNW code (same machine class, batch 128, 2 cores).
ORIGINAL_SECONDS = {"static": 0.288, "discrete": 1.690, "continuous": 11.0}


def cpu_model() -> str:
    """The ``lscpu`` model name (or the platform's processor string)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def time_steps(dynamics: str, *, repeats: int, warmup: int, batch: int = 128) -> dict[str, Any]:
    """Median seconds per training step of the paper-size tiny classifier with ``dynamics``."""
    torch.manual_seed(0)
    model = tiny_classifier(dynamics=dynamics, selection="dnw")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    params = model.parameter_counts()["paper"]
    graph_module = model.graph_module
    losses: list[float] = []
    times: list[float] = []
    nfes: list[int] = []
    model.train()
    # Every timed step starts from the same untrained weights (as the original's figures): an
    # adaptive solver's work depends on the weights, which training changes.
    initial = copy.deepcopy(model.state_dict())
    for i in range(warmup + repeats):
        model.load_state_dict(initial)
        opt.state.clear()
        nfe0 = getattr(graph_module, "nfe", 0)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        losses.append(float(loss.detach()))
        if i >= warmup:
            times.append(elapsed)
            nfes.append(getattr(graph_module, "nfe", 0) - nfe0)
    median = statistics.median(times)
    return {
        "dynamics": dynamics,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
        "speedup_vs_original": ORIGINAL_SECONDS[dynamics] / median,
        "nfe_per_step": statistics.median(nfes) if dynamics == "continuous" else None,
        "params_paper": params,
        "losses": losses,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--dynamics",
        nargs="+",
        default=["static", "discrete", "continuous"],
        choices=ORIGINAL_SECONDS,
    )
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = f"{cpu_model()}, {args.threads} threads, torch {torch.__version__}"
    print(f"machine: {machine}")
    rows = []
    for dyn in args.dynamics:
        r = time_steps(dyn, repeats=args.repeats, warmup=args.warmup)
        rows.append(r)
        nfe = f", {r['nfe_per_step']:.0f} evaluations/step" if r["nfe_per_step"] is not None else ""
        print(
            f"{dyn:<11} median {r['median_s'] * 1e3:9.1f} ms (min {r['min_s'] * 1e3:.1f}, "
            f"max {r['max_s'] * 1e3:.1f}, n={r['repeats']}); original "
            f"{ORIGINAL_SECONDS[dyn] * 1e3:.0f} ms -> {r['speedup_vs_original']:.2f}x{nfe}; "
            f"losses {', '.join(f'{v:.3g}' for v in r['losses'])}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine, "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
