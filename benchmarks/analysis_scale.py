"""Scale benchmark of ``wiring.analysis`` (issue 4, section 3).

On a random DAG wiring of 100,000 nodes and 1,000,000 edges (random pairs u < v, deduplicated,
N(0, 1) weights; the first 1,000 nodes are the inputs) it times

* ``summary`` (algebraic connectivity, degree Gini, clustering, average clustering, sampled
  average shortest path length),
* ``heat_signature`` at 3 times from the 1,000 input nodes,
* ``scree`` at 3 times (K = 10% of the nontrivial eigenvalues, stochastic path),

and reports wall time and peak resident memory (``resource.getrusage``). Target: <= 60 s and
<= 4 GiB on 2 cores. It then times networkx on the same graph (each measure in a forked process
capped at ``--nx-cap`` seconds; the sampled ones extrapolated, and said so) and the dense path
(``scipy.linalg.eigh`` of an n x n Laplacian) at a few sizes, to show where it stops being possible.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/analysis_scale.py [--nodes N] [--edges M] [--json OUT]

Figures land in docs/benchmarks.md (section "Analysis at 100,000 nodes"). The whole run takes about 2-3 minutes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

# One BLAS thread unless told otherwise: on a 2-core machine whose other core is busy, two BLAS
# threads oversubscribe and dense kernels slow down by 10-100x (eigh of 1,000 x 1,000: 13 s
# instead of 0.14 s). Must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from wiring.analysis import (  # noqa: E402
    algebraic_connectivity,
    average_shortest_path_length,
    clustering,
    heat_signature,
    scree,
    summary,
)
from wiring.graph import NeuralGraph  # noqa: E402

TIMES = np.array([0.1, 1.0, 10.0])
FRACTION = 0.1


def random_dag(num_nodes: int, num_edges: int, seed: int = 0) -> NeuralGraph:
    """Random DAG: ``num_edges`` distinct pairs u < v drawn uniformly, N(0, 1) weights."""
    rng = np.random.default_rng(seed)
    keys = np.zeros(0, dtype=np.int64)
    while keys.size < num_edges:
        k = int((num_edges - keys.size) * 1.05) + 1000
        u = rng.integers(0, num_nodes, size=k)
        v = rng.integers(0, num_nodes, size=k)
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        keep = lo < hi
        keys = np.unique(np.concatenate([keys, lo[keep] * num_nodes + hi[keep]]))
    keys = rng.permutation(keys)[:num_edges]
    src, dst = np.divmod(keys, num_nodes)
    return NeuralGraph(
        src,
        dst,
        rng.standard_normal(num_edges),
        num_nodes=num_nodes,
        inputs=np.arange(min(1000, num_nodes)),
    )


def peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def timed(label: str, fn: Callable[[], Any], log: dict[str, Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    log[label] = round(time.perf_counter() - start, 2)
    print(f"  {label:<34s} {log[label]:8.2f} s", flush=True)
    return value


# ---- networkx, each in a forked process with a time cap ------------------------------------------

_NX_GRAPH: Any = None


def _nx_job(name: str, queue: Any) -> None:
    import networkx as nx

    g = _NX_GRAPH
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    if name == "transitivity":
        value = nx.transitivity(g)
    elif name == "algebraic_connectivity":
        value = nx.algebraic_connectivity(g, weight="weight", method="tracemin_pcg")
    elif name == "average_clustering (1,000 nodes sampled)":
        nodes = rng.choice(g.number_of_nodes(), size=1000, replace=False).tolist()
        value = float(np.mean(list(nx.clustering(g, nodes).values())))
    elif name == "shortest paths (20 BFS sources)":
        nodes = rng.choice(g.number_of_nodes(), size=20, replace=False).tolist()
        value = sum(sum(nx.single_source_shortest_path_length(g, u).values()) for u in nodes)
    else:  # pragma: no cover
        raise ValueError(name)
    queue.put((time.perf_counter() - start, float(value)))


def networkx_times(ng: NeuralGraph, cap: float) -> dict[str, Any]:
    import networkx as nx

    global _NX_GRAPH
    out: dict[str, Any] = {}
    start = time.perf_counter()
    g = nx.Graph()
    g.add_nodes_from(range(ng.num_nodes))
    g.add_weighted_edges_from(
        zip(ng.src.tolist(), ng.dst.tolist(), np.abs(ng.weight).tolist(), strict=True)
    )
    out["build nx.Graph"] = round(time.perf_counter() - start, 2)
    print(f"  {'build nx.Graph':<42s} {out['build nx.Graph']:8.2f} s", flush=True)
    _NX_GRAPH = g
    ctx = mp.get_context("fork")
    for name in (
        "average_clustering (1,000 nodes sampled)",
        "shortest paths (20 BFS sources)",
        "transitivity",
        "algebraic_connectivity",
    ):
        queue = ctx.Queue()
        proc = ctx.Process(target=_nx_job, args=(name, queue))
        proc.start()
        proc.join(cap)
        if proc.is_alive():
            proc.terminate()
            proc.join()
            out[name] = f"> {cap:.0f} (stopped)"
        else:
            secs, value = queue.get()
            out[name] = round(secs, 2)
            out[f"{name} value"] = value
        print(f"  {name:<42s} {out[name]!s:>8s} s", flush=True)
    _NX_GRAPH = None
    return out


# ---- dense path ---------------------------------------------------------------------------------


def dense_times(sizes: list[int]) -> dict[str, Any]:
    import scipy.linalg as sla

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for n in sizes:
        a = rng.standard_normal((n, n))
        lap = a @ a.T  # any dense symmetric matrix costs the same
        start = time.perf_counter()
        sla.eigh(lap)
        secs = time.perf_counter() - start
        out[n] = round(secs, 2)
        print(f"  eigh n = {n:<6d} {8 * n * n / 2**30:7.3f} GiB   {secs:7.2f} s", flush=True)
        del a, lap
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=100_000)
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--nx-cap", type=float, default=45.0, help="seconds per networkx measure")
    p.add_argument("--dense-sizes", default="1000,2000,3000")
    p.add_argument("--skip-networkx", action="store_true")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    print(f"machine: {info}")
    log: dict[str, Any] = {}
    print(f"building a random DAG: {args.nodes} nodes, {args.edges} edges")
    ng = timed("build graph (not counted)", lambda: random_dag(args.nodes, args.edges), log)
    rss_before = peak_rss_gib()
    start = time.perf_counter()
    s = timed("summary", lambda: summary(ng), log)
    sig = timed("heat_signature (3 times, 1,000 sources)", lambda: heat_signature(ng, TIMES), log)
    alpha, err = timed(
        "scree (3 times, K = 10%)",
        lambda: scree(ng, TIMES, FRACTION, return_error=True),
        log,
    )
    total = time.perf_counter() - start
    log["total"] = round(total, 2)
    log["peak_rss_gib"] = round(peak_rss_gib(), 3)
    log["peak_rss_gib_before_analysis"] = round(rss_before, 3)
    print(f"  {'total':<34s} {total:8.2f} s   (target <= 60 s)")
    print(f"  peak RSS {log['peak_rss_gib']:.2f} GiB (target <= 4 GiB)")
    print(f"summary: {s}")
    print(f"heat conserved: {np.round(sig.sum(axis=0), 6).tolist()} (1000 expected)")
    print(f"scree alpha: {np.round(alpha, 4).tolist()} +- {np.round(err, 4).tolist()}")
    print("summary, measure by measure (each on a fresh copy of the graph; not in the total):")
    parts: dict[str, Any] = {}
    timed("algebraic_connectivity", lambda: algebraic_connectivity(ng), parts)
    timed("clustering (triangles)", lambda: clustering(ng), parts)
    timed("average_shortest_path_length (256)", lambda: average_shortest_path_length(ng), parts)
    log["summary_parts"] = parts
    result: dict[str, Any] = {
        "machine": info,
        "graph": {"nodes": args.nodes, "edges": args.edges},
        "ours": log,
        "summary": s,
        "scree": {"times": TIMES.tolist(), "alpha": alpha.tolist(), "error": err.tolist()},
    }
    if not args.skip_networkx:
        print(f"networkx on the same graph (undirected view; each capped at {args.nx_cap:.0f} s):")
        result["networkx"] = networkx_times(ng, args.nx_cap)
    print("dense path: eigh of an n x n symmetric matrix")
    result["dense_eigh_seconds"] = dense_times([int(x) for x in args.dense_sizes.split(",")])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
