"""The run directory: where one training run keeps its files, and how they are written.

=================  ==================================================================================
``config.toml``    the resolved configuration (written once, when the run starts)
``metrics.jsonl``  one JSON object per finished epoch: ``epoch`` (0-based), ``train_loss``,
                   ``train_accuracy``, ``test_loss``, ``test_accuracy`` (0–1), ``lr``, ``seconds``,
                   plus whatever callbacks add
``checkpoint.pt``  model, optimizer and scheduler state, RNG states (torch, numpy, python), epoch and
                   history; rewritten atomically after every epoch, read with ``weights_only=True``
``graph.npz``      at the end, the learned wiring ``model.graph()`` when the model has one
=================  ==================================================================================

Every file is written through :mod:`wiring._io` (a temporary file, ``fsync``, an atomic rename), so a
run killed at any moment leaves each file either as it was or complete. ``metrics.jsonl`` is the one
file that grows: a line is appended (and ``fsync``-ed) only after the checkpoint of its epoch is in
place, and a resumed run rewrites it atomically from the checkpoint's history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wiring._io import atomic_torch_save, atomic_write_text, dump_toml
from wiring.graph import NeuralGraph

__all__ = ["CHECKPOINT_FILE", "CONFIG_FILE", "GRAPH_FILE", "METRICS_FILE", "RunDirectory"]

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
GRAPH_FILE = "graph.npz"


class RunDirectory:
    """The layout of one run directory and the only code that writes into it.

    Parameters
    ----------
    path : str or os.PathLike
        The directory; it is created by :meth:`create` (parents included), not here.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run = RunDirectory(Path(tmp) / "run")
    ...     run.create()
    ...     run.write_config({"seed": 0, "train": {"epochs": 2}})
    ...     run.rewrite_metrics([{"epoch": 0, "test_accuracy": 0.5}])
    ...     run.append_metrics({"epoch": 1, "test_accuracy": 0.75})
    ...     print(run.config_path.read_text(), end="")
    ...     [row["test_accuracy"] for row in run.read_metrics()], run.has_checkpoint()
    seed = 0
    <BLANKLINE>
    [train]
    epochs = 2
    ([0.5, 0.75], False)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"run_dir: expected a str or os.PathLike, found {type(path).__name__}")
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    # ------------------------------------------------------------------------------------ layout

    @property
    def config_path(self) -> Path:
        """``config.toml``: the resolved configuration."""
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``: one JSON object per finished epoch."""
        return self.path / METRICS_FILE

    @property
    def checkpoint_path(self) -> Path:
        """``checkpoint.pt``: everything needed to resume."""
        return self.path / CHECKPOINT_FILE

    @property
    def graph_path(self) -> Path:
        """``graph.npz``: the learned wiring."""
        return self.path / GRAPH_FILE

    def has_checkpoint(self) -> bool:
        """Whether the directory holds a checkpoint (a run was started here and finished an epoch)."""
        return self.checkpoint_path.exists()

    # ------------------------------------------------------------------------------------ writes

    def create(self) -> None:
        """Create the directory and its parents (nothing happens if it exists)."""
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Write ``config.toml`` atomically (see :func:`wiring._io.dump_toml` for the values)."""
        atomic_write_text(self.config_path, dump_toml(config))

    def rewrite_metrics(self, rows: Iterable[Mapping[str, Any]] = ()) -> None:
        """Replace ``metrics.jsonl`` atomically by ``rows``, one JSON line each (empty: a fresh run)."""
        atomic_write_text(self.metrics_path, "".join(json.dumps(row) + "\n" for row in rows))

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` and ``fsync`` it."""
        line = json.dumps(row) + "\n"  # serialise first: a bad value leaves the file untouched
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def write_checkpoint(self, checkpoint: Mapping[str, Any]) -> None:
        """Write ``checkpoint.pt`` atomically with ``torch.save``."""
        atomic_torch_save(dict(checkpoint), self.checkpoint_path)

    def write_graph(self, graph: NeuralGraph) -> None:
        """Save the learned wiring as ``graph.npz`` (:meth:`NeuralGraph.save` writes atomically)."""
        graph.save(self.graph_path)

    # ------------------------------------------------------------------------------------- reads

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl`` (an empty list if it does not exist)."""
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def read_checkpoint(self, *, map_location: Any = "cpu") -> dict[str, Any]:
        """Read ``checkpoint.pt`` with :func:`wiring.train.load_checkpoint` (never unpickles)."""
        from wiring.train.checkpoint import load_checkpoint

        return load_checkpoint(self.checkpoint_path, map_location=map_location)
