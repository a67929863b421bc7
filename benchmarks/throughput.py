"""Training throughput of a compiled static graph against a hand-written PyTorch module.

Two measurements (issue "Core", sec. 6):

1. Steps per second of ``wiring.compile(complete_dag([32, 192, 192, 192, 192]), k=5%)`` (8×8 node
   states, batch 64, SGD) against a hand-written module doing the same block computation with
   dense masked matrices, timed alternately in one process so both see the same machine load.
2. The share of a training step spent in edge selection (top-k by |w| plus masking) at about
   1M candidates (blocks 32-400-400-400-400: 1,011,200 candidates).

Run: ``python benchmarks/throughput.py [--threads 2] [--steps 20]``; results go to
docs/benchmarks.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

import wiring
from wiring import generators


class HandWritten(nn.Module):
    """The same computation written directly: per block, a dense (n_b, n_<b) masked weight."""

    def __init__(self, sizes: list[int], masks: list[torch.Tensor], weights: list[torch.Tensor]):
        super().__init__()
        self.sizes = sizes
        self.weights = nn.ParameterList([nn.Parameter(w.clone()) for w in weights])
        for b, m in enumerate(masks):
            self.register_buffer(f"mask{b}", m)
        self.ops = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
            )
            for c in sizes[:-1]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, h, w = x.shape[0], x.shape[2], x.shape[3]
        states = [self.ops[0](x)]
        for b in range(1, len(self.sizes)):
            prev = torch.cat(states, dim=1)  # (B, n_<b, H, W)
            mat = self.weights[b - 1] * getattr(self, f"mask{b - 1}")  # (n_b, n_<b)
            flat = prev.transpose(0, 1).reshape(prev.shape[1], -1)
            i = (mat @ flat).view(-1, batch, h, w).transpose(0, 1)
            states.append(self.ops[b](i) if b < len(self.sizes) - 1 else i.contiguous())
        return states[-1]


def _step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    t = time.perf_counter()
    loss = (model(x) - y).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def compare_hand_written(steps: int, batch: int, density: float) -> dict[str, float]:
    sizes = [32, 192, 192, 192, 192]
    g = generators.complete_dag(sizes, seed=0)
    k = round(density * g.num_candidates)
    g = g.with_top_k(k)
    torch.manual_seed(0)
    compiled = wiring.compile(g, dynamics="static", spatial_dims=2, k=k, norm="batch")
    # The hand-written twin: same weights and masks laid out as dense per-block matrices.
    starts = np.concatenate([[0], np.cumsum(sizes)])
    weights, masks = [], []
    for b in range(1, len(sizes)):
        w = np.zeros((sizes[b], starts[b]))
        m = np.zeros((sizes[b], starts[b]))
        into = (g.dst >= starts[b]) & (g.dst < starts[b + 1])
        w[g.dst[into] - starts[b], g.src[into]] = g.weight[into]
        m[g.dst[into] - starts[b], g.src[into]] = g.real[into]
        weights.append(torch.tensor(w, dtype=torch.float32))
        masks.append(torch.tensor(m, dtype=torch.float32))
    hand = HandWritten(sizes, masks, weights)
    with torch.no_grad():  # the same depthwise filters
        for b in range(len(sizes) - 1):
            hand.ops[b][2].weight.copy_(compiled.ops[b].conv.weight)
    x = torch.randn(batch, 32, 8, 8)
    y = torch.randn(batch, 192, 8, 8)
    with torch.no_grad():  # same function before timing (weights identical, BN fresh)
        torch.testing.assert_close(compiled(x), hand(x), rtol=1e-4, atol=1e-4)
    opts = {
        "compiled": torch.optim.SGD(compiled.parameters(), lr=0.01, momentum=0.9),
        "hand": torch.optim.SGD(hand.parameters(), lr=0.01, momentum=0.9),
    }
    models = {"compiled": compiled, "hand": hand}
    times: dict[str, list[float]] = {"compiled": [], "hand": []}
    for name in models:  # warm-up
        for _ in range(3):
            _step(models[name], opts[name], x, y)
    for _ in range(steps):  # alternate so both see the same load
        for name in ("compiled", "hand"):
            times[name].append(_step(models[name], opts[name], x, y))
    med = {name: statistics.median(v) for name, v in times.items()}
    return {
        "candidates": g.num_candidates,
        "k": k,
        "compiled_ms": med["compiled"] * 1e3,
        "hand_ms": med["hand"] * 1e3,
        "compiled_steps_per_s": 1 / med["compiled"],
        "hand_steps_per_s": 1 / med["hand"],
        "ratio": med["compiled"] / med["hand"],
    }


def selection_share(steps: int, batch: int, density: float) -> dict[str, float]:
    sizes = [32, 400, 400, 400, 400]
    g = generators.complete_dag(sizes, seed=1)
    k = round(density * g.num_candidates)
    torch.manual_seed(0)
    model = wiring.compile(g, dynamics="static", spatial_dims=2, k=k)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 32, 8, 8)
    y = torch.randn(batch, len(g.outputs), 8, 8)
    for _ in range(3):
        _step(model, opt, x, y)
    step_t, sel_t = [], []
    for _ in range(steps):
        step_t.append(_step(model, opt, x, y))
        t = time.perf_counter()
        # exactly what forward() does for selection: the top-k mask and the masked weights
        real = model.real_mask()
        model.selection.apply(model.weight, real)
        sel_t.append(time.perf_counter() - t)
    s, e = statistics.median(step_t), statistics.median(sel_t)
    return {
        "candidates": g.num_candidates,
        "k": k,
        "step_ms": s * 1e3,
        "selection_ms": e * 1e3,
        "share": e / s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--density", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}"
    )
    r = compare_hand_written(args.steps, args.batch, args.density)
    print(
        f"static 32-192x4, {r['candidates']} candidates, k={r['k']}, batch {args.batch}: "
        f"compiled {r['compiled_ms']:.1f} ms/step ({r['compiled_steps_per_s']:.1f}/s), "
        f"hand-written {r['hand_ms']:.1f} ms/step ({r['hand_steps_per_s']:.1f}/s), "
        f"ratio {r['ratio']:.3f} (target <= 1.10)"
    )
    s = selection_share(max(5, args.steps // 2), args.batch, args.density)
    print(
        f"selection at {s['candidates']} candidates (k={s['k']}): {s['selection_ms']:.1f} ms of a "
        f"{s['step_ms']:.1f} ms step = {100 * s['share']:.1f}% (target <= 5%)"
    )


if __name__ == "__main__":
    main()
