"""The ``wiring`` command.

::

    wiring train CONFIG.toml --out DIR [--set key=value ...] [--resume]
    wiring demo [--out runs/demo] [--epochs N] [--seed S] [--no-progress]
    wiring info GRAPH.npz
    wiring analyze TARGET [--reference REF.npz] [--out DIR]

A user error (a bad config value, a missing file) prints one line to stderr and exits with code 2;
a run stopped by a non-finite loss exits with code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wiring import config as _config
from wiring.analysis import graph_info  # one definition: `wiring info` and the report use it

if TYPE_CHECKING:  # pragma: no cover
    from wiring.data import Dataset
    from wiring.models import GraphClassifier

__all__ = [
    "DEMO_EPOCHS",
    "DEMO_MODEL",
    "DEMO_TRAIN",
    "build_model",
    "format_table",
    "graph_info",
    "load_data",
    "main",
    "run_demo",
]

PROG = "wiring"


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


# ---------------------------------------------------------------------------------------------
# helpers shared by the subcommands


def build_model(cfg: _config.ExperimentConfig, data: Dataset) -> GraphClassifier:
    """The model a config describes, sized for ``data`` (channels, spatial dims, classes).

    Seeds torch with ``cfg.seed`` first, so the initial weights depend on the seed only.
    """
    import torch

    from wiring.models import tiny_classifier

    torch.manual_seed(cfg.seed)
    return tiny_classifier(
        spatial_dims=data.spatial_dims,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        **cfg.model.overrides(cfg.seed),
    )


def load_data(cfg: _config.ExperimentConfig) -> Dataset:
    """The dataset of a config (``[data]``)."""
    from wiring.data import load_dataset

    return load_dataset(cfg.data.name, **cfg.data.loader_kwargs())


def _format_info(path: Path, info: dict[str, Any]) -> str:
    sizes = info["block_sizes"]
    shown = ", ".join(str(s) for s in sizes[:16]) + (", ..." if len(sizes) > 16 else "")
    frac = info["edges"] / info["candidates"] if info["candidates"] else 0.0
    eff = info["effective_edges"] / info["edges"] if info["edges"] else 0.0
    longest = info["longest_path"] if info["acyclic"] else "unbounded (cycle)"
    lines = [
        f"graph:           {path}",
        f"nodes:           {info['nodes']}",
        f"inputs:          {info['inputs']}",
        f"outputs:         {info['outputs']}",
        f"blocks:          {info['blocks']} (sizes {shown})",
        f"candidates:      {info['candidates']}",
        f"edges:           {info['edges']} ({frac:.2%} of candidates)",
        f"effective edges: {info['effective_edges']} ({eff:.2%} of edges)",
        f"components:      {info['components']}",
        f"acyclic:         {'yes' if info['acyclic'] else 'no'}",
        f"longest path:    {longest}",
    ]
    return "\n".join(lines)


def _existing_file(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}")
    return p


# ---------------------------------------------------------------------------------------------
# subcommands


def _cmd_train(args: argparse.Namespace) -> int:
    from wiring.train import train

    cfg_path = _existing_file(args.config, "config file")
    cfg = _config.load(cfg_path, overrides=args.set or ())
    train_cfg = cfg.train.to_train_config()
    data = load_data(cfg)
    model = build_model(cfg, data)
    callbacks = []
    if cfg.analysis.every > 0:
        from wiring.analysis.callbacks import GraphMetricsCallback

        callbacks.append(GraphMetricsCallback(every=cfg.analysis.every))
    counts = model.parameter_counts()
    print(
        f"{cfg.model.dynamics} / {cfg.model.selection} on {cfg.data.name}: "
        f"{counts['edges']} edges, {counts['paper']} parameters (paper count), "
        f"{counts['torch']} (PyTorch count)",
        flush=True,
    )
    history = train(
        model,
        data,
        train_cfg,
        run_dir=args.out,
        seed=cfg.seed,
        callbacks=callbacks,
        resume=args.resume,
        run_config=cfg.to_dict(),
    )
    if history:
        last = history[-1]
        print(
            f"after epoch {int(last['epoch']) + 1}/{train_cfg.epochs}: test accuracy "
            f"{last['test_accuracy']:.4f}, "
            f"test loss {last['test_loss']:.4f}; run saved in {args.out}"
        )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from wiring.graph import NeuralGraph

    path = _existing_file(args.graph, "graph file")
    if path.is_dir():  # a run directory: its learned wiring
        path = _existing_file(str(path / "graph.npz"), "graph file")
    graph = NeuralGraph.load(path)
    print(_format_info(path, graph_info(graph)))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from wiring.analysis.report import analyze

    target = _existing_file(args.target, "analysis target")
    reference = _existing_file(args.reference, "reference graph") if args.reference else None
    out = analyze(target, reference=reference, out=args.out)
    print(f"report written to {out}")
    return 0


# ---------------------------------------------------------------------------------------------
# the demo

#: The demo's model: the tiny classifier scaled down to run six trainings in a few minutes on two
#: cores (the paper's is 800 nodes, k = 32,000; see docs/results.md for the measured times).
DEMO_MODEL: dict[str, Any] = {
    "num_nodes": 256,
    "num_inputs": 32,
    "num_outputs": 32,
    "block_size": 64,
    "k": 3_000,
    "steps": 5,
    "method": "rk4",  # one fixed RK4 step from 0 to t1 (4 evaluations) instead of dopri5
    "t1": 1.0,
}
#: The demo's training: Adam with cosine annealing (converges in fewer epochs than the paper's SGD).
DEMO_TRAIN: dict[str, Any] = {
    "batch_size": 128,
    "optimizer": "adam",
    "lr": 0.01,
    "weight_decay": 0.0,
    "scheduler": "cosine",
}
DEMO_EPOCHS = 30


@dataclass(frozen=True)
class _DemoRun:
    dynamics: str
    selection: str


def run_demo(
    out: str | Path = "runs/demo",
    *,
    epochs: int = DEMO_EPOCHS,
    seed: int = 0,
    progress: bool = True,
    dynamics: Sequence[str] = ("static", "discrete", "continuous"),
) -> list[dict[str, Any]]:
    """Train DNW and the random-graph baseline (same k) for each dynamics on MNIST-1D.

    Writes ``out/results.json`` (a list of objects with ``dynamics``, ``selection``,
    ``test_accuracy`` in [0, 1], ``edges``, ``params`` (paper count), ``seconds``) and one run
    directory per training under ``out/<dynamics>-<selection>/``.

    Returns
    -------
    list of dict
        The rows of ``results.json``.
    """
    import torch
    from tqdm.auto import tqdm

    from wiring._io import atomic_write_text
    from wiring.data import mnist1d
    from wiring.models import tiny_classifier
    from wiring.train import Callback, TrainConfig, train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = mnist1d(seed=0)
    runs = [_DemoRun(d, s) for d in dynamics for s in ("dnw", "random")]
    cfg = TrainConfig(**{**DEMO_TRAIN, "epochs": epochs, "progress": False})

    bar = tqdm(total=len(runs) * epochs, desc="demo", unit="epoch", disable=not progress)

    class _Tick(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            bar.set_postfix(acc=f"{metrics['test_accuracy']:.3f}")
            bar.update(1)

    rows: list[dict[str, Any]] = []
    try:
        for run in runs:
            bar.set_description(f"{run.dynamics}/{run.selection}")
            torch.manual_seed(seed)
            sizes = dict(DEMO_MODEL)
            model = tiny_classifier(
                dynamics=run.dynamics,
                selection=run.selection,
                spatial_dims=data.spatial_dims,
                in_channels=data.in_channels,
                num_classes=data.num_classes,
                graph_seed=seed,
                **sizes,
            )
            run_dir = out / f"{run.dynamics}-{run.selection}"
            _clear_run_dir(run_dir)
            start = time.perf_counter()
            history = train(model, data, cfg, run_dir=run_dir, seed=seed, callbacks=[_Tick()])
            seconds = time.perf_counter() - start
            counts = model.parameter_counts()
            rows.append(
                {
                    "dynamics": run.dynamics,
                    "selection": run.selection,
                    "test_accuracy": float(history[-1]["test_accuracy"]),
                    "edges": int(counts["edges"]),
                    "params": int(counts["paper"]),
                    "seconds": round(seconds, 2),
                }
            )
    finally:
        bar.close()
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    return rows


def _clear_run_dir(run_dir: Path) -> None:
    """Remove the files an earlier demo left in ``run_dir`` (and only those)."""
    for name in ("checkpoint.pt", "metrics.jsonl", "config.toml", "graph.npz"):
        (run_dir / name).unlink(missing_ok=True)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The demo's results as a plain-text table."""
    header = f"{'dynamics':<11} {'selection':<9} {'test acc':>8} {'edges':>6} {'params':>7} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['dynamics']:<11} {r['selection']:<9} {r['test_accuracy']:>8.3f} "
            f"{r['edges']:>6d} {r['params']:>7d} {r['seconds']:>8.1f}"
        )
    return "\n".join(lines)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        raise UserError(f"--epochs: expected an integer >= 1, found {args.epochs}")
    if args.seed < 0:
        raise UserError(f"--seed: expected an integer >= 0, found {args.seed}")
    start = time.perf_counter()
    rows = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    print(format_table(rows))
    print(
        f"\nresults written to {Path(args.out) / 'results.json'} "
        f"({time.perf_counter() - start:.0f} s in all)"
    )
    return 0


# ---------------------------------------------------------------------------------------------
# entry point


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Build, train and analyse neural wirings.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train the experiment a TOML config describes")
    t.add_argument("config", metavar="CONFIG.toml")
    t.add_argument("--out", required=True, metavar="DIR", help="run directory")
    t.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=4 (repeatable)",
    )
    t.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    t.set_defaults(func=_cmd_train)

    d = sub.add_parser("demo", help="DNW vs random graph for three dynamics on MNIST-1D")
    d.add_argument("--out", default="runs/demo", metavar="DIR")
    d.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_demo)

    i = sub.add_parser("info", help="sizes, blocks and edge counts of a saved graph")
    i.add_argument("graph", metavar="GRAPH.npz", help="a saved graph, or a run directory")
    i.set_defaults(func=_cmd_info)

    a = sub.add_parser("analyze", help="graph-metrics report of a graph or a run directory")
    a.add_argument("target", metavar="TARGET", help="GRAPH.npz or a run directory")
    a.add_argument("--reference", metavar="REF.npz", default=None)
    a.add_argument("--out", metavar="DIR", default=None)
    a.set_defaults(func=_cmd_analyze)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wiring`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except UserError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _is_non_finite(exc):
            print(f"{PROG} {args.command}: stopped: {exc}", file=sys.stderr)
            return 1
        # User errors: a bad config value, a missing or unreadable file, a run directory in use, a
        # bad value found while building the model (the library's messages name the argument).
        if isinstance(exc, UserError | ValueError | TypeError | OSError | zipfile.BadZipFile):
            print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_non_finite(exc: BaseException) -> bool:
    train = sys.modules.get("wiring.train")
    cls = getattr(train, "NonFiniteLossError", None)
    return cls is not None and isinstance(exc, cls)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
