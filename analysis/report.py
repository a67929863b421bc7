"""Reports: ``analyze(target)`` writes figures, ``metrics.json`` and a self-contained HTML page.

``wiring analyze TARGET [--reference REF] [--out DIR]`` calls :func:`analyze`. ``TARGET`` is a graph
file (``.npz`` written by ``NeuralGraph.save``) or a training run directory holding ``graph.npz``
and ``metrics.jsonl``. matplotlib (Agg backend) is imported only here, inside the functions.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wiring._io import atomic_write_bytes, atomic_write_text

from ._graphs import GraphData, GraphLike, as_graph
from .spectral import heat_signature, saturation_time, scree, signature_distance
from .structure import graph_info, summary

__all__ = ["analyze", "plot_adjacency", "plot_degrees", "plot_heat", "plot_scree", "plot_training"]

#: scree fractions drawn in the report (share of the n - 1 nontrivial eigenvalues)
SCREE_FRACTIONS = (0.01, 0.05, 0.1, 0.25)
#: the fraction whose saturation time is reported
SATURATION_FRACTION = 0.1
#: measures plotted over training, in this order
TRAINING_MEASURES = (
    "algebraic_connectivity",
    "degree_gini",
    "clustering",
    "average_clustering",
    "average_shortest_path_length",
)
_ADJ_MAX_PIXELS = 800  # the adjacency image is binned to at most this many pixels a side


# ---- files --------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    """Numbers and arrays as plain JSON values; inf/NaN (not valid JSON) become ``None``."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _load_graph(path: Path, name: str) -> Any:
    from wiring.graph import NeuralGraph

    if not path.exists():
        raise FileNotFoundError(f"{name}: no such file or directory: {path}")
    if path.is_dir():
        path = path / "graph.npz"
        if not path.is_file():
            raise FileNotFoundError(
                f"{name}: expected a run directory holding graph.npz, found none"
            )
    elif path.suffix != ".npz":
        raise ValueError(f"{name}: expected a graph .npz file or a run directory, found {path}")
    return NeuralGraph.load(path)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of ``metrics.jsonl`` that carry graph measures (``"graph"`` key)."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"target: {path} line {lineno} is not valid JSON: {exc}") from None
            if isinstance(row, dict) and isinstance(row.get("graph"), dict):
                rows.append(row)
    return rows


# ---- figures --------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _block_order(g: GraphData) -> tuple[np.ndarray, np.ndarray]:
    """Node permutation sorting nodes by block (stable) and the block boundaries in that order."""
    n = g.num_nodes
    if g.blocks is None:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    order = np.argsort(g.blocks, kind="stable")
    b = g.blocks[order]
    return order, np.flatnonzero(b[1:] != b[:-1]) + 1


def _binary_image(g: GraphData, size: int) -> np.ndarray:
    """Share of node pairs (u, v) of each pixel that hold a real edge u -> v, block-ordered.

    Shape (size, size), values in [0, 1]: 1 where a pixel covers one pair that is an edge (no
    binning), the density of edges in its cell when the graph has more nodes than pixels.
    """
    n = g.num_nodes
    order, _ = _block_order(g)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    a = g.adjacency.tocoo()
    edges = np.zeros((size, size))
    np.add.at(edges, ((pos[a.row] * size) // n, (pos[a.col] * size) // n), 1.0)
    per_bin = np.bincount((np.arange(n) * size) // n, minlength=size).astype(np.float64)
    return edges / np.outer(per_bin, per_bin)


def plot_adjacency(
    graph: GraphLike,
    reference: GraphLike | None = None,
    *,
    titles: tuple[str, str] = ("target", "reference"),
) -> bytes:
    """Binary adjacency (real edge u -> v or not), nodes ordered by block, as PNG bytes.

    With ``reference``, the two graphs side by side on the same colour scale (as N2NSkip fig. 3).
    Rows are sources ``u``, columns targets ``v``; grey lines are block boundaries. A graph with
    more than 800 nodes is binned: each pixel shows the share of its node pairs that are edges.
    """
    plt = _pyplot()
    graphs = [as_graph(graph)]
    if reference is not None:
        graphs.append(as_graph(reference, "reference"))
    size = min(_ADJ_MAX_PIXELS, max(x.num_nodes for x in graphs))
    images = [_binary_image(x, min(size, x.num_nodes)) for x in graphs]
    binned = any(x.num_nodes > im.shape[0] for x, im in zip(graphs, images, strict=True))
    vmax = max(float(im.max()) for im in images) if binned else 1.0
    vmax = vmax if vmax > 0 else 1.0
    fig, axes = plt.subplots(1, len(graphs), figsize=(5.6 * len(graphs), 5.2), squeeze=False)
    im_artist = None
    for ax, x, img, title in zip(axes[0], graphs, images, titles, strict=False):
        n = x.num_nodes
        im_artist = ax.imshow(
            img,
            cmap="Greys",
            vmin=0.0,
            vmax=vmax,
            interpolation="nearest",
            extent=(0, n, n, 0),
        )
        for bnd in _block_order(x)[1]:
            ax.axhline(bnd, color="C0", lw=0.4, alpha=0.6)
            ax.axvline(bnd, color="C0", lw=0.4, alpha=0.6)
        ax.set_xlabel("target node v (ordered by block)")
        ax.set_ylabel("source node u (ordered by block)")
        note = f", binned to {img.shape[0]} px" if n > img.shape[0] else ""
        ax.set_title(f"{title}: {n} nodes, {x.adjacency.nnz} edges{note}", fontsize=10)
    label = "share of node pairs that are edges" if binned else "edge (1) or not (0)"
    fig.colorbar(im_artist, ax=list(axes[0]), label=label, shrink=0.8)
    fig.suptitle("binary adjacency A[u, v] != 0, same scale")
    return _png(fig)


def plot_degrees(graph: GraphLike, reference: GraphLike | None = None) -> bytes:
    """Histogram of node degrees (in + out over real edges), against the reference, as PNG bytes."""
    plt = _pyplot()
    g = as_graph(graph)
    series = [("target", g.degrees())]
    if reference is not None:
        series.append(("reference", as_graph(reference, "reference").degrees()))
    top = max(float(d.max()) for _, d in series)
    bins = np.arange(0, top + 2) - 0.5 if top <= 60 else np.linspace(0, top + 1, 61)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for (label, d), color in zip(series, ("C0", "C1"), strict=False):
        ax.hist(
            d,
            bins=bins,
            histtype="step",
            lw=1.6,
            color=color,
            label=f"{label} (mean {d.mean():.1f})",
        )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel("degree (in + out, real edges)")
    ax.set_ylabel("number of nodes")
    ax.set_title("degree distribution")
    ax.legend()
    return _png(fig)


def plot_heat(
    times: np.ndarray,
    sig: np.ndarray,
    ref_sig: np.ndarray | None,
    distance: tuple[np.ndarray, np.ndarray] | None,
    order: np.ndarray,
    bounds: np.ndarray,
    ref_order: np.ndarray | None = None,
) -> bytes:
    """Heat signature per node at a few times, target against reference, and F(t), as PNG bytes.

    ``sig`` and ``ref_sig`` have shape (n, T) and (n_ref, T); ``order``/``ref_order`` sort each
    graph's nodes by block. Graphs with different node counts are drawn over the node position
    ``i / n`` so that both span the same axis.
    """
    plt = _pyplot()
    panels = len(times) + (1 if distance is not None else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), squeeze=False)
    n = sig.shape[0]
    same = ref_sig is None or ref_sig.shape[0] == n
    x = np.arange(n) if same else (np.arange(n) + 0.5) / n
    if ref_sig is not None:
        m = ref_sig.shape[0]
        x_ref = np.arange(m) if same else (np.arange(m) + 0.5) / m
        r_order = order if ref_order is None else ref_order
    for i, t in enumerate(times):
        ax = axes[0, i]
        if ref_sig is not None:
            ax.plot(x_ref, ref_sig[r_order, i], color="C1", lw=0.9, label="reference")
        ax.plot(x, sig[order, i], color="C0", lw=0.9, alpha=0.85, label="target")
        for b in bounds:
            ax.axvline(b if same else b / n, color="0.8", lw=0.5)
        ax.set_title(f"S(t) at t = {t:.3g}")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("node (ordered by block)" if same else "node position i / n (by block)")
        if i == 0:
            ax.set_ylabel("heat")
            ax.legend(loc="upper right")
    if distance is not None:
        ax = axes[0, -1]
        grid, f = distance
        ax.plot(grid, f, color="C2", marker="o", ms=3)
        ax.set_xscale("log")
        ax.set_xlabel("t")
        ax.set_ylabel("F = ||S_ref(t) - S(t)||_2")
        ax.set_title("signature distance (N2NSkip eq. 6)")
    fig.suptitle("heat diffusion signature S(t) = exp(-tL) a, heat put on the source nodes")
    fig.tight_layout()
    return _png(fig)


def plot_scree(
    times: np.ndarray,
    fractions: Sequence[float],
    alpha: np.ndarray,
    ref_alpha: np.ndarray | None,
) -> bytes:
    """α(K, t) against t for several K: target solid, reference dashed, as PNG bytes."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    for i, fr in enumerate(fractions):
        color = f"C{i}"
        ax.plot(times, alpha[i], color=color, lw=1.8, label=f"K = {fr:.0%} (target)")
        if ref_alpha is not None:
            ax.plot(
                times, ref_alpha[i], color=color, lw=1.4, ls="--", label=f"K = {fr:.0%} (reference)"
            )
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("diffusion time t")
    ax.set_ylabel("α(K, t)")
    ax.set_title("scree: share of the heat trace in the K smallest eigenvalues")
    ax.legend(fontsize=8, ncol=2 if ref_alpha is not None else 1)
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_training(
    rows: Sequence[dict[str, Any]], reference_rows: Sequence[dict[str, Any]] | None = None
) -> bytes:
    """Each graph measure against the epoch from ``metrics.jsonl`` rows (and the reference's)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(TRAINING_MEASURES), figsize=(3.3 * len(TRAINING_MEASURES), 3.2))
    series = [("target", rows, "C0")]
    if reference_rows:
        series.append(("reference", reference_rows, "C1"))
    for ax, name in zip(axes, TRAINING_MEASURES, strict=True):
        for label, rr, color in series:
            epochs = np.array([r.get("epoch", i) for i, r in enumerate(rr)], dtype=np.float64)
            vals = np.array([r["graph"].get(name, np.nan) for r in rr], dtype=np.float64)
            ax.plot(epochs, vals, marker="o", ms=3, color=color, label=label)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if len(series) > 1:
        axes[0].legend(fontsize=8)
    fig.suptitle("graph measures over training")
    fig.tight_layout()
    return _png(fig)


# ---- the report -----------------------------------------------------------------------------------


def _default_sources(g: GraphData) -> tuple[np.ndarray, str]:
    if g.inputs is not None and g.inputs.size:
        return g.inputs, f"the {g.inputs.size} input nodes"
    if g.blocks is not None and np.unique(g.blocks).size > 1:
        first = np.flatnonzero(g.blocks == g.blocks.min())
        return first, f"the {first.size} nodes of the first block (the graph has no input nodes)"
    return np.array([0]), "node 0 (the graph has no input nodes)"


def _time_grid(g: GraphData) -> np.ndarray:
    """Diffusion times spanning the graph's time scales: 1/λ_max ... 100/λ₂-ish, log-spaced."""
    w = g.sym(True)
    deg = np.asarray(w.sum(axis=1)).ravel()
    mean_deg = float(deg[deg > 0].mean()) if np.any(deg > 0) else 1.0
    return np.logspace(-2, 3, 26) / mean_deg


def _format(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}"
    if isinstance(v, list):
        shown = ", ".join(str(x) for x in v[:8]) + (", …" if len(v) > 8 else "")
        return html.escape(shown)
    return html.escape(str(v))


def _resolve(
    obj: str | os.PathLike[str] | GraphLike, name: str
) -> tuple[Any, str, Path | None, list[dict[str, Any]]]:
    """A target or reference: the graph, its display name, its default output folder, and the
    ``metrics.jsonl`` rows of a run directory (empty otherwise)."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        graph = _load_graph(path, name)
        rows: list[dict[str, Any]] = []
        if path.is_dir():
            default_out = path / "analysis"
            mpath = path / "metrics.jsonl"
            if mpath.is_file():
                rows = _read_metrics(mpath)
        else:
            default_out = path.with_name(f"{path.stem}-analysis")
        return graph, str(path), default_out, rows
    return obj, type(obj).__name__, None, []


def analyze(
    target: str | os.PathLike[str] | GraphLike,
    *,
    reference: str | os.PathLike[str] | GraphLike | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    r"""Analyse a wiring, or compare it with a reference, and write a report.

    The report (N2NSkip sec. 3.2) holds: the binary adjacency of both graphs side by side (ordered
    by block, same scale; fig. 3); heat signatures :math:`S(t) = e^{-tL} a` of both overlaid
    (eq. 5) and, when both have the same nodes, their distance
    :math:`F(t) = \\lVert S_\text{ref}(t) - S(t) \rVert_2` over t (eq. 6; the table gives F at the
    largest t); scree curves α(K, t) of both overlaid (eq. 7, fig. 4); degree histograms; and one
    table of every measure (:func:`~wiring.analysis.graph_info`, :func:`~wiring.analysis.summary`,
    saturation time) with the columns target | reference.

    Parameters
    ----------
    target : path or graph
        A graph ``.npz`` file (``NeuralGraph.save``), or a training run directory holding
        ``graph.npz`` and, optionally, ``metrics.jsonl`` (its ``"graph"`` entries, written by
        :class:`~wiring.analysis.GraphMetricsCallback`, are plotted over training). Any graph
        object :func:`~wiring.analysis.summary` accepts works too when ``out`` is given.
    reference : path or graph, optional
        The graph to compare with (a file, a run directory or a graph object), e.g. the random
        wiring a learned one is compared with, or N2NSkip's dense reference network. Without it
        the report shows the target's own curves and says so.
    out : path, optional
        Output folder. Default: ``<run_dir>/analysis`` for a run directory, ``<stem>-analysis/``
        beside a ``.npz`` file.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        The output folder, holding ``report.html`` (self-contained: figures embedded as base64
        PNG), ``metrics.json``, ``adjacency.png`` (both graphs side by side), ``degrees.png``,
        ``heat_signature.png``, ``scree.png`` and, for a run directory with recorded measures,
        ``training.png``. Every file is written atomically (``wiring._io``).

    Examples
    --------
    >>> import tempfile, json, pathlib
    >>> from wiring import generators
    >>> ref = generators.complete_dag([4, 8, 4], seed=0)
    >>> g = generators.random_k(ref, 30, seed=1)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = analyze(g, reference=ref, out=d, progress=False)
    ...     m = json.loads((out / "metrics.json").read_text())
    >>> m["graph"]["edges"], m["reference_graph"]["edges"]  # complete DAG: 4·8 + 4·4 + 8·4
    (30, 80)
    """
    graph_obj, target_name, default_out, rows = _resolve(target, "target")
    if out is None and default_out is None:
        raise ValueError("out: expected an output folder when target is a graph object, found None")
    out_dir = Path(out) if out is not None else Path(str(default_out))
    ref_obj, ref_name, ref_rows = None, None, []
    if reference is not None:
        ref_obj, ref_name, _, ref_rows = _resolve(reference, "reference")

    g = as_graph(graph_obj, "target")
    ref = as_graph(ref_obj, "reference") if ref_obj is not None else None
    same_nodes = ref is not None and ref.num_nodes == g.num_nodes
    if same_nodes and (g.nodes is not None or ref.nodes is not None):
        same_nodes = g.node_labels == ref.node_labels

    result: dict[str, Any] = {"target": target_name, "reference": ref_name}
    figures: dict[str, bytes] = {}
    notes: list[str] = []
    if ref is None:
        notes.append("No reference graph was given: the figures show the target's own curves only.")
    elif not same_nodes:
        notes.append(
            f"The reference has {ref.num_nodes} nodes and the target {g.num_nodes} (or other node "
            "labels): the signature distance F needs the same nodes and is left out; each heat "
            "signature starts from its own graph's sources and is drawn over the node position."
        )
    sources, src_text = _default_sources(g)
    ref_sources = sources
    if ref is not None and same_nodes and ref.inputs is not None and ref.inputs.size:
        if g.inputs is None or not np.array_equal(np.sort(ref.inputs), np.sort(sources)):
            notes.append(
                "The reference's input nodes differ from the target's; heat starts on the "
                "target's in both (the same initial heat, as eq. 6 needs)."
            )
    if ref is not None and not same_nodes:
        ref_sources, _ = _default_sources(ref)
    times = _time_grid(ref if ref is not None else g)
    sig_times = times[[4, 10, 16]]
    order, bounds = _block_order(g)

    def do_summary() -> None:
        result["graph"] = graph_info(g)
        result["summary"] = summary(g)
        if ref is not None:
            result["reference_graph"] = graph_info(ref)
            result["reference_summary"] = summary(ref)
        for label, info in (
            ("target", result["graph"]),
            ("reference", result.get("reference_graph")),
        ):
            c = info["components"] if info else 1
            if c > 1:
                notes.append(
                    f"The {label} has {c} connected components (isolated nodes included): its "
                    f"algebraic connectivity is 0 and its scree curves (eq. 7, which leaves out only "
                    f"λ1) level off at min(K, {c - 1}) / {c - 1} instead of 1."
                )

    def do_heat() -> None:
        sig = heat_signature(g, sig_times, sources=sources)
        ref_sig = None
        if ref is not None:
            ref_sig = heat_signature(ref, sig_times, sources=ref_sources)
        dist = None
        heat: dict[str, Any] = {"sources": src_text, "times": sig_times}
        if same_nodes:
            f = signature_distance(ref, g, times, sources=sources)
            dist = (times, f)
            heat["distance_times"] = times
            heat["signature_distance"] = f
        result["heat"] = heat
        ref_order = _block_order(ref)[0] if ref is not None else None
        figures["heat_signature.png"] = plot_heat(
            sig_times, sig, ref_sig, dist, order, bounds, ref_order
        )

    def do_scree() -> None:
        alpha, err = scree(g, times, list(SCREE_FRACTIONS), return_error=True)
        sc: dict[str, Any] = {
            "times": times,
            "fractions": list(SCREE_FRACTIONS),
            "alpha": alpha,
            "alpha_error": err,
            "saturation_fraction": SATURATION_FRACTION,
            "saturation_time": saturation_time(g, SATURATION_FRACTION),
        }
        ref_alpha = None
        if ref is not None:
            ref_alpha, ref_err = scree(ref, times, list(SCREE_FRACTIONS), return_error=True)
            sc["reference_alpha"] = ref_alpha
            sc["reference_alpha_error"] = ref_err
            sc["reference_saturation_time"] = saturation_time(ref, SATURATION_FRACTION)
        result["scree"] = sc
        figures["scree.png"] = plot_scree(times, SCREE_FRACTIONS, alpha, ref_alpha)

    def do_plots() -> None:
        figures["adjacency.png"] = plot_adjacency(g, ref)
        figures["degrees.png"] = plot_degrees(g, ref)
        if rows or ref_rows:
            figures["training.png"] = plot_training(rows, ref_rows)
            for key, rr in (("training", rows), ("reference_training", ref_rows)):
                if rr:
                    result[key] = [
                        {"epoch": r.get("epoch", i), **r["graph"]} for i, r in enumerate(rr)
                    ]

    steps: list[tuple[str, Callable[[], None]]] = [
        ("scree", do_scree),  # first: on large graphs λ₂ in the summary reuses its eigensolve
        ("summary", do_summary),
        ("heat signatures", do_heat),
        ("figures", do_plots),
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="analyze", unit="step")
    for label, fn in steps:
        if bar is not None:
            bar.set_postfix_str(label)
        fn()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    result["notes"] = notes
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in figures.items():
        atomic_write_bytes(out_dir / name, data)
    atomic_write_text(
        out_dir / "metrics.json", json.dumps(_jsonable(result), indent=2, allow_nan=False) + "\n"
    )
    atomic_write_text(out_dir / "report.html", _html(result, figures))
    return out_dir


#: rows of the measures table: (key in graph_info/summary, label)
_TABLE_ROWS = (
    ("nodes", "nodes"),
    ("candidates", "candidate edges"),
    ("edges", "edges (real)"),
    ("effective_edges", "effective edges (on an input → output path)"),
    ("components", "connected components"),
    ("blocks", "blocks"),
    ("block_sizes", "block sizes"),
    ("inputs", "input nodes"),
    ("outputs", "output nodes"),
    ("acyclic", "acyclic"),
    ("longest_path", "longest path (edges)"),
    ("algebraic_connectivity", "algebraic connectivity λ₂"),
    ("degree_gini", "degree Gini"),
    ("clustering", "clustering (transitivity)"),
    ("average_clustering", "average clustering"),
    ("average_shortest_path_length", "average shortest path length"),
    ("average_shortest_path_length_samples", "  (BFS sources used)"),
)


def _html(result: dict[str, Any], figures: dict[str, bytes]) -> str:
    s = {**result["graph"], **result["summary"]}
    rs = result.get("reference_summary")
    if rs is not None:
        rs = {**result["reference_graph"], **rs}
    head = "<tr><th>measure</th><th>target</th>" + ("<th>reference</th>" if rs else "") + "</tr>"
    body = []
    for key, label in _TABLE_ROWS:
        cells = f"<td>{html.escape(label)}</td><td>{_format(s.get(key))}</td>"
        if rs:
            cells += f"<td>{_format(rs.get(key))}</td>"
        body.append(f"<tr>{cells}</tr>")
    sc = result["scree"]
    sat = f"<td>saturation time (K = {sc['saturation_fraction']:.0%}, α ≥ 0.999)</td>"
    sat += f"<td>{_format(sc['saturation_time'])}</td>"
    if rs:
        sat += f"<td>{_format(sc.get('reference_saturation_time'))}</td>"
    body.append(f"<tr>{sat}</tr>")
    heat = result["heat"]
    if "signature_distance" in heat:
        f_last = float(np.asarray(heat["signature_distance"])[-1])
        body.append(
            "<tr><td>signature distance F = ‖S<sub>ref</sub> − S‖ at t = "
            f"{float(heat['distance_times'][-1]):.3g} (eq. 6)</td>"
            f"<td colspan='2'>{f_last:.4g}</td></tr>"
        )
    captions = {
        "adjacency.png": "Binary adjacency ordered by block"
        + (", target and reference side by side on one scale" if rs else "")
        + " (as N2NSkip fig. 3).",
        "degrees.png": "Degree distribution (in + out over real edges).",
        "heat_signature.png": f"Heat signature S(t) = exp(-tL) a with heat on {heat['sources']}"
        + (", target and reference overlaid" if rs else "")
        + (
            ", and F(t) = ||S_ref(t) - S(t)|| (N2NSkip eqs. 5-6)."
            if "signature_distance" in heat
            else " (N2NSkip eq. 5)."
        ),
        "scree.png": "Scree curves α(K, t) (N2NSkip eq. 7, fig. 4)"
        + (": target solid, reference dashed." if rs else "."),
        "training.png": "Graph measures over training (as the adaptive-sparsity paper's fig. 5).",
    }
    figs = []
    ordered = sorted(figures.items(), key=lambda kv: list(captions).index(kv[0]))
    for name, data in ordered:
        b64 = base64.b64encode(data).decode("ascii")
        cap = html.escape(captions.get(name, name))
        figs.append(
            f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>{cap}</figcaption></figure>"
        )
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in result["notes"])
    ref_line = (
        f"<p>Reference: <code>{html.escape(str(result['reference']))}</code></p>"
        if result["reference"]
        else ""
    )
    title = "Wiring comparison" if rs else "Wiring analysis"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}: {html.escape(str(result["target"]))}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ background: #fff6d6; padding: 0.5em; }}
</style></head><body>
<h1>{title}</h1>
<p>Target: <code>{html.escape(str(result["target"]))}</code></p>
{ref_line}
{notes}
<table>{head}{"".join(body)}</table>
<p>Measures as documented in docs/analysis.md: spectra use the undirected view
W = max(|A|, |A<sup>T</sup>|); clustering and path lengths the unweighted undirected view.</p>
{"".join(figs)}
</body></html>
"""
