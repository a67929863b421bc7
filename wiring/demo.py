"""The demo: DNW against a random graph for each dynamics on MNIST-1D, and the wirings it learned.

:func:`run_demo` trains the tiny classifier of the demo recipe (:mod:`wiring.recipes`) twice for
each dynamics, with the DNW rule (``"dnw"``: the wiring is learned) and with the random-graph
baseline (``"random"``: k edges drawn uniformly and kept fixed, the same k), then compares each
learned wiring with the random one (:func:`wiring.analysis.analyze` with the random run as the
reference) and writes one page that shows both. ``wiring demo`` (and ``make demo``) runs it::

    runs/demo/
        report.html                         open this: accuracies, and per dynamics the learned
                                            wiring against the random one (self-contained)
        results.json                        the accuracy table (format_table prints it)
        static-dnw/  static-random/  ...    one run directory per training
        static-dnw/analysis-vs-random/      the full comparison (report.html, metrics.json, PNGs)
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wiring._io import atomic_write_text
from wiring.options import TinyClassifierSizes, TrainConfig

__all__ = ["DEMO_DYNAMICS", "DEMO_SELECTIONS", "format_table", "run_demo", "write_report"]

#: The dynamics the demo trains, in this order.
DEMO_DYNAMICS = ("static", "discrete", "continuous")
#: The learned wiring and its baseline, in this order.
DEMO_SELECTIONS = ("dnw", "random")
#: Record the graph measures of the wiring every this many epochs (plotted over training; a
#: summary of the 256-node demo graph takes about 20 ms).
GRAPH_METRICS_EVERY = 1
#: Sub-folder of a DNW run directory that holds its comparison with the random run.
ANALYSIS_DIR = "analysis-vs-random"

_RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "config.toml", "graph.npz")
#: The analysis report's figures, in the order shown, with a caption (any other PNG comes after).
_FIGURES = {
    "adjacency.png": "Binary adjacency, nodes ordered by block: the learned wiring beside the random one",
    "heat_signature.png": "Heat-diffusion signatures S(t) = exp(-tL) a, and their distance F(t)",
    "scree.png": "Scree curves α(K, t): the learned wiring solid, the random one dashed",
    "degrees.png": "Degree distributions (in + out over real edges)",
    "training.png": "Graph measures of the wiring over training",
}


def run_demo(
    out: str | Path = "runs/demo",
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = True,
    dynamics: Sequence[str] = DEMO_DYNAMICS,
    model: TinyClassifierSizes | None = None,
    train: TrainConfig | None = None,
    report: bool = True,
) -> list[dict[str, Any]]:
    """Train DNW and the random-graph baseline (same k) for each dynamics on MNIST-1D; report.

    Parameters
    ----------
    out : path
        Output folder (created); earlier demo files in it are replaced.
    epochs : int, optional
        Epochs of every training (default: the recipe's, :data:`wiring.recipes.DEMO_EPOCHS`).
    seed : int
        Seeds the weights, the random graph (``graph_seed``) and the batch order.
    progress : bool
        Show a progress bar over all epochs.
    dynamics : sequence of str
        Which dynamics to train.
    model, train : option objects, optional
        The recipe (default :data:`wiring.recipes.DEMO_MODEL` and
        :data:`wiring.recipes.DEMO_TRAIN`).
    report : bool
        Compare each learned wiring with the random one and write ``out/report.html``.

    Returns
    -------
    list of dict
        The rows of ``out/results.json``: ``dynamics``, ``selection``, ``test_accuracy`` in [0, 1],
        ``edges``, ``params`` (paper count) and ``seconds`` (training time).
    """
    import torch
    from tqdm.auto import tqdm

    from wiring import recipes
    from wiring.analysis.callbacks import GraphMetricsCallback
    from wiring.data import mnist1d
    from wiring.models import tiny_classifier
    from wiring.train import Callback
    from wiring.train import train as train_model

    sizes = recipes.DEMO_MODEL if model is None else model
    cfg = recipes.DEMO_TRAIN if train is None else train
    cfg = dataclasses.replace(cfg, progress=False, epochs=cfg.epochs if epochs is None else epochs)
    sizes = dataclasses.replace(sizes, graph_seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = mnist1d(seed=0)
    runs = [(d, s) for d in dynamics for s in DEMO_SELECTIONS]
    bar = tqdm(total=len(runs) * cfg.epochs, desc="demo", unit="epoch", disable=not progress)

    class _Tick(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            bar.set_postfix(acc=f"{metrics['test_accuracy']:.3f}")
            bar.update(1)

    rows: list[dict[str, Any]] = []
    try:
        for dyn, selection in runs:
            bar.set_description(f"{dyn}/{selection}")
            torch.manual_seed(seed)
            net = tiny_classifier(
                dynamics=dyn,
                selection=selection,
                spatial_dims=data.spatial_dims,
                in_channels=data.in_channels,
                num_classes=data.num_classes,
                **dataclasses.asdict(sizes),
            )
            run_dir = out / f"{dyn}-{selection}"
            _clear_run_dir(run_dir)
            callbacks = [GraphMetricsCallback(every=GRAPH_METRICS_EVERY), _Tick()]
            start = time.perf_counter()
            history = train_model(net, data, cfg, run_dir=run_dir, seed=seed, callbacks=callbacks)
            seconds = time.perf_counter() - start
            counts = net.parameter_counts()
            rows.append(
                {
                    "dynamics": dyn,
                    "selection": selection,
                    "test_accuracy": float(history[-1]["test_accuracy"]),
                    "edges": int(counts["edges"]),
                    "params": int(counts["paper"]),
                    "seconds": round(seconds, 2),
                }
            )
    finally:
        bar.close()
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    if report:
        from wiring.analysis import analyze

        comparisons: dict[str, Path] = {}
        for dyn in dynamics:
            learned, baseline = out / f"{dyn}-dnw", out / f"{dyn}-random"
            comparisons[dyn] = analyze(
                learned, reference=baseline, out=learned / ANALYSIS_DIR, progress=False
            )
        write_report(out, rows, comparisons, model=sizes, train=cfg)
    return rows


def _clear_run_dir(run_dir: Path) -> None:
    """Remove the files an earlier demo left in ``run_dir`` (and only those)."""
    for name in _RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    analysis = run_dir / ANALYSIS_DIR
    if analysis.is_dir():
        for path in [*analysis.glob("*.png"), analysis / "metrics.json", analysis / "report.html"]:
            path.unlink(missing_ok=True)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The demo's results as a plain-text table."""
    header = f"{'dynamics':<11} {'selection':<9} {'test acc':>8} {'edges':>6} {'params':>7} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['dynamics']:<11} {r['selection']:<9} {r['test_accuracy']:>8.3f} "
            f"{r['edges']:>6d} {r['params']:>7d} {r['seconds']:>8.1f}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- the report


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:8]) + (", …" if len(value) > 8 else "")
        return html.escape(shown)
    return html.escape(str(value))


def _measures(metrics: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(measure, learned, random) rows from an analysis ``metrics.json``."""
    learned = {**(metrics.get("graph") or {}), **(metrics.get("summary") or {})}
    random = {**(metrics.get("reference_graph") or {}), **(metrics.get("reference_summary") or {})}
    rows = [
        (key.replace("_", " "), learned.get(key), random.get(key))
        for key in dict.fromkeys([*learned, *random])
        if not isinstance(learned.get(key, random.get(key)), Mapping)
    ]
    scree = metrics.get("scree") or {}
    if "saturation_time" in scree:
        fraction = scree.get("saturation_fraction")
        label = "scree saturation time" + (f" (K = {fraction:.0%})" if fraction else "")
        rows.append((label, scree["saturation_time"], scree.get("reference_saturation_time")))
    heat = metrics.get("heat") or {}
    distance, times = heat.get("signature_distance"), heat.get("distance_times")
    if distance and times and len(distance) == len(times):
        i = max(range(len(distance)), key=lambda j: distance[j] or 0.0)
        label = (
            f"heat-signature distance F(t) = ‖S_random − S_learned‖, largest at t = {times[i]:.3g}"
        )
        rows.append((label, distance[i], None))
    return rows


def _figures(folder: Path) -> list[tuple[Path, str]]:
    """The PNG files of an analysis folder with their captions, in a fixed order."""
    found = {p.name: p for p in folder.glob("*.png")}
    first = [(found.pop(name), caption) for name, caption in _FIGURES.items() if name in found]
    return first + [(found[name], Path(name).stem.replace("_", " ")) for name in sorted(found)]


def _comparison_section(dynamics: str, folder: Path, out: Path) -> str:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    link = (folder / "report.html").relative_to(out).as_posix()
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_cell(a)}</td><td>{_cell(b)}</td></tr>"
        for name, a, b in _measures(metrics)
    )
    notes = "".join(f"<p class='note'>{html.escape(str(n))}</p>" for n in metrics.get("notes", []))
    figures = []
    for path, caption in _figures(folder):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = html.escape(caption)
        figures.append(
            f"<figure><img alt='{caption}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return f"""
<h2 id="{html.escape(dynamics)}">{html.escape(dynamics)}: the learned wiring against the random one</h2>
<p>Target: the wiring DNW learned (<code>{html.escape(dynamics)}-dnw/graph.npz</code>); reference:
the random graph with the same number of edges (<code>{html.escape(dynamics)}-random/graph.npz</code>).
In the figures the learned wiring is the target (graph) and the random one the reference. Full
comparison: <a href="{html.escape(link)}">{html.escape(link)}</a>.</p>
{notes}
<table><tr><th>measure</th><th>learned (DNW)</th><th>random</th></tr>{body}</table>
{"".join(figures)}
"""


def _recipe(options: Any) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in dataclasses.asdict(options).items())


def write_report(
    out: str | Path,
    rows: Sequence[Mapping[str, Any]],
    comparisons: Mapping[str, str | Path],
    *,
    model: TinyClassifierSizes | None = None,
    train: TrainConfig | None = None,
) -> Path:
    """Write ``out/report.html``: the accuracy table and, per dynamics, the wiring comparison.

    Parameters
    ----------
    out : path
        The demo's folder.
    rows : sequence of dict
        The rows of ``results.json`` (see :func:`run_demo`).
    comparisons : mapping of str to path
        For each dynamics, the folder :func:`wiring.analysis.analyze` wrote (``metrics.json`` and
        PNG figures), inside ``out``.
    model, train : option objects, optional
        The recipe, shown at the top.

    Returns
    -------
    pathlib.Path
        ``out/report.html``: one self-contained page (figures embedded as base64 PNG), written
        atomically.
    """
    out = Path(out)
    table = "".join(
        f"<tr><td>{html.escape(r['dynamics'])}</td><td>{html.escape(r['selection'])}</td>"
        f"<td>{r['test_accuracy']:.3f}</td><td>{r['edges']}</td><td>{r['params']}</td>"
        f"<td>{r['seconds']:.1f}</td></tr>"
        for r in rows
    )
    recipe = ""
    if model is not None and train is not None:
        recipe = (
            f"<p class='small'>Model (tiny classifier): {html.escape(_recipe(model))}.<br>"
            f"Training: {html.escape(_recipe(train))}.</p>"
        )
    contents = " · ".join(f"<a href='#{html.escape(d)}'>{html.escape(d)}</a>" for d in comparisons)
    sections = "".join(_comparison_section(d, Path(f), out) for d, f in comparisons.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>neural-wiring demo: learned wirings against random ones</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ background: #fff6d6; padding: 0.5em; }} .small {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>Learned wirings against random ones (MNIST-1D)</h1>
<p>For each dynamics the tiny classifier of DNW (Wortsman et al., 2019) was trained twice with the
same number of real edges k: with the wiring learned by DNW, and on a random graph whose k edges were
drawn uniformly and kept fixed.</p>
{recipe}
<table><tr><th>dynamics</th><th>selection</th><th>test accuracy</th><th>edges</th>
<th>parameters (paper count)</th><th>seconds</th></tr>{table}</table>
<p>Comparisons: {contents}. Measures and figures are described in docs/analysis.md.</p>
{sections}
</body></html>
"""
    path = out / "report.html"
    atomic_write_text(path, page)
    return path
