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
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; reports are meant to be read by others
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
        return np.arange(n), np.zeros(0)
    order = np.argsort(g.blocks, kind="stable")
    b = g.blocks[order]
    return order, np.flatnonzero(b[1:] != b[:-1]) + 1


def plot_adjacency(graph: GraphLike, *, title: str = "adjacency") -> bytes:
    """|A| with nodes ordered by block (rows: source u, columns: target v), as PNG bytes.

    Graphs with more than 800 nodes are binned: each pixel sums |w| over its cell.
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm, Normalize

    g = as_graph(graph)
    n = g.num_nodes
    order, bounds = _block_order(g)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    a = g.adjacency.tocoo()
    r, c, v = pos[a.row], pos[a.col], np.abs(a.data)
    size = min(n, _ADJ_MAX_PIXELS)
    scale = size / n
    img = np.zeros((size, size))
    np.add.at(img, ((r * scale).astype(np.int64), (c * scale).astype(np.int64)), v)
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    masked = np.ma.masked_less_equal(img, 0)
    vmax = float(img.max()) if img.max() > 0 else 1.0
    vmin = max(float(masked.min()) if masked.count() else vmax, vmax * 1e-4)
    norm = LogNorm(vmin=vmin, vmax=vmax) if vmax > 100 * vmin else Normalize(vmin=0, vmax=vmax)
    im = ax.imshow(
        masked,
        cmap="viridis",
        norm=norm,
        interpolation="nearest",
        extent=(0, n, n, 0),
    )
    ax.set_facecolor("white")
    for bnd in bounds:
        ax.axhline(bnd, color="0.6", lw=0.5)
        ax.axvline(bnd, color="0.6", lw=0.5)
    ax.set_xlabel("target node v (ordered by block)")
    ax.set_ylabel("source node u (ordered by block)")
    binned = f"\n{n} nodes binned to {size} x {size} pixels" if size < n else ""
    ax.set_title(f"{title}: |A[u, v]|, {g.adjacency.nnz} edges{binned}", fontsize=11)
    fig.colorbar(im, ax=ax, label="|weight| (sum per pixel)" if binned else "|weight|")
    return _png(fig)


def plot_degrees(graph: GraphLike, reference: GraphLike | None = None) -> bytes:
    """Histogram of node degrees (in + out over real edges), against the reference, as PNG bytes."""
    plt = _pyplot()
    g = as_graph(graph)
    series = [("graph", g.degrees())]
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
) -> bytes:
    """Heat signature per node at a few times (graph against reference) and F(t), as PNG bytes."""
    plt = _pyplot()
    panels = len(times) + (1 if distance is not None else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), squeeze=False)
    x = np.arange(sig.shape[0])
    for i, t in enumerate(times):
        ax = axes[0, i]
        if ref_sig is not None:
            ax.plot(x, ref_sig[order, i], color="C1", lw=0.9, label="reference")
        ax.plot(x, sig[order, i], color="C0", lw=0.9, alpha=0.85, label="graph")
        for b in bounds:
            ax.axvline(b, color="0.8", lw=0.5)
        ax.set_title(f"S(t) at t = {t:.3g}")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("node (ordered by block)")
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
        ax.set_title("signature distance")
    fig.suptitle("heat diffusion signature S(t) = exp(-tL) a, heat put on the source nodes")
    fig.tight_layout()
    return _png(fig)


def plot_scree(
    times: np.ndarray,
    fractions: Sequence[float],
    alpha: np.ndarray,
    ref_alpha: np.ndarray | None,
) -> bytes:
    """α(K, t) against t for several K: graph solid, reference dashed, as PNG bytes."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    for i, fr in enumerate(fractions):
        color = f"C{i}"
        ax.plot(times, alpha[i], color=color, lw=1.8, label=f"K = {fr:.0%} (graph)")
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


def plot_training(rows: Sequence[dict[str, Any]]) -> bytes:
    """Each graph measure against the epoch, from the ``metrics.jsonl`` rows, as PNG bytes."""
    plt = _pyplot()
    epochs = np.array([r.get("epoch", i) for i, r in enumerate(rows)], dtype=np.float64)
    fig, axes = plt.subplots(1, len(TRAINING_MEASURES), figsize=(3.3 * len(TRAINING_MEASURES), 3.2))
    for ax, name in zip(axes, TRAINING_MEASURES, strict=True):
        vals = np.array([r["graph"].get(name, np.nan) for r in rows], dtype=np.float64)
        ax.plot(epochs, vals, marker="o", ms=3, color="C0")
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.suptitle("graph measures over training")
    fig.tight_layout()
    return _png(fig)


# ---- the report -----------------------------------------------------------------------------------


def _default_sources(g: GraphData) -> tuple[np.ndarray, str]:
    if g.inputs is not None and g.inputs.size:
        return g.inputs, f"the {g.inputs.size} input nodes"
    if g.blocks is not None:
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
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}"
    return html.escape(str(v))


def analyze(
    target: str | os.PathLike[str] | GraphLike,
    *,
    reference: str | os.PathLike[str] | GraphLike | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Analyse a wiring and write a report: figures, ``metrics.json`` and ``report.html``.

    Parameters
    ----------
    target : path or graph
        A graph ``.npz`` file (``NeuralGraph.save``), or a training run directory holding
        ``graph.npz`` and ``metrics.jsonl`` (its ``"graph"`` entries, written by
        :class:`~wiring.analysis.GraphMetricsCallback`, are plotted over training). A graph object
        is accepted too when ``out`` is given.
    reference : path or graph, optional
        The graph to compare with (N2NSkip's reference network). Without it, the report shows the
        graph's own curves and says so.
    out : path, optional
        Output folder. Default: ``<run_dir>/analysis`` for a run directory, ``<stem>-analysis/``
        beside a ``.npz`` file.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        The output folder, holding ``report.html`` (self-contained: figures embedded as base64
        PNG), ``metrics.json``, ``adjacency.png``, ``degrees.png``, ``heat_signature.png``,
        ``scree.png`` and, for a run directory with recorded measures, ``training.png``.
    """
    rows: list[dict[str, Any]] = []
    if isinstance(target, (str, os.PathLike)):
        tpath = Path(target)
        graph_obj = _load_graph(tpath, "target")
        if tpath.is_dir():
            default_out = tpath / "analysis"
            mpath = tpath / "metrics.jsonl"
            if mpath.is_file():
                rows = _read_metrics(mpath)
        else:
            default_out = tpath.with_name(f"{tpath.stem}-analysis")
        target_name = str(tpath)
    else:
        graph_obj = target
        default_out = None
        target_name = type(target).__name__
    if out is None and default_out is None:
        raise ValueError("out: expected an output folder when target is a graph object, found None")
    out_dir = Path(out) if out is not None else Path(str(default_out))
    ref_obj = None
    ref_name = None
    if reference is not None:
        if isinstance(reference, (str, os.PathLike)):
            ref_obj = _load_graph(Path(reference), "reference")
            ref_name = str(reference)
        else:
            ref_obj = reference
            ref_name = type(reference).__name__

    g = as_graph(graph_obj, "target")
    ref = as_graph(ref_obj, "reference") if ref_obj is not None else None
    same_nodes = ref is not None and ref.num_nodes == g.num_nodes

    steps: list[tuple[str, Callable[[], None]]] = []
    result: dict[str, Any] = {"target": target_name, "reference": ref_name}
    figures: dict[str, bytes] = {}
    notes: list[str] = []
    if ref is None:
        notes.append("No reference graph was given: the figures show this graph's own curves only.")
    elif not same_nodes:
        notes.append(
            f"The reference has {ref.num_nodes} nodes and the graph {g.num_nodes}: heat signatures "
            "and their distance F need the same nodes and are shown for the graph only."
        )
    sources, src_text = _default_sources(g)
    if ref is not None and same_nodes and ref.inputs is not None and ref.inputs.size:
        if g.inputs is None or not np.array_equal(np.sort(ref.inputs), np.sort(sources)):
            notes.append(
                "The reference's input nodes differ from the graph's; heat starts on the graph's."
            )
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
            ("graph", result["graph"]),
            ("reference", result.get("reference_graph")),
        ):
            c = info["num_components"] if info else 1
            if c > 1:
                notes.append(
                    f"The {label} has {c} connected components (isolated nodes included): its "
                    f"algebraic connectivity is 0 and its scree curves (eq. 7, which leaves out only "
                    f"λ1) level off at min(K, {c - 1}) / {c - 1} instead of 1."
                )

    def do_heat() -> None:
        sig = heat_signature(g, sig_times, sources=sources)
        ref_sig = heat_signature(ref, sig_times, sources=sources) if same_nodes else None
        dist = None
        heat: dict[str, Any] = {"sources": src_text, "times": sig_times}
        if same_nodes:
            f = signature_distance(ref, g, times, sources=sources)
            dist = (times, f)
            heat["distance_times"] = times
            heat["signature_distance"] = f
        result["heat"] = heat
        figures["heat_signature.png"] = plot_heat(sig_times, sig, ref_sig, dist, order, bounds)

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
            ref_alpha = scree(ref, times, list(SCREE_FRACTIONS))
            sc["reference_alpha"] = ref_alpha
            sc["reference_saturation_time"] = saturation_time(ref, SATURATION_FRACTION)
        result["scree"] = sc
        figures["scree.png"] = plot_scree(times, SCREE_FRACTIONS, alpha, ref_alpha)

    def do_plots() -> None:
        figures["adjacency.png"] = plot_adjacency(g, title="graph")
        if ref is not None:
            figures["reference_adjacency.png"] = plot_adjacency(ref, title="reference")
        figures["degrees.png"] = plot_degrees(g, ref)
        if rows:
            figures["training.png"] = plot_training(rows)
            result["training"] = [
                {"epoch": r.get("epoch", i), **r["graph"]} for i, r in enumerate(rows)
            ]

    steps = [
        ("summary", do_summary),
        ("heat signatures", do_heat),
        ("scree", do_scree),
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
    for name, data in figures.items():
        _atomic_write(out_dir / name, data)
    _atomic_write(
        out_dir / "metrics.json",
        json.dumps(_jsonable(result), indent=2, allow_nan=False).encode("utf-8"),
    )
    _atomic_write(out_dir / "report.html", _html(result, figures).encode("utf-8"))
    return out_dir


def _html(result: dict[str, Any], figures: dict[str, bytes]) -> str:
    s = {**result["graph"], **result["summary"]}
    rs = result.get("reference_summary")
    if rs is not None:
        rs = {**result["reference_graph"], **rs}
    keys = [
        "num_nodes",
        "num_edges",
        "num_components",
        *TRAINING_MEASURES,
        "average_shortest_path_length_samples",
    ]
    head = "<tr><th>measure</th><th>graph</th>" + ("<th>reference</th>" if rs else "") + "</tr>"
    body = []
    for k in keys:
        cells = f"<td>{html.escape(k)}</td><td>{_format(s.get(k))}</td>"
        if rs:
            cells += f"<td>{_format(rs.get(k))}</td>"
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
            f"<tr><td>signature distance F at t = {float(heat['distance_times'][-1]):.3g}</td>"
            f"<td colspan='2'>{f_last:.4g}</td></tr>"
        )
    captions = {
        "adjacency.png": "Adjacency |A[u, v]| ordered by block (as N2NSkip fig. 3).",
        "reference_adjacency.png": "Reference adjacency, ordered by block.",
        "degrees.png": "Degree distribution (in + out over real edges).",
        "heat_signature.png": f"Heat signature S(t) = exp(-tL) a with heat on {heat['sources']}"
        + (
            " against the reference, and F(t) (N2NSkip eqs. 5-6)."
            if "signature_distance" in heat
            else "."
        ),
        "scree.png": "Scree curves α(K, t) (N2NSkip eq. 7, fig. 4)"
        + (": graph solid, reference dashed." if rs else "."),
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
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>wiring analysis: {html.escape(str(result["target"]))}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ background: #fff6d6; padding: 0.5em; }}
</style></head><body>
<h1>Wiring analysis</h1>
<p>Target: <code>{html.escape(str(result["target"]))}</code></p>
{ref_line}
{notes}
<table>{head}{"".join(body)}</table>
<p>Measures as documented in docs/analysis.md: spectra use the undirected view
W = max(|A|, |A<sup>T</sup>|); clustering and path lengths the unweighted undirected view.</p>
{"".join(figs)}
</body></html>
"""
