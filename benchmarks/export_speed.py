"""Inference speed of :func:`wiring.export` against the module it was exported from (issue 10).

Three comparisons, each measured side by side in one process, the models taking turns (one forward
pass each, round after round) so that both see the same machine load, at 1 and 2 threads:

1. a compiled static graph — the DNW tiny classifier's graph, blocks 32 | 192 192 192 92 | 100
   (254,960 candidates), batch norm–ReLU–3×3 depthwise convolution, 8×8 node states — with 10% and
   with 1% of the candidates real (DNW top-k of untrained weights), eval mode, against its export;
2. MobileNetV1-DNW ×0.25 (untrained weights: the top-k of random weights) in eval mode, against its
   export, and
3. the export against the dense MobileNetV1 ×0.25, both in PyTorch's default (NCHW) layout and
   converted to channels-last.

Latency is the median time of one forward pass at batch 1 and at batch 64; throughput is 64 / the
batch-64 latency. Before timing, every export is checked to give the outputs of its model (float32,
1e-5 relative to the largest output).

Run: ``python benchmarks/export_speed.py [--threads 1 2] [--rounds 15] [--size 224]``; the figures
go to docs/benchmarks.md by hand, with the machine and commit they came from.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

import torch
from torch import nn

import wiring
from wiring import generators
from wiring.models import mobilenet_v1, mobilenet_v1_dnw


def _timed(model: nn.Module, x: torch.Tensor) -> float:
    t = time.perf_counter()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - t


def side_by_side(
    models: dict[str, nn.Module], make_input: Callable[[], torch.Tensor], rounds: int, warmup: int
) -> dict[str, float]:
    """Median seconds per forward pass of each model, the models taking turns every round."""
    x = make_input()
    for _ in range(warmup):
        for m in models.values():
            _timed(m, x)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, m in models.items():
            times[name].append(_timed(m, x))
    return {name: statistics.median(ts) for name, ts in times.items()}


def _check(model: nn.Module, fast: nn.Module, x: torch.Tensor, what: str) -> None:
    with torch.no_grad():
        y, yf = model(x), fast(x)
    err = float((y - yf).abs().max() / y.abs().max().clamp_min(1e-30))
    if err > 1e-5:
        raise SystemExit(f"{what}: the export differs from the model by {err:.2e} (relative)")


def static_graph(density: float) -> nn.Module:
    graph = generators.complete_dag([32, 192, 192, 192, 92, 100], seed=0)
    k = round(density * graph.num_candidates)
    torch.manual_seed(0)
    return wiring.compile(graph, dynamics="static", spatial_dims=2, k=k, norm="batch").eval()


def _channels_last(model: nn.Module) -> nn.Module:
    class ChannelsLast(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner.to(memory_format=torch.channels_last)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x.contiguous(memory_format=torch.channels_last))

    return ChannelsLast(model)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def run(threads: int, rounds: int, warmup: int, size: int, size64: int) -> list[str]:
    torch.set_num_threads(threads)
    rows = []
    # 1. compiled static graph
    for density in (0.10, 0.01):
        model = static_graph(density)
        fast = wiring.export(model)
        for batch in (1, 64):
            _check(model, fast, torch.randn(batch, 32, 8, 8), f"static {density:.0%}")
            t = side_by_side(
                {"model": model, "export": fast},
                lambda b=batch: torch.randn(b, 32, 8, 8),
                rounds,
                warmup,
            )
            speed = t["model"] / t["export"]
            thr = f"{batch / t['export']:.0f} / {batch / t['model']:.0f}" if batch > 1 else "—"
            rows.append(
                f"| {threads} | static, {density:.0%} real ({model.k:,} edges) | {batch} | "
                f"{_fmt(t['model'])} | {_fmt(t['export'])} | {speed:.1f}× | {thr} |"
            )
            print(rows[-1], flush=True)
    # 2. and 3. MobileNetV1-DNW x0.25
    torch.manual_seed(0)
    dnw = mobilenet_v1_dnw(0.25, seed=0).eval()
    fast = wiring.export(dnw)
    dense = mobilenet_v1(0.25).eval()
    dense_cl = _channels_last(mobilenet_v1(0.25).eval())
    for batch, px in ((1, size), (64, size64)):
        _check(dnw, fast, torch.randn(min(batch, 2), 3, px, px), "MobileNetV1-DNW x0.25")
        t = side_by_side(
            {"model": dnw, "export": fast, "dense": dense, "dense_cl": dense_cl},
            lambda b=batch, p=px: torch.randn(b, 3, p, p),
            max(3, rounds // 3),
            1,
        )

        def thr(seconds: float, b: int = batch) -> str:
            return f"{b / seconds:.1f}" if b > 1 else "—"

        rows.append(
            f"| {threads} | MobileNetV1-DNW ×0.25, {px}×{px} | {batch} | {_fmt(t['model'])} | "
            f"{_fmt(t['export'])} | {t['model'] / t['export']:.1f}× | {thr(t['export'])} / "
            f"{thr(t['model'])} |"
        )
        print(rows[-1], flush=True)
        rows.append(
            f"| {threads} | dense MobileNetV1 ×0.25 (NCHW / channels-last) vs the export, "
            f"{px}×{px} | {batch} | {_fmt(t['dense'])} / {_fmt(t['dense_cl'])} | "
            f"{_fmt(t['export'])} | {t['dense'] / t['export']:.2f}× / "
            f"{t['dense_cl'] / t['export']:.2f}× | {thr(t['export'])} / {thr(t['dense'])} / "
            f"{thr(t['dense_cl'])} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", type=int, default=224, help="MobileNet input at batch 1")
    parser.add_argument("--size64", type=int, default=224, help="MobileNet input at batch 64")
    args = parser.parse_args()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, commit {commit}, load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        "| threads | model | batch | training module (eval) | export | speed-up | images/s (export / model) |"
    )
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        run(threads, args.rounds, args.warmup, args.size, args.size64)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
