"""Analysis at scale, side by side with networkx, igraph and networkit (issue 12, section 3).

On one random DAG wiring (default 100,000 nodes, 1,000,000 edges: distinct pairs u < v drawn
uniformly, N(0, 1) weights, the first 1,000 nodes are the inputs) this times, in one process,

* each measure of ``summary``: algebraic connectivity, degree Gini, clustering (transitivity),
  average clustering, average shortest path length from 256 sampled sources;
* ``heat_signature`` at t = 0.1, 1, 10 from the 1,000 input nodes;
* ``scree`` at the same times, K = 10% of the nontrivial eigenvalues;

for ``wiring.analysis`` and for each library that has the same measure (the same definition: the
values are checked to agree and the check is printed). Repetitions alternate between the
libraries; the table shows the fastest of ``--repeats`` runs (a library's run over 5 s is not
repeated). networkx is slow at this size:
each of its measures runs in a forked process capped at ``--nx-cap`` seconds (a capped one is
shown as "> cap"), and its shortest paths are timed on the first 16 of the 256 sources and
scaled by 16 (said so in the output). Graph objects are built once per library before the timing
(their build time is shown on its own line): for wiring.analysis, ``as_graph`` and the undirected
views; each timed run starts from them with no other cached result.

Then ``--total`` (the default) times ``summary`` + the 3 heat signatures + the 3 scree values on
one fresh graph object, in a forked process whose peak resident memory is reported (the graph
included). Targets: every measure at least as fast as the fastest library; the 1,000,000-node /
10,000,000-edge total within 120 s and 8 GiB on 2 cores::

    python benchmarks/analysis_scale.py --threads 1
    python benchmarks/analysis_scale.py --threads 2
    python benchmarks/analysis_scale.py --nodes 1000000 --edges 10000000 --threads 2 --total-only

igraph and networkit are benchmark-only extras (``pip install -e '.[bench]'``); a missing one is
skipped with a line saying so. Results land in docs/benchmarks.md ("Analysis at scale").
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=100_000)
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP and networkit threads")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measure and library")
    p.add_argument(
        "--libraries",
        default="networkx,igraph,networkit",
        help="comma-separated libraries to compare with, or 'none'",
    )
    p.add_argument("--nx-cap", type=float, default=60.0, help="seconds per networkx measure")
    p.add_argument("--no-total", action="store_true", help="skip the timed total and peak RSS")
    p.add_argument(
        "--total-only",
        action="store_true",
        help="only the timed total (no measure-by-measure table)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("nodes", "edges", "threads", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, found {getattr(args, name)}")
    if args.edges > args.nodes * (args.nodes - 1) // 2:
        p.error(f"--edges: at most n(n-1)/2 = {args.nodes * (args.nodes - 1) // 2} edges fit")
    return args


ARGS = _parse(sys.argv[1:] if __name__ == "__main__" else [])
# Threads must be fixed before numpy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from wiring.analysis import (  # noqa: E402
    algebraic_connectivity,
    average_clustering,
    clustering,
    degree_gini,
    heat_signature,
    scree,
    summary,
)
from wiring.analysis import structure as _structure  # noqa: E402
from wiring.analysis._graphs import GraphData, as_graph  # noqa: E402
from wiring.graph import NeuralGraph  # noqa: E402

TIMES = np.array([0.1, 1.0, 10.0])
FRACTION = 0.1
PATH_SOURCES = 256
NX_PATH_SOURCES = 16
SLOW = 5.0  # seconds: a library's run slower than this is not repeated
#: besides networkx, runs that may take minutes: once, in a forked process capped at --nx-cap
CAPPED = {("networkit", "algebraic_connectivity")}
EXTRA = "pip install -e '.[bench]'"


def random_dag(num_nodes: int, num_edges: int, seed: int = 0) -> NeuralGraph:
    """Random DAG: ``num_edges`` distinct pairs u < v drawn uniformly, N(0, 1) weights."""
    rng = np.random.default_rng(seed)
    keys = np.zeros(0, dtype=np.int64)
    while keys.size < num_edges:
        k = int((num_edges - keys.size) * 1.05) + 1000
        u = rng.integers(0, num_nodes, size=k)
        v = rng.integers(0, num_nodes, size=k)
        keep = u != v
        lo, hi = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
        keys = np.unique(np.concatenate([keys, lo * num_nodes + hi]))
    keys = rng.permutation(keys)[:num_edges]
    src, dst = np.divmod(keys, num_nodes)
    return NeuralGraph(
        src,
        dst,
        rng.standard_normal(num_edges),
        num_nodes=num_nodes,
        inputs=np.arange(min(1000, num_nodes)),
    )


def peak_rss_gib(who: int = resource.RUSAGE_SELF) -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(who).ru_maxrss * scale / 2**30


def machine() -> dict[str, Any]:
    commit = "unknown"
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": ARGS.threads,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": importlib.import_module("scipy").__version__,
        "commit": commit,
    }


# ---- the libraries --------------------------------------------------------------------------------


def load_libraries(names: list[str]) -> dict[str, Any]:
    """The compared libraries that import; a missing one is a skip line naming the extra."""
    modules = {"networkx": "networkx", "igraph": "igraph", "networkit": "networkit"}
    found: dict[str, Any] = {}
    for name in names:
        if name not in modules:
            raise SystemExit(
                f"--libraries: expected networkx, igraph, networkit or none, found {name}"
            )
        try:
            found[name] = importlib.import_module(modules[name])
        except ImportError:
            extra = "" if name == "networkx" else f"; install the benchmark extras: {EXTRA}"
            print(f"{name}: not installed, skipped{extra}")
    if "networkit" in found:
        found["networkit"].setNumberOfThreads(ARGS.threads)
        found["networkit"].engineering.setLogLevel("ERROR")
    return found


_UNWEIGHTED: dict[int, Any] = {}  # networkit: the unweighted copy of a graph, for hop counts


def build(lib: str, mod: Any, ng: NeuralGraph) -> Any:
    """The library's undirected graph with weights |w| (the view every measure here uses)."""
    src, dst, w = ng.src[ng.real], ng.dst[ng.real], np.abs(ng.weight[ng.real])
    if lib == "wiring.analysis":
        g = as_graph(ng)
        g.sym(True), g.sym(False)  # the undirected views, shared by all measures
        return g
    if lib == "networkx":
        g = mod.Graph()
        g.add_nodes_from(range(ng.num_nodes))
        g.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), w.tolist(), strict=True))
        return g
    if lib == "igraph":
        g = mod.Graph(n=ng.num_nodes, edges=np.column_stack([src, dst]), directed=False)
        g.es["weight"] = w
        return g
    g = mod.Graph(ng.num_nodes, weighted=True, directed=False)
    g.addEdges((w, (src, dst)))
    _UNWEIGHTED[id(g)] = mod.graphtools.toUnweighted(g)
    return g


def fresh(g: GraphData) -> GraphData:
    """A new graph object with only the undirected views: no measure's work is cached."""
    out = GraphData(g.adjacency, inputs=g.inputs, blocks=g.blocks, graph=g.graph)
    for key in ("sym-True", "sym-False"):
        out._cache[key] = g._cache[key]
    return out


def gini(degrees: np.ndarray) -> float:
    """The Gini coefficient of degrees, the formula of ``degree_gini`` (for the libraries)."""
    x = np.sort(np.asarray(degrees, dtype=np.float64))
    n = x.size
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


def laplacian_heat(lap: Any, a: np.ndarray) -> np.ndarray:
    """exp(-tL) a at the benchmark times with scipy's expm_multiply (the libraries' route)."""
    lap = sp.csr_array(lap, dtype=np.float64)
    return np.stack([spla.expm_multiply(-t * lap, a) for t in TIMES], axis=1)


def path_sums(g: GraphData, sources: np.ndarray) -> tuple[float, int]:
    return _structure._bfs_batch(
        _structure._simple_undirected(g), _structure._simple_undirected(g), sources
    )


def measures(ng: NeuralGraph, sources: np.ndarray) -> dict[str, dict[str, Callable[[Any], Any]]]:
    """For each measure, the call of each library that has it (graph object -> value)."""
    a = np.zeros(ng.num_nodes)
    a[ng.inputs] = 1.0
    nx_sources = sources[:NX_PATH_SOURCES].tolist()

    def nx_paths(g: Any) -> float:
        import networkx as nx

        total = sum(sum(nx.single_source_shortest_path_length(g, u).values()) for u in nx_sources)
        pairs = sum(len(nx.node_connected_component(g, u)) - 1 for u in nx_sources)
        return total / pairs

    def ig_paths(g: Any) -> float:
        total, pairs = 0.0, 0
        for i in range(0, sources.size, 16):
            d = np.asarray(g.distances(source=sources[i : i + 16].tolist()), dtype=np.float64)
            ok = np.isfinite(d) & (d > 0)
            total += float(d[ok].sum())
            pairs += int(ok.sum())
        return total / pairs

    def nk_paths(g: Any) -> float:
        import networkit as nk

        # hop counts: on the unweighted copy (built once, outside the timing)
        spsp = nk.distance.SPSP(_UNWEIGHTED[id(g)], sources.tolist())
        spsp.run()
        d = np.asarray(spsp.getDistances(), dtype=np.float64)
        ok = (d > 0) & (d < 1e300)
        return float(d[ok].sum() / ok.sum())

    def nk_local(g: Any) -> float:
        import networkit as nk

        lcc = nk.centrality.LocalClusteringCoefficient(g, turbo=True)
        lcc.run()
        return float(np.mean(lcc.scores()))

    def nk_laplacian(g: Any) -> np.ndarray:
        import networkit as nk

        return laplacian_heat(nk.algebraic.laplacianMatrix(g), a)

    def ig_laplacian(g: Any) -> np.ndarray:
        w = sp.csr_array(g.get_adjacency_sparse(attribute="weight"), dtype=np.float64)
        return laplacian_heat(sp.diags_array(np.asarray(w.sum(axis=1)).ravel()) - w, a)

    def nx_laplacian(g: Any) -> np.ndarray:
        import networkx as nx

        return laplacian_heat(nx.laplacian_matrix(g, nodelist=range(ng.num_nodes)), a)

    def ours_paths(g: GraphData) -> float:
        total, pairs = path_sums(g, sources)
        return total / pairs

    return {
        "algebraic_connectivity": {
            "wiring.analysis": lambda g: algebraic_connectivity(g),
            "networkx": lambda g: __import__("networkx").algebraic_connectivity(
                g, weight="weight", method="tracemin_pcg", tol=1e-10
            ),
            # networkit's route: scipy's eigsh on its Laplacian, the two smallest eigenvalues
            "networkit": lambda g: sorted(
                __import__("networkit").algebraic.laplacianEigenvectors(g, cutoff=1, reverse=True)[
                    0
                ]
            )[1],
        },
        "degree_gini": {
            "wiring.analysis": lambda g: degree_gini(g),
            "networkx": lambda g: gini([d for _, d in g.degree()]),
            "igraph": lambda g: gini(g.degree()),
            "networkit": lambda g: gini(
                __import__("networkit").centrality.DegreeCentrality(g).run().scores()
            ),
        },
        "clustering": {
            "wiring.analysis": lambda g: clustering(g),
            "networkx": lambda g: __import__("networkx").transitivity(g),
            "igraph": lambda g: g.transitivity_undirected(),
            "networkit": lambda g: __import__(
                "networkit"
            ).globals.ClusteringCoefficient.exactGlobal(g),
        },
        "average_clustering": {
            "wiring.analysis": lambda g: average_clustering(g),
            "networkx": lambda g: __import__("networkx").average_clustering(g),
            "igraph": lambda g: g.transitivity_avglocal_undirected(mode="zero"),
            "networkit": nk_local,
        },
        f"average_shortest_path_length ({PATH_SOURCES} sources)": {
            "wiring.analysis": ours_paths,
            "networkx": nx_paths,
            "igraph": ig_paths,
            "networkit": nk_paths,
        },
        "heat_signature (3 times)": {
            "wiring.analysis": lambda g: heat_signature(g, TIMES),
            "networkx": nx_laplacian,
            "igraph": ig_laplacian,
            "networkit": nk_laplacian,
        },
        "scree (3 times, K = 10%)": {
            "wiring.analysis": lambda g: scree(g, TIMES, FRACTION),
        },
    }


def agree(ours: Any, theirs: Any, measure: str, nx_partial: bool) -> str:
    if nx_partial:  # networkx ran on the first 16 sources only: compare on those
        return "same sources subset"
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = max(float(np.abs(a).max()), 1e-300)
    err = float(np.abs(a - b).max()) / scale
    tol = 1e-6 if measure.startswith(("algebraic", "heat")) else 1e-9
    return f"{'agrees' if err <= tol else 'DIFFERS'} (rel. diff {err:.1e})"


_NX_JOB: tuple[Callable[[Any], Any], Any] | None = None


def _nx_child(queue: Any) -> None:
    fn, g = _NX_JOB  # type: ignore[misc]
    start = time.perf_counter()
    value = fn(g)
    queue.put((time.perf_counter() - start, value))


def run_capped(fn: Callable[[Any], Any], g: Any, cap: float) -> tuple[float | None, Any]:
    """Run ``fn(g)`` in a forked process; (seconds, value), or (None, None) past ``cap``."""
    global _NX_JOB
    _NX_JOB = (fn, g)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_nx_child, args=(queue,))
    proc.start()
    proc.join(cap)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None, None
    return queue.get()


def compare(ng: NeuralGraph, libs: dict[str, Any]) -> dict[str, Any]:
    names = ["wiring.analysis", *libs]
    graphs: dict[str, Any] = {}
    print("\ngraph objects (built once, not in the timings below):")
    for name in names:
        start = time.perf_counter()
        graphs[name] = build(name, libs.get(name), ng)
        print(f"  {name:<16s} {time.perf_counter() - start:8.2f} s")
    sources = _structure._path_sources(graphs["wiring.analysis"], PATH_SOURCES, 0)
    table: dict[str, Any] = {}
    print(f"\nfastest of {ARGS.repeats} alternating runs, {ARGS.threads} thread(s); seconds")
    header = f"  {'measure':<44s}" + "".join(f"{n:>17s}" for n in names)
    print(header)
    for measure, calls in measures(ng, sources).items():
        best: dict[str, float | None] = {n: None for n in names}
        values: dict[str, Any] = {}
        for rep in range(ARGS.repeats):
            order = names if rep % 2 == 0 else names[::-1]
            for name in order:
                if name not in calls:
                    continue
                if rep > 0 and name != "wiring.analysis" and (best[name] or 0.0) > SLOW:
                    continue  # a slow run is not repeated (its minimum would change little)
                if name == "networkx" or (name, measure) in CAPPED:
                    if rep > 0:
                        continue  # slow: once
                    secs, value = run_capped(calls[name], graphs[name], ARGS.nx_cap)
                    if secs is not None and measure.startswith("average_shortest"):
                        secs *= PATH_SOURCES / NX_PATH_SOURCES
                else:
                    g = fresh(graphs[name]) if name == "wiring.analysis" else graphs[name]
                    start = time.perf_counter()
                    value = calls[name](g)
                    secs = time.perf_counter() - start
                if secs is not None:
                    best[name] = secs if best[name] is None else min(best[name], secs)
                    values[name] = value
                else:
                    best[name] = float("inf")
        cells = []
        for name in names:
            if name not in calls:
                cells.append(f"{'n/a':>17s}")
            elif best[name] == float("inf"):
                cells.append(f"{'> ' + format(ARGS.nx_cap, '.0f'):>17s}")
            else:
                star = "*" if name == "networkx" and measure.startswith("average_shortest") else ""
                cells.append(f"{format(best[name], '.3f') + star:>17s}")
        print(f"  {measure:<44s}" + "".join(cells), flush=True)
        ours = values["wiring.analysis"]
        checks = {}
        for name in names[1:]:
            if name in values:
                partial = name == "networkx" and measure.startswith("average_shortest")
                if partial:
                    total, pairs = path_sums(fresh(graphs["wiring.analysis"]), sources[:16])
                    err = abs(total / pairs - values[name]) / (total / pairs)
                    checks[name] = f"{'agrees' if err <= 1e-9 else 'DIFFERS'} on the 16 sources"
                else:
                    checks[name] = agree(ours, values[name], measure, False)
        if checks:
            print("      values: " + "; ".join(f"{k} {v}" for k, v in checks.items()))
        others = [best[n] for n in names[1:] if best.get(n) not in (None, float("inf"))]
        if others:
            ratio = min(others) / best["wiring.analysis"]
            print(f"      fastest other / ours = {ratio:.1f}x")
        table[measure] = {"seconds": best, "values": checks}
    if "networkx" in libs:
        print(
            f"  * networkx shortest paths: the first {NX_PATH_SOURCES} sources, time scaled by "
            f"{PATH_SOURCES // NX_PATH_SOURCES}; networkx measures (and networkit's λ₂) run once, "
            f"capped at {ARGS.nx_cap:.0f} s"
        )
    print(
        "  scree: no library has it (it needs the Laplacian spectrum; a dense eigvalsh at "
        f"n = {ng.num_nodes} needs {8 * ng.num_nodes**2 / 2**30:.3g} GiB)"
    )
    return table


def _total_child(ng: NeuralGraph, queue: Any) -> None:
    log: dict[str, float] = {}
    start = time.perf_counter()
    cpu_start = time.process_time()  # CPU seconds of all threads: what a quiet machine would need
    g = as_graph(ng)
    # scree first, as analyze() does: the summary's λ₂ then reuses its eigensolve
    for label, fn in (
        ("scree (3 times, K = 10%)", lambda: scree(g, TIMES, FRACTION, return_error=True)),
        ("heat_signature (3 times)", lambda: heat_signature(g, TIMES)),
        ("summary", lambda: summary(g)),
    ):
        t, c = time.perf_counter(), time.process_time()
        value = fn()
        log[label] = time.perf_counter() - t
        log[f"{label} cpu"] = time.process_time() - c
        print(
            f"  ... {label}: {log[label]:.2f} s wall, {log[f'{label} cpu']:.2f} s CPU, "
            f"peak RSS so far {peak_rss_gib():.2f} GiB",
            flush=True,
        )
        if label == "summary":
            log["values"] = value  # type: ignore[assignment]
        elif label.startswith("scree"):
            log["scree"] = np.round(value[0], 4).tolist()  # type: ignore[assignment]
            log["scree_error"] = np.round(value[1], 4).tolist()  # type: ignore[assignment]
    log["total"] = time.perf_counter() - start
    log["total cpu"] = time.process_time() - cpu_start
    log["peak_rss_gib"] = peak_rss_gib()
    queue.put(log)


def total(ng: NeuralGraph) -> dict[str, Any]:
    """summary + 3 heat signatures + 3 scree values on one fresh graph, in a forked process."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_total_child, args=(ng, queue))
    proc.start()
    log = queue.get()
    proc.join()
    print(f"\none analysis (fresh graph object, {ARGS.threads} thread(s)):")
    print(f"  {'':<28s} {'wall':>8s}   {'CPU':>8s}")
    for key in ("scree (3 times, K = 10%)", "heat_signature (3 times)", "summary", "total"):
        print(f"  {key:<28s} {log[key]:8.2f} s {log[key + ' cpu']:8.2f} s")
    print(f"  peak RSS of that process (graph included): {log['peak_rss_gib']:.2f} GiB")
    print(f"  summary: {log['values']}")
    print(f"  scree alpha: {log['scree']} +- {log['scree_error']}")
    return log


def main() -> int:
    info = machine()
    print(f"machine: {info}")
    libs = load_libraries([] if ARGS.libraries == "none" else ARGS.libraries.split(","))
    start = time.perf_counter()
    ng = random_dag(ARGS.nodes, ARGS.edges, ARGS.seed)
    print(
        f"graph: random DAG, {ng.num_nodes} nodes, {ng.num_edges} edges "
        f"(built in {time.perf_counter() - start:.1f} s, not counted)"
    )
    if not ARGS.total_only:
        compare(ng, libs)
    if not ARGS.no_total:
        total(ng)
    print(f"load average at the end: {[round(x, 2) for x in os.getloadavg()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
