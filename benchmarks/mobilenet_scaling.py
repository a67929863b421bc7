"""Time and memory of a MobileNetV1-DNW training step, and the cost of the edge selection.

Feeds docs/scaling.md (issue 10, sec. 4). For each width, one SGD step (momentum 0.9, cross-entropy
on random labels) of ``mobilenet_v1_dnw(width)`` on random ``size × size`` images: median wall time
over ``--steps`` steps after 2 warm-up steps, peak memory (CUDA: ``max_memory_allocated``; CPU:
the growth of the process's peak resident set), and the multiply-adds of the step by the formula of
docs/scaling.md. Then ``top_k_mask`` (the DNW selection) on ``--candidates`` random scores.

Run: ``python benchmarks/mobilenet_scaling.py [--device cpu|cuda] [--batch 8] [--size 224]
[--widths 0.225 0.49] [--threads 2]``. Each width runs in a fresh process so that peak memory is
its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from wiring.models import mobilenet_v1_dnw, mobilenet_v1_stages
from wiring.nn.selection import top_k_mask


def step_macs(model: torch.nn.Module, size: int) -> dict[str, int]:
    """Multiply-adds per example of one training step, by parts (see docs/scaling.md)."""
    edges = candidates = node_ops = 0
    s = math.ceil(size / 2)  # after the stem
    for stage, (cin, cout, stride, layers) in zip(model.stages, mobilenet_v1_stages(), strict=True):
        s = math.ceil(s / stride)
        p = s * s
        edges += stage.k * p
        candidates += stage.weight.numel() * p
        node_ops += (cin + cout * (layers - 1)) * 9 * p
    stem = 3 * 32 * 9 * math.ceil(size / 2) ** 2
    fc = model.fc.weight.numel() if hasattr(model.fc, "in_features") else model.fc.k
    forward = edges + node_ops + stem + fc
    # backward: input gradients as costly as the forward (the real edges, transposed), weight
    # gradients of the dense parts as costly again, and the gradient of *every* candidate
    # (one dense G Z^T per block: candidates x positions), which DNW's update rule needs.
    return {
        "forward": forward,
        "backward_inputs": forward,
        "backward_weights": node_ops + stem + fc,
        "backward_candidates": candidates,
        "total": 2 * forward + node_ops + stem + fc + candidates,
    }


def activation_bytes(model: torch.nn.Module, batch: int, size: int, device: str) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one training forward.

    Every tensor saved for backward (``torch.autograd.graph.saved_tensors_hooks``), counted once per
    storage, parameters excluded: what a GPU holds between the forward and the backward pass,
    whatever the machine's load.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.layout == torch.strided:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in params:
                seen[ptr] = t.untyped_storage().nbytes()
        return t

    x = torch.randn(batch, 3, size, size, device=device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return sum(seen.values())


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def measure(width: float, batch: int, size: int, steps: int, device: str) -> dict[str, float]:
    torch.manual_seed(0)
    model = mobilenet_v1_dnw(width, seed=0).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rss0 = _peak_rss_bytes()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 2):
        sync()
        t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        if i >= 2:
            times.append(time.perf_counter() - t)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _peak_rss_bytes() - rss0
    macs = step_macs(model, size)
    act = activation_bytes(model, 2, size, device) - activation_bytes(model, 1, size, device)
    return {
        "activation_bytes_per_example": act,
        "width": width,
        "batch": batch,
        "size": size,
        "device": device,
        "threads": torch.get_num_threads(),
        "step_s": statistics.median(times),
        "peak_bytes": peak,
        "macs_per_example": macs["total"],
        "macs_parts": macs,
        "candidates": sum(s.weight.numel() for s in model.stages),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def selection_cost(m: int, k: int, device: str, repeats: int = 7) -> float:
    score = torch.rand(m, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    top_k_mask(score, k)
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        top_k_mask(score, k)
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.225, 0.49])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=4_200_000)
    parser.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one is not None:  # child process: one width
        print(json.dumps(measure(args.one, args.batch, args.size, args.steps, args.device)))
        return
    print(
        f"# {args.device}, {args.threads} threads, torch {torch.__version__}, load {os.getloadavg()[0]:.1f}"
    )
    for width in args.widths:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(width),
            "--device",
            args.device,
            "--batch",
            str(args.batch),
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        gflop = 2 * r["macs_per_example"] * r["batch"] / r["step_s"] / 1e9
        print(
            f"width {width}: batch {r['batch']} at {r['size']} px: {r['step_s']:.3f} s/step, "
            f"peak {r['peak_bytes'] / 2**30:.2f} GiB, activations "
            f"{r['activation_bytes_per_example'] / 2**20:.1f} MiB per example, "
            f"{r['macs_per_example'] / 1e9:.2f} GMAC per "
            f"example ({gflop:.1f} GFLOP/s), parts {r['macs_parts']}, "
            f"candidates {r['candidates']:,}, parameters {r['parameters']:,}"
        )
    k = round(0.05 * args.candidates)
    t = selection_cost(args.candidates, k, args.device)
    print(f"top_k_mask over {args.candidates:,} candidates (k = {k:,}): {t * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
