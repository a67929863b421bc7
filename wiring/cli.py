"""The ``wiring`` command.

::

    wiring train CONFIG.toml --out DIR [--set key=value ...] [--resume]
    wiring demo [--out runs/demo] [--epochs N] [--seed S] [--no-progress]
    wiring info GRAPH.npz
    wiring analyze TARGET [--reference REF.npz] [--out DIR]

Errors. A user error prints one line to stderr and exits with code 2: a :class:`UserError` (bad
arguments), any :class:`wiring.errors.WiringError` (e.g. a bad config value, a ``ConfigError``), an
``OSError`` (a missing file, a full disk, a run directory already in use), and a ``ValueError``
raised while the command reads and checks its inputs (the config's data and model, a graph file,
the run directory to start or resume: the library names the bad value in its message). Anything
else -- a ``TypeError``, or a ``ValueError`` raised during training or analysis -- is a bug and
keeps its traceback. A run stopped by a non-finite loss exits with code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wiring import config as _config
from wiring.analysis import graph_info  # one definition: `wiring info` and the report use it
from wiring.errors import WiringError

if TYPE_CHECKING:  # pragma: no cover
    from wiring.data import Dataset
    from wiring.graph import NeuralGraph
    from wiring.models import GraphClassifier

__all__ = ["build_model", "graph_info", "load_data", "main"]

PROG = "wiring"


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


@contextlib.contextmanager
def _reading_input() -> Iterator[None]:
    """The command reads and checks the user's input here: a ValueError is the user's.

    The library raises a ``ValueError`` naming the value it cannot use; inside this block that
    value came from the user (a config, a graph file, a run directory), so the error becomes a
    :class:`UserError`. A ``TypeError`` is never converted: the command itself passes the types.
    """
    try:
        yield
    except WiringError:
        raise
    except (ValueError, zipfile.BadZipFile) as exc:
        raise UserError(str(exc)) from exc


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


def _read_graph(path: str, what: str) -> tuple[Path, NeuralGraph]:
    """The graph file a path means (a run directory: its ``graph.npz``) and the graph in it."""
    from wiring.graph import NeuralGraph

    p = _existing_file(path, what)
    if p.is_dir():  # a run directory: its learned wiring
        p = _existing_file(str(p / "graph.npz"), what)
    with _reading_input():
        return p, NeuralGraph.load(p)


# ---------------------------------------------------------------------------------------------
# subcommands


def _cmd_train(args: argparse.Namespace) -> int:
    from wiring.train import Trainer

    cfg_path = _existing_file(args.config, "config file")
    cfg = _config.load(cfg_path, overrides=args.set or ())
    with _reading_input():
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
    with _reading_input():  # the run directory: already in use, or the checkpoint to resume
        trainer = Trainer(
            model,
            data,
            cfg.train,
            run_dir=args.out,
            seed=cfg.seed,
            callbacks=callbacks,
            resume=args.resume,
            run_config=cfg.to_dict(),
        )
    history = trainer.fit()
    if history:
        last = history[-1]
        print(
            f"after epoch {int(last['epoch']) + 1}/{cfg.train.epochs}: test accuracy "
            f"{last['test_accuracy']:.4f}, "
            f"test loss {last['test_loss']:.4f}; run saved in {args.out}"
        )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    path, graph = _read_graph(args.graph, "graph file")
    print(_format_info(path, graph_info(graph)))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from wiring.analysis.report import analyze

    target = _existing_file(args.target, "analysis target")
    reference = _existing_file(args.reference, "reference graph") if args.reference else None
    for path, what in ((target, "analysis target"), (reference, "reference graph")):
        if path is None:
            continue
        if not path.is_dir() and path.suffix != ".npz":
            raise UserError(f"{what}: expected a graph .npz file or a run directory, found {path}")
        _read_graph(str(path), what)  # a readable graph, before the analysis starts
    out = analyze(target, reference=reference, out=args.out)
    print(f"report written to {out}")
    return 0


# ---------------------------------------------------------------------------------------------
# the demo (the recipe, the trainings and the report live in the library: wiring.recipes, wiring.demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs: expected an integer >= 1, found {args.epochs}")
    if args.seed < 0:
        raise UserError(f"--seed: expected an integer >= 0, found {args.seed}")
    from wiring.demo import format_table, run_demo

    start = time.perf_counter()
    rows = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    print(format_table(rows))
    out = Path(args.out)
    print(
        f"\nresults written to {out / 'results.json'} ({time.perf_counter() - start:.0f} s in all)"
        f"\nreport (accuracies, and each learned wiring against the random one): "
        f"open {out / 'report.html'} in a browser"
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
    d.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per training (default: the demo recipe's, wiring.recipes.DEMO_EPOCHS)",
    )
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
        # User errors (see the module docstring); anything else is a bug: keep its traceback.
        if isinstance(exc, UserError | WiringError | OSError):
            print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_non_finite(exc: BaseException) -> bool:
    train = sys.modules.get("wiring.train")
    cls = getattr(train, "NonFiniteLossError", None)
    return cls is not None and isinstance(exc, cls)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
